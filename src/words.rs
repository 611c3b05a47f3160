//! English for counts in messages: "1 node", "2 nodes". A reader trusts a message less
//! for every "1 nodes" in it.

/// `noun` as it reads after `n` (English plurals of the nouns dsguard counts).
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        noun.to_owned()
    } else {
        match noun {
            "does" => "do".to_owned(),
            "has" => "have".to_owned(),
            "is" => "are".to_owned(),
            _ => format!("{noun}s"),
        }
    }
}

/// `n` and its noun: `count(1, "node")` is "1 node", `count(3, "node")` "3 nodes".
pub fn count(n: impl TryInto<u64>, noun: &str) -> String {
    let n = n.try_into().unwrap_or(u64::MAX);
    format!("{n} {}", plural(n, noun))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_english() {
        assert_eq!(count(1_usize, "node"), "1 node");
        assert_eq!(count(0_u32, "node"), "0 nodes");
        assert_eq!(count(2_u64, "DaemonSet"), "2 DaemonSets");
        assert_eq!(plural(3, "has"), "have");
    }
}
