//! Model 7: two snapshots ending together over a held-back tombstone.

use crate::{check, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{KeySet, Store};
use kvs::sync::{thread, Arc};

/// Property: with two registered snapshots both holding back the tombstone
/// of `DELETE [a]`, ending them on two threads at once leaves the dead
/// entry retired. Each end decides whether it was the oldest; at least one
/// of them must decide so and sweep, or the tombstone is stranded (nothing
/// else would ever sweep here).
///
/// Relies on: the SeqCst fence F3 in `Registry::deregister` after freeing
/// the slot: of two ends, the later fence's reads see the other slot free.
#[test]
fn two_snapshots_ending_together_leave_no_tombstone_stranded() {
    check(Some(2), || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(2));
        write(&*store, &[("a", "0")]);
        let first = store.snapshot();
        let second = store.snapshot();
        store.delete(&KeySet::from_keys([t("a")]));
        let start = StartLine::new();
        let ender = {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.cross();
                drop(first);
            })
        };
        start.cross();
        drop(second);
        ender.join().unwrap();
        assert_eq!(store.unretired_tombstones(), 0, "a tombstone was stranded");
    });
}
