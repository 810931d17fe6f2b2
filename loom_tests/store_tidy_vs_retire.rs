//! Model 12: a tidy step pruning a backlogged chain while another thread
//! deletes the key, prunes the same chain and retires its entry, with a
//! reclamation stand-in that really frees.

use crate::{check, read, spawn_at_start, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{KeySet, Store};
use kvs::sync::Arc;

/// Property: `a` is written twice under snapshot `X`, so its chain is kept
/// long and queued on the backlog. The end of `X` (whose tidy step prunes
/// `a` from the backlog) races `DELETE [a]` (which prunes below its
/// tombstone and retires `a`'s entry). No version is freed twice or while
/// another thread can still reach it (loom reports either), and afterwards
/// `a` is absent, its entry retired, and every version of it freed.
///
/// Relies on: the chain's pruning claim (one cutter at a time, so no tail
/// is retired twice), and the cut storing the marker while the cutter is
/// pinned: the retirement's free, which walks the chain from its top,
/// waits for that pin, so it stops at the marker and the two retired
/// chains stay disjoint (`prune.rs`, "Backlog").
#[test]
fn a_tidy_step_and_a_retirement_free_each_version_once() {
    check(Some(3), || {
        let store = Arc::new(LockFreeStore::with_eager_reclamation(1));
        write(&*store, &[("a", "0")]);
        let snapshot = store.snapshot();
        write(&*store, &[("a", "1")]);
        write(&*store, &[("a", "2")]);
        let start = StartLine::new();
        let ender = spawn_at_start(&start, move || drop(snapshot));
        start.cross();
        let deleted = store.delete(&KeySet::from_keys([t("a")]));
        assert_eq!(deleted.removed[..], [true]);
        ender.join().unwrap();
        // Ordered after both threads: its unpin frees what is left.
        assert_eq!(read(&*store, &["a"]), [None]);
        assert_eq!(store.unretired_tombstones(), 0, "a tombstone was stranded");
        assert_eq!(store.live_versions(), 0, "a version was never freed");
    });
}
