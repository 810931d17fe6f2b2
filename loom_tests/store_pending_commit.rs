//! Model 2: a reader meeting a pending commit.

use crate::{check, read, t, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{Store, WriteSet};
use kvs::sync::{thread, Arc, AtomicBool, Ordering};

/// Property: a reader that meets a commit held pending never waits for it
/// (the writer does not commit until the reader has finished, so a waiting
/// reader would never finish and loom would report it), sees none of it, and
/// a snapshot taken after the writer's commit returns sees all of it, even
/// though the reader pushed the commit's timestamp past its own.
///
/// Relies on: the Release CAS that links a pending version, paired with the
/// reader's Acquire head load, so the reader may read the pending version's
/// record; the single state word on which the reader's push and the commit
/// race; and the commit advancing the clock to its timestamp.
#[test]
fn reader_never_waits_for_a_pending_commit_and_later_snapshots_see_it() {
    check(None, || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        crate::write(&*store, &[("a", "0"), ("b", "0")]);
        let reader_done = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicBool::new(false));
        let start = StartLine::new();
        let writer = {
            let (store, reader_done, committed, start) = (
                Arc::clone(&store),
                Arc::clone(&reader_done),
                Arc::clone(&committed),
                Arc::clone(&start),
            );
            thread::spawn(move || {
                start.cross();
                let batch = WriteSet::from_pairs([(t("a"), t("1")), (t("b"), t("1"))]);
                store.write_pausing(&batch, || {
                    // Acquire: pairs with the reader's Release below.
                    while !reader_done.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                });
                // Release: pairs with the Acquire below.
                committed.store(true, Ordering::Release);
            })
        };
        start.cross();
        let seen = read(&*store, &["a", "b"]);
        assert_eq!(seen, [Some(t("0")), Some(t("0"))]);
        // Release: pairs with the writer's Acquire above.
        reader_done.store(true, Ordering::Release);
        // Acquire: pairs with the writer's Release above.
        while !committed.load(Ordering::Acquire) {
            thread::yield_now();
        }
        let after = store.snapshot().into_sorted_pairs();
        assert_eq!(after, [(t("a"), t("1")), (t("b"), t("1"))]);
        writer.join().unwrap();
    });
}
