//! Model 14: a writer preempted after its links is helped, not waited for.

use crate::{check, read, spawn_at_start, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::WriteSet;
use kvs::sync::{thread, Arc, AtomicBool, Ordering};

/// Property: writer A (`WRITE [(a,1)(b,1)]`) stops for good once its
/// command is ready (every version linked): it resumes only after writer B
/// (`WRITE [(a,2)]`, on the shared key `a`) has returned and read `{a, b}`.
/// B must finish all the same (a B that waited for A would never finish,
/// and loom reports the livelock), and the outcome is one serial order:
/// if A committed first (B committed it for A), B's read after its write
/// sees `(2, 1)`, A's timestamp is smaller than B's and `a` ends `2`;
/// otherwise B's read sees `(2, 0)` and `a` ends `1`. A returns the
/// timestamp its helper committed it at, and the clock reads at least
/// both timestamps afterwards.
///
/// Relies on: helping in `link` (a ready pending head is committed, not
/// waited for: without it loom reports the model exceeding its branches,
/// a livelock); and the commit being one CAS on the record's word, so A
/// finds its record committed and keeps the helper's timestamp (a commit
/// that overwrites the word fails the model); and on the Release of
/// `Record::mark_ready` and the Acquire load of the state a helper commits
/// from (`Record::state`, in `link`), which order the helper's tick after
/// A's links: weakening either makes B's read miss A's `b = 1` although
/// B committed A first. (Until writers pruned before their links, A's
/// horizon fence sat between its links and its mark and hid both
/// weakenings; `paper.md` §4.)
#[test]
fn a_writer_finishes_while_the_owner_of_a_ready_head_is_stopped() {
    check(Some(2), || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("a", "0"), ("b", "0")]);
        let b_done = Arc::new(AtomicBool::new(false));
        let start = StartLine::new();
        let owner = {
            let (store, b_done) = (Arc::clone(&store), Arc::clone(&b_done));
            spawn_at_start(&start, move || {
                let batch = WriteSet::from_pairs([(t("a"), t("1")), (t("b"), t("1"))]);
                store.write_pausing(&batch, || {
                    // Acquire: pairs with B's Release below.
                    while !b_done.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                })
            })
        };
        start.cross();
        let ts_b = write(&*store, &[("a", "2")]);
        let seen = read(&*store, &["a", "b"]);
        // Release: pairs with A's Acquire above.
        b_done.store(true, Ordering::Release);
        let ts_a = owner.join().unwrap();
        assert_ne!(ts_a, ts_b, "two commits share a timestamp");
        let (seen_then, last) = if ts_a < ts_b {
            ([Some(t("2")), Some(t("1"))], t("2"))
        } else {
            ([Some(t("2")), Some(t("0"))], t("1"))
        };
        assert_eq!(
            seen, seen_then,
            "B's read after its write (ts_a {ts_a}, ts_b {ts_b})"
        );
        assert_eq!(read(&*store, &["a", "b"]), [Some(last), Some(t("1"))]);
        assert!(kvs::store::Store::now(&*store) >= ts_a.max(ts_b));
    });
}
