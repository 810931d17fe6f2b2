//! Model 15: a writer that meets a command between two links waits a
//! little, then aborts it; the command starts again.

use crate::{check, read, spawn_at_start, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::WriteSet;
use kvs::sync::{thread, Arc};

/// Property: writer A (`WRITE [(a,1)(b,1)]`) yields between linking its
/// version of `a` and its version of `b` (its record not ready), while
/// writer B (`WRITE [(a,2)]`) runs, so that B meets A's pending head on
/// `a` while A is still linking (B waits one step, then aborts A), once A
/// is ready (B commits it), or not at all. Both finish, and the outcome is
/// one serial order: if A committed first, B's read after its write sees
/// `(2, 1)`; if B did, `(2, 0)` or, once A has committed too, `(1, 1)`;
/// and `a` ends with the later commit's value, `b` with `1`. An aborted
/// attempt of A is never seen. Some execution must have B abort A (the
/// `aborts` count rising after A's first link). Retired memory is freed
/// as early as crossbeam-epoch could (`with_eager_reclamation`), so that A
/// reading its aborted versions again after a later cut retired them, or
/// B reading A's record after A retired it, would be reported.
///
/// Relies on: the readiness check before a helper commits (`commit_ready`
/// returns `None` for a record not marked ready; a B that committed A's
/// record then commits `a = 2` above a command whose `b` is not linked,
/// and its read sees `(2, 0)` although A committed first); the abort and
/// the ready mark being CASes on the record's one word, so exactly one of
/// them takes effect (an abort that stores over a ready or committed word
/// makes A's committed versions vanish, or A's commit fail); and the
/// Acquire load of the head in `link`, which lets B read the version it
/// finds there (weakened to Relaxed: loom reports B's unordered read of
/// A's version).
#[test]
fn a_writer_aborts_a_command_still_linking_and_both_commit_in_one_order() {
    // std: counts executions across the model runs, outside every model.
    #[allow(clippy::disallowed_types)]
    static ABORTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    check(Some(2), || {
        let store = Arc::new(LockFreeStore::with_eager_reclamation(1));
        write(&*store, &[("a", "0"), ("b", "0")]);
        let start = StartLine::new();
        let owner = {
            let store = Arc::clone(&store);
            spawn_at_start(&start, move || {
                let batch = WriteSet::from_pairs([(t("a"), t("1")), (t("b"), t("1"))]);
                let mut before = 0;
                // A yields between its two links, so that B may run there
                // without spending a preemption.
                let ts = store.write_pausing_after_first_link(&batch, || {
                    before = store.aborts();
                    thread::yield_now();
                });
                (ts, store.aborts() > before)
            })
        };
        start.cross();
        let ts_b = write(&*store, &[("a", "2")]);
        let seen = read(&*store, &["a", "b"]);
        let (ts_a, b_aborted_a) = owner.join().unwrap();
        assert_ne!(ts_a, ts_b, "two commits share a timestamp");
        let v = |s: &str| Some(t(s));
        let last = if ts_a < ts_b { "2" } else { "1" };
        let serial = if ts_a < ts_b {
            seen == [v("2"), v("1")]
        } else {
            seen == [v("2"), v("0")] || seen == [v("1"), v("1")]
        };
        assert!(serial, "B's read {seen:?} (ts_a {ts_a}, ts_b {ts_b})");
        assert_eq!(read(&*store, &["a", "b"]), [v(last), v("1")]);
        if b_aborted_a {
            // (A's next attempt may still commit first: B, having aborted
            // A, can find A's new version at the head and commit it.)
            // Relaxed: a statistic of the model run, read after `check`.
            ABORTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    // Relaxed: read after every execution has ended.
    let aborted = ABORTED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(aborted > 0, "no execution had B abort A between its links");
    eprintln!("{aborted} executions aborted a command still linking");
}
