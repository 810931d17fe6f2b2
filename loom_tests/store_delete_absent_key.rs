//! Model 13: a delete of a present and an absent key racing a write that
//! creates the absent one.

use crate::{check, read, spawn_writer, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{KeySet, Store};
use kvs::sync::Arc;

/// Property: `DELETE [a,b]` with `a` present and `b` absent, racing
/// `WRITE [(b,1)]`, is linearizable with its result and timestamp: if the
/// write committed before the delete (smaller timestamp), the delete
/// removed `b` (reports it removed, and `b` ends absent); if after, the
/// delete reports `b` absent and `b` ends `1`.
///
/// Relies on: the delete reserving *every* key, absent ones included,
/// with a pending version until it commits (`Store::delete` in `mod.rs`).
/// A delete that commits tombstones only on the keys present at its first
/// read leaves `b` free between that read and its commit: the write can
/// commit `b` in between, and the delete, committing later, neither
/// removes `b` nor can report it absent at its own instant. The invisible
/// tombstone an absent key gets is that reservation, committed.
#[test]
fn a_delete_of_present_and_absent_keys_is_linearizable_with_a_racing_insert() {
    check(Some(3), || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("a", "0")]);
        let start = StartLine::new();
        let writer = spawn_writer(&store, &start, &[("b", "1")]);
        start.cross();
        let deletion = store.delete(&KeySet::from_keys([t("a"), t("b")]));
        let written = writer.join().unwrap();
        let deleted = deletion.ts.expect("a was present");
        let b_now = read(&*store, &["b"])[0];
        if written < deleted {
            assert_eq!(
                deletion.removed[..],
                [true, true],
                "b written before, not removed"
            );
            assert_eq!(b_now, None, "b written before the delete survived it");
        } else {
            assert_eq!(deletion.removed[..], [true, false]);
            assert_eq!(b_now, Some(t("1")), "b written after the delete was lost");
        }
    });
}
