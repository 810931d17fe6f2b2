//! Model 9: the end-of-snapshot sweep racing a write to the dead key.

use crate::{check, read, spawn_at_start, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{KeySet, Store};
use kvs::sync::Arc;

/// Property: a tombstone held back by a snapshot is swept when the
/// snapshot ends, while another thread writes the dead key: the write is
/// never lost (afterwards `a` holds `1`), whether it lands on the dead
/// entry before the sweep retires it or in a fresh entry after, and no
/// dead entry is left unretired.
///
/// Relies on: the sweep's retirement and the write's link being CASes on
/// the same head word (one wins; the loser sees it), and the writer that
/// meets the marker replacing the retired entry.
#[test]
fn the_sweep_never_loses_a_racing_write() {
    check(Some(3), || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("a", "0")]);
        let snapshot = store.snapshot();
        store.delete(&KeySet::from_keys([t("a")]));
        let start = StartLine::new();
        let ender = spawn_at_start(&start, move || drop(snapshot));
        start.cross();
        write(&*store, &[("a", "1")]);
        ender.join().unwrap();
        assert_eq!(read(&*store, &["a"]), [Some(t("1"))], "the write was lost");
        assert_eq!(store.unretired_tombstones(), 0, "a tombstone was stranded");
    });
}
