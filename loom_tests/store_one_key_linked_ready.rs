//! Model 18: a one-key writer stopped right after its link stops nobody.

use crate::{check, read, spawn_stopped_after_first_link, t, write, Gate, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::sync::Arc;

/// Property: writer A (`WRITE [(a,1)]`) stops for good right after linking
/// its one version, before any other step of its commit: it resumes only
/// after writer B (`WRITE [(a,2)]`) has returned and read `a`. B must
/// finish all the same (a B that waited for A would never finish, and loom
/// reports the livelock), and the outcome is one serial order: B's read
/// after its write sees `2`; if A committed first (B committed it for A),
/// A's timestamp is smaller than B's and `a` ends `2`, otherwise `a` ends
/// `1`. A returns the timestamp it committed at (its helper's, if B
/// committed it), and the clock reads at least both afterwards. Retired
/// memory is freed as early as crossbeam-epoch could
/// (`with_eager_reclamation`), so that B pruning and retiring below its
/// own version while A still holds a pointer to its version would be
/// reported if A were not pinned throughout.
///
/// Relies on: the one-key version being linked ready (`Record::arm_ready`
/// before the link's CAS: without it, B finds a pending head that is not
/// ready and waits, and loom reports the livelock); and on the helper's
/// commit being the record's one CAS, whose timestamp A keeps.
#[test]
fn a_one_key_writer_stopped_after_its_link_is_committed_by_the_next_writer() {
    check(Some(2), || {
        let store = Arc::new(LockFreeStore::with_eager_reclamation(1));
        write(&*store, &[("a", "0")]);
        let b_done = Gate::new();
        let start = StartLine::new();
        let owner = spawn_stopped_after_first_link(&store, &start, &[("a", "1")], &b_done);
        start.cross();
        let ts_b = write(&*store, &[("a", "2")]);
        let seen = read(&*store, &["a"]);
        b_done.open();
        let ts_a = owner.join().unwrap();
        assert_ne!(ts_a, ts_b, "two commits share a timestamp");
        assert_eq!(seen, [Some(t("2"))], "B's read after its write");
        let last = if ts_a < ts_b { t("2") } else { t("1") };
        assert_eq!(read(&*store, &["a"]), [Some(last)]);
        assert!(kvs::store::Store::now(&*store) >= ts_a.max(ts_b));
    });
}
