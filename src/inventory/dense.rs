//! Dense bitsets (one bit per node slot) beside the roaring sets of the label values many
//! nodes carry, so that a selector over them is a few word-wise ORs and ANDs.
//!
//! Roaring stores a set of under 4,096 slots as a sorted array: right for a hostname, slow
//! for `zone In [a, b]` at 5,000 nodes, where every union and intersection merges arrays of
//! thousands of entries. A value carried by at least a sixteenth of the slots takes no more
//! room as a bitset than as such an array, so those values (and each key's `present` set,
//! and the live slots) keep a dense copy, updated with the roaring set. A selection whose
//! every set has one is computed densely ([`super::NodeIndex::targeted`]); any other falls
//! back to the roaring path, which gives the same answer.
//!
//! Only up to [`MAX_SLOTS`] slots: past that a selector's sets are large enough for
//! roaring's own bitmap containers, and walking every word of every set costs more than
//! it saves (the typical selector at 50,000 nodes: 0.9 µs on roaring, 2.4 µs dense).

/// The most slots an index keeps dense copies for.
pub(super) const MAX_SLOTS: usize = 16_384;

use roaring::RoaringBitmap;

/// A set of slots as words of 64 bits; words past the end are zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Dense(Vec<u64>);

impl Dense {
    pub(super) fn of(set: &RoaringBitmap) -> Self {
        let mut dense = Dense::default();
        for slot in set {
            dense.insert(slot);
        }
        dense
    }

    pub(super) fn insert(&mut self, slot: u32) {
        let word = slot as usize / 64;
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (slot % 64);
    }

    pub(super) fn remove(&mut self, slot: u32) {
        if let Some(word) = self.0.get_mut(slot as usize / 64) {
            *word &= !(1 << (slot % 64));
        }
    }

    /// The words; those past the end are zero.
    pub(super) fn words(&self) -> &[u64] {
        &self.0
    }
}

/// Whether a value carried by `count` of `slots` slots gains a dense copy: its array would
/// take at least as much room (2 bytes a slot against one bit a slot).
pub(super) fn worth_keeping(count: u64, slots: usize) -> bool {
    slots <= MAX_SLOTS && count >= 64 && count.saturating_mul(16) >= slots as u64
}

/// Whether a dense copy is dropped: well below [`worth_keeping`], so that a value near the
/// line does not gain and lose its copy on every update.
pub(super) fn worth_dropping(count: u64, slots: usize) -> bool {
    slots > MAX_SLOTS || count < 32 || count.saturating_mul(32) < slots as u64
}

/// A selection being computed densely over `words` words.
pub(super) struct Words(Vec<u64>);

impl Words {
    pub(super) fn none(words: usize) -> Self {
        Words(vec![0; words])
    }

    pub(super) fn copy_of(set: &Dense, words: usize) -> Self {
        let mut copy = Words::none(words);
        copy.or(set.words());
        copy
    }

    pub(super) fn words(&self) -> &[u64] {
        &self.0
    }

    /// Each operation reads `other`'s words past its end as zero.
    pub(super) fn and(&mut self, other: &[u64]) {
        for (i, word) in self.0.iter_mut().enumerate() {
            *word &= other.get(i).copied().unwrap_or(0);
        }
    }

    pub(super) fn and_not(&mut self, other: &[u64]) {
        for (word, other) in self.0.iter_mut().zip(other) {
            *word &= !other;
        }
    }

    pub(super) fn or(&mut self, other: &[u64]) {
        for (word, other) in self.0.iter_mut().zip(other) {
            *word |= other;
        }
    }

    pub(super) fn into_roaring(self) -> RoaringBitmap {
        let bytes: Vec<u8> = self.0.iter().flat_map(|w| w.to_le_bytes()).collect();
        RoaringBitmap::from_lsb0_bytes(0, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_sets_round_trip_through_roaring() {
        let set: RoaringBitmap = [0, 63, 64, 4_999, 70_000].into_iter().collect();
        let dense = Dense::of(&set);
        let words = 70_000 / 64 + 1;
        assert_eq!(Words::copy_of(&dense, words).into_roaring(), set);
        let mut fewer = dense.clone();
        fewer.remove(64);
        fewer.remove(1_000_000);
        let mut expected = set.clone();
        expected.remove(64);
        assert_eq!(Words::copy_of(&fewer, words).into_roaring(), expected);
        // Words past a set's end read as zero.
        let mut all = Words::copy_of(&dense, words);
        all.and(Dense::of(&[0].into_iter().collect()).words());
        assert_eq!(all.into_roaring(), [0].into_iter().collect());
    }

    #[test]
    fn a_copy_is_kept_where_it_costs_no_more_than_the_array() {
        assert!(worth_keeping(1_667, 5_000));
        assert!(!worth_keeping(200, 5_000));
        assert!(!worth_keeping(10, 20), "tiny clusters stay on roaring");
        assert!(
            !worth_dropping(250, 5_000),
            "between the lines a copy stays"
        );
        assert!(worth_dropping(100, 5_000));
        assert!(
            !worth_keeping(40_000, 50_000),
            "large clusters stay on roaring"
        );
    }
}
