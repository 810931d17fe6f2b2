//! Model 5: a tombstone held back by a snapshot that ends meanwhile.

use crate::{check, spawn_at_start, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{KeySet, Store};
use kvs::sync::Arc;

/// Property: a `DELETE [a]` whose tombstone a registered snapshot holds back
/// races the end of that snapshot; once both are over, the dead entry is
/// retired, whichever came first. Nothing else will ever sweep here, so a
/// tombstone stranded in this race would stay forever.
///
/// Relies on: the delete counting the held-back tombstone before the F2
/// fence of a second horizon, and the ending snapshot's F3 fence before it
/// reads that count (`prune.rs`, "No tombstone is stranded").
#[test]
fn a_tombstone_held_back_by_an_ending_snapshot_is_not_stranded() {
    check(None, || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("a", "0")]);
        let snapshot = store.snapshot();
        let start = StartLine::new();
        let ender = spawn_at_start(&start, move || drop(snapshot));
        start.cross();
        store.delete(&KeySet::from_keys([t("a")]));
        ender.join().unwrap();
        assert_eq!(store.unretired_tombstones(), 0, "a tombstone was stranded");
    });
}
