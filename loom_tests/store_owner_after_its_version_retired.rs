//! Model 20: a one-key owner whose version was committed for it,
//! overwritten and cut out of the chain while it was stopped finishes
//! without touching freed memory.

use crate::{check, read, spawn_stopped_after_first_link, t, write, Gate, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::Store;
use kvs::sync::Arc;

/// Property: writer A (`WRITE [(a,1)]`) stops right after linking its
/// version (published ready) and resumes only after B (`WRITE [(a,2)]`)
/// and then C (`WRITE [(a,3)]`) have returned: B commits A's version for
/// it (or links below it first) and C, at a fresh horizon, prunes below
/// B's version, which retires A's. A then finishes its commit through its
/// own version: the three commits take distinct timestamps in one serial
/// order (`a` ends with the value of the latest), the clock reads at
/// least all of them, and nothing is read after its free, which the
/// store's eager reclamation (`with_eager_reclamation`) would report.
///
/// Relies on: the owner staying pinned from its link to the end of its
/// commit, so a version cut out while it was stopped is freed only after
/// it finishes. Running the stop unpinned (`reclaim.unpinned` around the
/// hook) fails the model with a use after free.
#[test]
fn a_stopped_owner_finishes_after_its_version_was_cut_out() {
    check(Some(2), || {
        let store = Arc::new(LockFreeStore::with_eager_reclamation(1));
        write(&*store, &[("a", "0")]);
        let others_done = Gate::new();
        let start = StartLine::new();
        let owner = spawn_stopped_after_first_link(&store, &start, &[("a", "1")], &others_done);
        start.cross();
        let ts_b = write(&*store, &[("a", "2")]);
        let ts_c = write(&*store, &[("a", "3")]);
        others_done.open();
        let ts_a = owner.join().unwrap();
        assert!(ts_b < ts_c, "C wrote after B returned");
        assert!(
            ts_a != ts_b && ts_a != ts_c,
            "two commits share a timestamp"
        );
        let last = if ts_a > ts_c { t("1") } else { t("3") };
        assert_eq!(read(&*store, &["a"]), [Some(last)]);
        assert!(Store::now(&*store) >= ts_a.max(ts_c));
    });
}
