//! Model 3: snapshot registration racing pruning.

use crate::{check, spawn_at_start, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::Store;
use kvs::sync::Arc;

/// Property: no version a registered snapshot can see is ever unlinked. A
/// writer overwrites `a` twice (each write prunes below itself with the
/// horizon it computes) while another thread registers a snapshot and reads
/// it: the snapshot must hold `a` with one of the values it ever had. A
/// version pruned from under it would leave it reading nothing.
///
/// Relies on: the SeqCst fences of `Registry::register` and
/// `Registry::horizon` (a pruner either sees the new slot or computed its
/// horizon from a clock value the snapshot's timestamp is not older than).
///
/// Not covered: freeing. This store keeps retired chains until it drops;
/// the grace period is checked by the models whose store frees as early as
/// crossbeam-epoch could (`with_eager_reclamation`).
#[test]
fn pruning_never_unlinks_a_version_a_snapshot_can_see() {
    check(Some(4), || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
        write(&*store, &[("a", "0")]);
        let start = StartLine::new();
        let writer = {
            let store = Arc::clone(&store);
            spawn_at_start(&start, move || {
                write(&*store, &[("a", "1")]);
                write(&*store, &[("a", "2")]);
            })
        };
        start.cross();
        let pairs = store.snapshot().into_sorted_pairs();
        assert_eq!(pairs.len(), 1, "snapshot lost a: {pairs:?}");
        assert!(["0", "1", "2"].iter().any(|v| pairs[0] == (t("a"), t(v))));
        writer.join().unwrap();
    });
}
