//! The key index: each key to its [`Entry`], the head of its version chain.
//!
//! Normally a `flurry` concurrent hash map (whose own nodes `seize`
//! reclaims, separately from the version chains). flurry cannot run under
//! loom, so with `--features loom` a fixed table of atomic bins stands in
//! behind the same small interface. The models therefore trust the index to
//! be a linearizable map in which an insert or removal happens before any
//! operation that observes it, and in which lookups do not synchronize with
//! each other; flurry's own lock-free internals (resizing, tree bins, seize)
//! are not model-checked here.
//!
//! Invariants:
//! * At most one entry per key is in the index at a time.
//! * An entry whose head is not the retirement marker is in the index: an
//!   entry is inserted before any version is linked into it, and removed only
//!   after its head was swapped to the marker, which is final.
//! * An entry's floor, once fixed, is at least the commit timestamp of every
//!   tombstone retired from an earlier entry of the same key; its own
//!   versions all commit later than it. It is fixed only after the entry is
//!   in the index (by whoever first needs it), so it covers every retirement
//!   that preceded the insertion: an exhausted chain proves the key absent
//!   back to the floor, and no further. (Read before the insertion, it could
//!   miss a retirement that completed in between.)

use crate::store::Timestamp;
use crate::sync::{AtomicPtr, AtomicU64, Ordering};
use crate::token::Key;

use super::version::Version;

/// One key's place in the store: three words, so that the index's
/// allocation per key stays small (paper §8.5).
pub(crate) struct Entry {
    /// The newest version; null for none yet; the marker once retired.
    pub(crate) head: AtomicPtr<Version>,
    /// A read at a snapshot below the floor cannot trust this entry:
    /// earlier entries of the key may have held versions visible there.
    /// [`UNFIXED`] until [`Entry::floor`] first runs.
    floor: AtomicU64,
    /// The pruning word: [`CLAIMED`] while someone cuts the chain (its
    /// writer, or a tidy step working off the backlog: one pruner per
    /// chain at a time), [`BACKLOGGED`] while the key is queued on the
    /// store's backlog of chains a snapshot kept long (so it is queued
    /// once, not once per write), and below them the highest horizon the
    /// chain was pruned at: nothing committed at or below it is left
    /// uncut, but for a version still pending then (`prune.rs`). Only the
    /// claim's holder changes anything but the claim bit, so all of it is
    /// read and written through a [`PruningClaim`].
    pruning: AtomicU64,
}

/// The pruning word's claim bit.
const CLAIMED: u64 = 1 << 63;
/// The pruning word's backlog bit.
const BACKLOGGED: u64 = 1 << 62;
/// The pruning word's horizon: the bits below the two flags. Timestamps
/// count commits, so they stay far below 2^62.
const PRUNED_AT: u64 = BACKLOGGED - 1;

/// The claim on an entry's pruning: a copy of the pruning word, written
/// back (and the claim released) when dropped.
pub(crate) struct PruningClaim<'e> {
    entry: &'e Entry,
    /// The word as the claim found it, then as its holder changes it;
    /// never with [`CLAIMED`] set.
    word: u64,
}

impl PruningClaim<'_> {
    /// The horizon the chain was last pruned at.
    pub(crate) fn pruned_at(&self) -> Timestamp {
        self.word & PRUNED_AT
    }

    /// Records that the chain is now pruned at `horizon`.
    pub(crate) fn set_pruned_at(&mut self, horizon: Timestamp) {
        debug_assert!(
            horizon <= PRUNED_AT,
            "timestamp {horizon} overflows the pruning word"
        );
        self.word = (self.word & !PRUNED_AT) | (horizon & PRUNED_AT);
    }

    /// Whether the key is queued on the backlog.
    pub(crate) fn is_backlogged(&self) -> bool {
        self.word & BACKLOGGED != 0
    }

    /// Records whether the key is queued on the backlog.
    pub(crate) fn set_backlogged(&mut self, queued: bool) {
        if queued {
            self.word |= BACKLOGGED;
        } else {
            self.word &= !BACKLOGGED;
        }
    }
}

impl Drop for PruningClaim<'_> {
    fn drop(&mut self) {
        // A plain store suffices: while the claim is held nobody else
        // writes the word (a failed try writes nothing). Release: pairs
        // with the Acquire of the next claim's CAS, which then sees our
        // cuts and the word we store.
        self.entry.pruning.store(self.word, Ordering::Release);
    }
}

/// The floor of an entry nobody has used yet.
const UNFIXED: Timestamp = Timestamp::MAX;

impl Entry {
    /// An entry with no versions and no floor yet.
    pub(crate) fn new() -> Self {
        Self {
            head: AtomicPtr::new(std::ptr::null_mut()),
            floor: AtomicU64::new(UNFIXED),
            pruning: AtomicU64::new(0),
        }
    }

    /// Claims the right to cut this chain, unless someone holds it: a
    /// pruner never waits for another.
    ///
    /// Taken by CAS, so that a try that finds the claim held writes
    /// nothing. A `fetch_or` would rewrite the word as it is, harmless on
    /// any machine (that write reads the claimed word, so it precedes the
    /// holder's release in the word's modification order), but loom can
    /// order it after the release's plain store and leave the claim stuck
    /// for good, a state no machine reaches, which the models would then
    /// explore (paper §4, *What loom checks*). The loop retries only when
    /// a holder gave the claim back meanwhile.
    pub(crate) fn claim_pruning(&self) -> Option<PruningClaim<'_>> {
        // Relaxed: a first look; the CAS below takes the claim.
        let mut word = self.pruning.load(Ordering::Relaxed);
        loop {
            if word & CLAIMED != 0 {
                return None;
            }
            match self.pruning.compare_exchange(
                word,
                word | CLAIMED,
                // Acquire: pairs with the Release store of the previous
                // claim's drop, so we see its cuts and the word it stored.
                Ordering::Acquire,
                // Relaxed: on failure we only look at the new word.
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(PruningClaim { entry: self, word }),
                Err(now) => word = now,
            }
        }
    }

    /// The entry's floor, fixing it to `watermark()` if nobody has yet.
    ///
    /// The caller must have found the entry in the index, so `watermark()`
    /// (the store's `retired`) runs after the insertion and covers every
    /// retirement of the key's earlier entries. Any such value is a sound
    /// floor; the first one fixed is kept so that every reader and writer
    /// agrees from then on.
    pub(crate) fn floor(&self, watermark: impl FnOnce() -> Timestamp) -> Timestamp {
        // Relaxed: only the value matters; it is sound whoever fixed it
        // (see above), and nothing else is published through it.
        let floor = self.floor.load(Ordering::Relaxed);
        if floor != UNFIXED {
            return floor;
        }
        let fixed = watermark();
        // Relaxed (both): as above; the CAS only makes the first value win.
        match self
            .floor
            .compare_exchange(UNFIXED, fixed, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fixed,
            Err(winner) => winner,
        }
    }
}

#[cfg(not(feature = "loom"))]
mod imp {
    use super::*;
    // Not `crate::sync`'s: this index never runs under loom, and triomphe's
    // `Arc` has no weak count, a word less per key than std's.
    use triomphe::Arc;

    /// Keeps the index's nodes alive while held.
    pub(crate) type Guard<'a> = flurry::Guard<'a>;
    /// A borrowed entry, valid while the guard lives.
    pub(crate) struct EntryRef<'g>(&'g Entry);

    impl std::ops::Deref for EntryRef<'_> {
        type Target = Entry;
        fn deref(&self) -> &Entry {
            self.0
        }
    }

    impl<'g> EntryRef<'g> {
        /// The entry, for as long as the guard it was found under.
        pub(crate) fn into_ref(self) -> &'g Entry {
            self.0
        }
    }

    /// Entries are behind an `Arc` because retirement must remove a key's
    /// entry only if it is still the same entry. flurry's
    /// `compute_if_present` can do that (it shows the current value), but
    /// it has no "leave it as it is" outcome: to keep a value it must be
    /// handed a new one, so the value has to be cheap to clone.
    pub(crate) struct Index {
        // ahash, named: the mutex engine hashes with the same hasher.
        map: flurry::HashMap<Key, Arc<Entry>, ahash::RandomState>,
    }

    impl Index {
        pub(crate) fn new() -> Self {
            Self {
                map: flurry::HashMap::with_hasher(ahash::RandomState::new()),
            }
        }

        pub(crate) fn guard(&self) -> Guard<'_> {
            self.map.guard()
        }

        pub(crate) fn get<'g>(&'g self, key: &Key, guard: &'g Guard<'_>) -> Option<EntryRef<'g>> {
            self.map.get(key, guard).map(|entry| EntryRef(entry))
        }

        /// The key's entry, inserting `make()` if there is none.
        pub(crate) fn get_or_insert<'g>(
            &'g self,
            key: &Key,
            make: impl FnOnce() -> Entry,
            guard: &'g Guard<'_>,
        ) -> EntryRef<'g> {
            if let Some(entry) = self.map.get(key, guard) {
                return EntryRef(entry);
            }
            match self.map.try_insert(*key, Arc::new(make()), guard) {
                Ok(entry) => EntryRef(entry),
                Err(taken) => EntryRef(taken.current),
            }
        }

        /// Removes the key's entry if it is still `entry`.
        pub(crate) fn remove_if(&self, key: &Key, entry: &Entry, guard: &Guard<'_>) {
            self.map.compute_if_present(
                key,
                |_, current| (!std::ptr::eq(&**current, entry)).then(|| Arc::clone(current)),
                guard,
            );
        }

        /// Calls `f` on every entry present throughout the iteration (and
        /// perhaps on entries inserted or removed meanwhile).
        pub(crate) fn for_each(&self, guard: &Guard<'_>, mut f: impl FnMut(&Key, &Entry)) {
            for (key, entry) in self.map.iter(guard) {
                f(key, entry);
            }
        }

        /// How many entries the index holds (a counter flurry keeps; read
        /// while others insert or remove, only an estimate).
        pub(crate) fn len(&self) -> usize {
            self.map.len()
        }
    }
}

#[cfg(feature = "loom")]
mod imp {
    use super::*;
    use crate::sync::{Mutex, Ordering};
    use std::marker::PhantomData;

    /// Bins of the stand-in; a model's keys must fall in distinct bins.
    const BINS: usize = 8;

    /// Nothing to hold: entries live until the index drops.
    pub(crate) struct Guard<'a>(PhantomData<&'a ()>);

    /// A borrowed entry, valid while the index lives.
    pub(crate) struct EntryRef<'g>(&'g Entry);

    impl std::ops::Deref for EntryRef<'_> {
        type Target = Entry;
        fn deref(&self) -> &Entry {
            self.0
        }
    }

    impl<'g> EntryRef<'g> {
        /// The entry, for as long as the guard it was found under.
        pub(crate) fn into_ref(self) -> &'g Entry {
            self.0
        }
    }

    struct Node {
        key: Key,
        entry: Entry,
    }

    /// One bin per key, each an atomic pointer, like a flurry bin without
    /// chaining: a lookup is one Acquire load, an insert or a removal one
    /// CAS. Lookups therefore do not synchronize with each other, so the
    /// models cannot lean on the index for orderings the engine must
    /// provide; an insert or removal synchronizes with the lookups that
    /// observe it, as flurry's do. Nodes are freed when the index drops
    /// (the models' runs are short; flurry's nodes are `seize`'s).
    ///
    /// Correspondence with flurry 0.5's `try_insert` (`HashMap::put` with
    /// `no_replacement`) and `compute_if_present`, step by step:
    /// * *Make before insert.* The real `get_or_insert` looks the key up,
    ///   and on a miss builds the entry (`Arc::new(make())`) before calling
    ///   `try_insert`, which boxes it before touching any bin. Here too the
    ///   entry is made after the failed lookup and before the insert, so
    ///   the window between them, in which other threads may insert,
    ///   retire and remove the key's entries, is explored (model
    ///   `store_stale_floor` lives in it).
    /// * *Publication.* flurry publishes the node with one CAS into an
    ///   empty bin, or, into a non-empty bin, with one store to the last
    ///   node's `next` under the bin's lock; the node and value are fully
    ///   built before either. Here: one CAS. A lookup sees the entry only
    ///   through that CAS, so never before its insertion completes.
    /// * *Key already present.* flurry returns the current value (checked
    ///   on the bin's first node without the lock, else under it) and drops
    ///   the new one; here the failed CAS returns the node that beat us
    ///   and the new one is dropped unpublished. Either way the caller may
    ///   get an entry that is being retired, and helps remove it.
    /// * *Conditional removal.* flurry's `compute_if_present` holds the
    ///   bin's lock while the closure compares identities and then unlinks
    ///   the node, or, to keep it, swaps in a clone of the `Arc` (same
    ///   entry, so no reader can tell). Here: one CAS from the very node
    ///   compared to null, which also fails if the bin changed meanwhile.
    /// * *Not modeled:* the bin lock itself (in flurry an insert into, or
    ///   removal from, a non-empty bin waits for the one in progress; here
    ///   each is a single CAS, equally atomic, and nothing waits), chained
    ///   and tree bins, resizing, and flurry's SeqCst orderings (loom
    ///   models SeqCst accesses as AcqRel anyway).
    pub(crate) struct Index {
        bins: [AtomicPtr<Node>; BINS],
        /// Every node ever published, freed on drop.
        nodes: Mutex<Vec<NodePtr>>,
    }

    struct NodePtr(*mut Node);
    // SAFETY: nodes hold only `Send + Sync` data; the list only frees them.
    unsafe impl Send for NodePtr {}

    fn bin_of(key: &Key) -> usize {
        key.as_bytes()
            .iter()
            .map(|&b| usize::from(b))
            .sum::<usize>()
            % BINS
    }

    impl Index {
        pub(crate) fn new() -> Self {
            Self {
                bins: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
                nodes: Mutex::new(Vec::new()),
            }
        }

        pub(crate) fn guard(&self) -> Guard<'_> {
            Guard(PhantomData)
        }

        fn node(&self, key: &Key) -> Option<&Node> {
            // Acquire: pairs with the Release CAS that inserted the node.
            let p = self.bins[bin_of(key)].load(Ordering::Acquire);
            // SAFETY: published nodes live until the index drops.
            let node = unsafe { p.as_ref() }?;
            assert!(
                node.key == *key,
                "loom index stand-in: two keys share a bin"
            );
            Some(node)
        }

        pub(crate) fn get<'g>(&'g self, key: &Key, _guard: &'g Guard<'_>) -> Option<EntryRef<'g>> {
            self.node(key).map(|node| EntryRef(&node.entry))
        }

        pub(crate) fn get_or_insert<'g>(
            &'g self,
            key: &Key,
            make: impl FnOnce() -> Entry,
            _guard: &'g Guard<'_>,
        ) -> EntryRef<'g> {
            if let Some(node) = self.node(key) {
                return EntryRef(&node.entry);
            }
            let fresh = Box::into_raw(Box::new(Node {
                key: *key,
                entry: make(),
            }));
            match self.bins[bin_of(key)].compare_exchange(
                std::ptr::null_mut(),
                fresh,
                // AcqRel: Release publishes the node; Acquire (also on
                // failure) lets us read the node that beat us.
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    crate::sync::lock(&self.nodes).push(NodePtr(fresh));
                    // SAFETY: just published; lives until the index drops.
                    EntryRef(unsafe { &(*fresh).entry })
                }
                Err(current) => {
                    // SAFETY: `fresh` was never published.
                    drop(unsafe { Box::from_raw(fresh) });
                    // SAFETY: published nodes live until the index drops.
                    EntryRef(unsafe { &(*current).entry })
                }
            }
        }

        pub(crate) fn remove_if(&self, key: &Key, entry: &Entry, _guard: &Guard<'_>) {
            let bin = &self.bins[bin_of(key)];
            // Acquire: pairs with the Release CAS that inserted the node.
            let p = bin.load(Ordering::Acquire);
            // SAFETY: published nodes live until the index drops.
            let Some(node) = (unsafe { p.as_ref() }) else {
                return;
            };
            if std::ptr::eq(&node.entry, entry) {
                let _ = bin.compare_exchange(
                    p,
                    std::ptr::null_mut(),
                    // AcqRel: a lookup that misses the key synchronizes with
                    // the removal (as with flurry).
                    Ordering::AcqRel,
                    // Relaxed: failure means it is gone already.
                    Ordering::Relaxed,
                );
            }
        }

        /// No estimate: the models' stores are tiny, and counting would add
        /// loads for loom to explore.
        pub(crate) fn len(&self) -> usize {
            0
        }

        pub(crate) fn for_each(&self, _guard: &Guard<'_>, mut f: impl FnMut(&Key, &Entry)) {
            for bin in &self.bins {
                // Acquire: pairs with the Release CAS that inserted the node.
                let p = bin.load(Ordering::Acquire);
                // SAFETY: published nodes live until the index drops.
                if let Some(node) = unsafe { p.as_ref() } {
                    f(&node.key, &node.entry);
                }
            }
        }
    }

    impl Drop for Index {
        fn drop(&mut self) {
            let nodes = std::mem::take(&mut *crate::sync::lock(&self.nodes));
            for node in nodes {
                // SAFETY: the index is dropping; no reference to a node remains.
                drop(unsafe { Box::from_raw(node.0) });
            }
        }
    }
}

pub(crate) use imp::{EntryRef, Guard, Index};

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_three_words() {
        assert_eq!(std::mem::size_of::<Entry>(), 3 * std::mem::size_of::<u64>());
    }

    #[test]
    fn one_claim_at_a_time_and_each_sees_what_the_last_left() {
        let entry = Entry::new();
        let mut first = entry.claim_pruning().expect("unclaimed");
        assert!(entry.claim_pruning().is_none(), "claimed twice");
        assert_eq!((first.pruned_at(), first.is_backlogged()), (0, false));
        first.set_pruned_at(PRUNED_AT);
        first.set_backlogged(true);
        drop(first);

        let mut second = entry.claim_pruning().expect("released");
        assert_eq!(
            (second.pruned_at(), second.is_backlogged()),
            (PRUNED_AT, true)
        );
        second.set_pruned_at(7);
        second.set_backlogged(false);
        drop(second);

        let third = entry.claim_pruning().expect("released");
        assert_eq!((third.pruned_at(), third.is_backlogged()), (7, false));
    }
}
