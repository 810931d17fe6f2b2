//! The argument sets of multi-key store commands, normalized once.
//!
//! Engines lock, install or look up keys in ascending order (that is what
//! rules out deadlock between multi-key commands), so both sets keep their
//! keys sorted and unique. The job language's quirks (a repeated key in a
//! `WRITE` keeps its last value; a key named twice in a `DELETE` is missing
//! the second time) are resolved here or by the caller, never in an engine.

use crate::token::{Key, Value};
use smallvec::SmallVec;

/// How many keys a set holds inline: job lines name one to three, so such
/// a command builds its set without allocating.
const INLINE_KEYS: usize = 3;

/// One flag per key of a [`KeySet`], in its order (what a delete found):
/// inline for a typical command's keys.
pub type Presence = SmallVec<[bool; INLINE_KEYS]>;

/// The pairs of one atomic write: sorted by key, each key once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteSet {
    pairs: SmallVec<[(Key, Value); INLINE_KEYS]>,
}

impl WriteSet {
    /// Builds the set from pairs in command order; when a key repeats, its
    /// last value wins.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Key, Value)>) -> Self {
        Self::normalized(pairs.into_iter().collect())
    }

    /// [`WriteSet::from_pairs`] from a slice, copied in one step.
    pub fn from_slice(pairs: &[(Key, Value)]) -> Self {
        Self::normalized(SmallVec::from_slice(pairs))
    }

    /// `pairs` sorted by key, keeping the last value of a repeated key.
    fn normalized(mut pairs: SmallVec<[(Key, Value); INLINE_KEYS]>) -> Self {
        // Already ascending without repeats (every one-pair write, and
        // often a short one): nothing to move.
        if pairs.windows(2).all(|two| two[0].0 < two[1].0) {
            return Self { pairs };
        }
        // A stable sort keeps repeated keys in command order, so the last of
        // each run is the value that wins: each later pair of a run hands
        // its value to the one kept before it.
        sort_short_by(&mut pairs, |a, b| a.0 < b.0);
        pairs.dedup_by(|later, kept| {
            let repeat = later.0 == kept.0;
            if repeat {
                kept.1 = later.1;
            }
            repeat
        });
        Self { pairs }
    }

    /// The pairs, in ascending key order.
    pub fn pairs(&self) -> &[(Key, Value)] {
        &self.pairs
    }

    /// How many distinct keys the set writes.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the set writes nothing.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Sorts `items` stably by `less`. A command names one to a few keys: for
/// up to eight items an insertion sort by adjacent swaps, inlined, costs
/// a fraction of the standard library's sort (its small-slice sort is an
/// out-of-line call that moves 41-byte elements through a temporary);
/// longer slices take the standard library's merge sort.
pub fn sort_short_by<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    /// The longest slice sorted by insertion.
    const SHORT: usize = 8;
    if items.len() > SHORT {
        items.sort_by(|a, b| {
            if less(a, b) {
                std::cmp::Ordering::Less
            } else if less(b, a) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        return;
    }
    for next in 1..items.len() {
        let mut at = next;
        while at > 0 && less(&items[at], &items[at - 1]) {
            items.swap(at, at - 1);
            at -= 1;
        }
    }
}

/// The keys of one atomic read or delete: sorted, each key once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeySet {
    keys: SmallVec<[Key; INLINE_KEYS]>,
}

impl KeySet {
    /// Builds the set from keys in any order, dropping repeats.
    pub fn from_keys(keys: impl IntoIterator<Item = Key>) -> Self {
        let mut keys: SmallVec<[Key; INLINE_KEYS]> = keys.into_iter().collect();
        keys.sort_unstable();
        keys.dedup();
        Self { keys }
    }

    /// Makes this set the keys of `keys`, which are already in ascending
    /// order, without repeats (it skips the sort of [`KeySet::from_keys`]),
    /// reusing its storage: a caller that keeps one set for all its
    /// commands moves no set around. Each key is pushed unless it repeats
    /// the one before, so the copy and the removal of repeats are one pass.
    pub fn refill_sorted(&mut self, keys: &[Key]) {
        debug_assert!(
            keys.windows(2).all(|pair| pair[0] <= pair[1]),
            "from_sorted: unsorted keys"
        );
        self.keys.clear();
        for key in keys {
            if self.keys.last() != Some(key) {
                self.keys.push(*key);
            }
        }
    }

    /// The keys, ascending.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::Token;

    fn t(s: &str) -> Token {
        Token::try_from(s).unwrap()
    }

    #[test]
    fn last_value_of_a_repeated_key_wins() {
        let pairs = [(t("b"), t("1")), (t("a"), t("x")), (t("b"), t("2"))];
        let set = WriteSet::from_pairs(pairs);
        assert_eq!(set.pairs(), &[(t("a"), t("x")), (t("b"), t("2"))]);
        assert_eq!(WriteSet::from_slice(&pairs), set);
        // Ascending already, and with a repeat only at the end.
        let sorted = [(t("a"), t("1")), (t("b"), t("2")), (t("b"), t("3"))];
        assert_eq!(
            WriteSet::from_slice(&sorted).pairs(),
            &[(t("a"), t("1")), (t("b"), t("3"))]
        );
        // Two distinct keys written (the benchmark counts writes by it).
        assert_eq!(set.len(), 2);
        assert!(!set.is_empty());
        assert!(WriteSet::from_pairs([]).is_empty());
    }

    #[test]
    fn key_set_is_sorted_and_unique() {
        let set = KeySet::from_keys([t("c"), t("a"), t("c"), t("b")]);
        assert_eq!(set.keys(), &[t("a"), t("b"), t("c")]);
        assert!(!set.is_empty());
        assert!(KeySet::from_keys([]).is_empty());
    }

    #[test]
    fn key_set_refilled_from_sorted_keys_drops_repeats_like_from_keys() {
        let sorted = [t("a"), t("b"), t("b"), t("c")];
        // A set in use before, as the executor's is.
        let mut set = KeySet::from_keys([t("z"), t("y"), t("x"), t("w")]);
        set.refill_sorted(&sorted);
        assert_eq!(set, KeySet::from_keys(sorted));
        assert_eq!(set.keys(), &[t("a"), t("b"), t("c")]);
    }
}
