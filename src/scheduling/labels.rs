//! Label key and value syntax, as apimachinery validates it.
//!
//! A node-affinity expression whose key or values break these rules makes its whole
//! `nodeSelectorTerm` unparseable, and Kubernetes then counts that term as matching nothing
//! (`nodeaffinity.NewLazyErrorNodeSelector`). dsguard needs the exact same verdict, so the
//! rules live here rather than being approximated by a regex crate.

/// Why a label key or value is not valid, phrased for a user-facing message.
pub type SyntaxError = String;

const NAME_MAX: usize = 63;
const PREFIX_MAX: usize = 253;

/// A qualified name: `[prefix/]name`, where the prefix is a DNS-1123 subdomain.
pub fn validate_label_key(key: &str) -> Result<(), SyntaxError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err(format!("label key {key:?} has an empty prefix before '/'"));
        }
        validate_dns_subdomain(prefix)
            .map_err(|why| format!("label key {key:?} has an invalid prefix: {why}"))?;
    }
    if name.is_empty() {
        return Err(format!("label key {key:?} has an empty name"));
    }
    validate_name_part(name).map_err(|why| format!("label key {key:?} is invalid: {why}"))
}

/// A label value: empty, or up to 63 characters of `[A-Za-z0-9_.-]` starting and ending
/// with an alphanumeric.
pub fn validate_label_value(value: &str) -> Result<(), SyntaxError> {
    if value.is_empty() {
        return Ok(());
    }
    validate_name_part(value).map_err(|why| format!("label value {value:?} is invalid: {why}"))
}

fn validate_name_part(name: &str) -> Result<(), SyntaxError> {
    if name.len() > NAME_MAX {
        return Err(format!("longer than {NAME_MAX} characters"));
    }
    let bytes = name.as_bytes();
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err("must start and end with an alphanumeric character".into());
    }
    if let Some(bad) = bytes
        .iter()
        .find(|&&b| !(alnum(b) || b == b'-' || b == b'_' || b == b'.'))
    {
        return Err(format!("contains {:?}", *bad as char));
    }
    Ok(())
}

fn validate_dns_subdomain(prefix: &str) -> Result<(), SyntaxError> {
    if prefix.len() > PREFIX_MAX {
        return Err(format!("longer than {PREFIX_MAX} characters"));
    }
    for label in prefix.split('.') {
        let bytes = label.as_bytes();
        let ok_edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !ok_edge(bytes[0]) || !ok_edge(bytes[bytes.len() - 1]) {
            return Err(format!(
                "{prefix:?} is not a lowercase DNS subdomain (each dot-separated part must start and end with [a-z0-9])"
            ));
        }
        if bytes.iter().any(|&b| !(ok_edge(b) || b == b'-')) {
            return Err(format!(
                "{prefix:?} is not a lowercase DNS subdomain (only [a-z0-9.-] allowed)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_follow_apimachinery_qualified_names() {
        let valid = [
            "a",
            "kubernetes.io/os",
            "node-role.kubernetes.io/control-plane",
            "A_b.c-D",
            "example.com/X",
            "1-2.example/a",
        ];
        for key in valid {
            assert!(validate_label_key(key).is_ok(), "{key} should be valid");
        }
        let too_long_name = "a".repeat(64);
        let invalid = [
            "",
            "/a",
            "a/",
            "-a",
            "a-",
            "Example.com/a",
            "a b",
            "a/b/c",
            "example..com/a",
            too_long_name.as_str(),
        ];
        for key in invalid {
            assert!(
                validate_label_key(key).is_err(),
                "{key:?} should be invalid"
            );
        }
    }

    #[test]
    fn label_values_may_be_empty_but_not_signed() {
        for value in ["", "true", "0206", "v1.2_3", "A"] {
            assert!(validate_label_value(value).is_ok(), "{value:?}");
        }
        for value in ["-5", "+5", "a b", "x-", &"a".repeat(64)] {
            assert!(validate_label_value(value).is_err(), "{value:?}");
        }
    }
}

/// A label selector in kubectl's syntax (`apimachinery/pkg/labels` `Parse`):
/// comma-separated `key=value`, `key==value`, `key!=value`, `key`, `!key`,
/// `key in (a,b)`, `key notin (a,b)`. Returns the requirements, ANDed.
pub fn parse_selector(text: &str) -> Result<Vec<super::selector::LabelRequirement>, SyntaxError> {
    use super::selector::{LabelOperator, LabelRequirement};
    let mut requirements = Vec::new();
    // Split on commas outside parentheses.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    for part in parts.into_iter().map(str::trim) {
        if part.is_empty() {
            return Err(format!("{text:?}: an empty requirement"));
        }
        let set = |rest: &str, key: &str, keyword: &str| -> Result<Vec<String>, SyntaxError> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("{part:?}: {keyword} needs (value, ...)"))?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
            for value in &values {
                validate_label_value(value)?;
            }
            validate_label_key(key)?;
            Ok(values)
        };
        let requirement = if let Some(key) = part.strip_prefix('!') {
            validate_label_key(key.trim())?;
            LabelRequirement {
                key: key.trim().to_owned(),
                operator: LabelOperator::DoesNotExist,
            }
        } else if let Some((key, value)) = part.split_once("!=") {
            let (key, value) = (key.trim(), value.trim());
            validate_label_key(key)?;
            validate_label_value(value)?;
            LabelRequirement {
                key: key.to_owned(),
                operator: LabelOperator::NotIn(vec![value.to_owned()]),
            }
        } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
            let (key, value) = (key.trim(), value.trim());
            validate_label_key(key)?;
            validate_label_value(value)?;
            LabelRequirement {
                key: key.to_owned(),
                operator: LabelOperator::In(vec![value.to_owned()]),
            }
        } else if let Some((key, rest)) = part.split_once(" notin ") {
            LabelRequirement {
                key: key.trim().to_owned(),
                operator: LabelOperator::NotIn(set(rest, key.trim(), "notin")?),
            }
        } else if let Some((key, rest)) = part.split_once(" in ") {
            LabelRequirement {
                key: key.trim().to_owned(),
                operator: LabelOperator::In(set(rest, key.trim(), "in")?),
            }
        } else {
            validate_label_key(part)?;
            LabelRequirement {
                key: part.to_owned(),
                operator: LabelOperator::Exists,
            }
        };
        requirements.push(requirement);
    }
    Ok(requirements)
}

#[cfg(test)]
mod selector_syntax_tests {
    use super::parse_selector;
    use crate::scheduling::selector::LabelOperator;

    #[test]
    fn kubectl_selectors_parse_as_apimachinery_reads_them() {
        let parsed =
            parse_selector("pool=general, tier!=db,gpu,!spot,zone in (a, b),arch notin (arm64)")
                .unwrap();
        let ops: Vec<(&str, &LabelOperator)> = parsed
            .iter()
            .map(|r| (r.key.as_str(), &r.operator))
            .collect();
        assert_eq!(
            ops,
            [
                ("pool", &LabelOperator::In(vec!["general".into()])),
                ("tier", &LabelOperator::NotIn(vec!["db".into()])),
                ("gpu", &LabelOperator::Exists),
                ("spot", &LabelOperator::DoesNotExist),
                ("zone", &LabelOperator::In(vec!["a".into(), "b".into()])),
                ("arch", &LabelOperator::NotIn(vec!["arm64".into()])),
            ]
        );
        assert_eq!(
            parse_selector("a==b").unwrap()[0].operator,
            LabelOperator::In(vec!["b".into()])
        );
        for bad in ["", "a=b,", "zone in a", "bad key=x", "a=b c"] {
            assert!(parse_selector(bad).is_err(), "{bad:?}");
        }
    }
}
