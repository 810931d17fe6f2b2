//! Model 10: a snapshot's iteration racing the retirement and replacement
//! of an entry it walks.

use crate::{check, t, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{KeySet, Store};
use kvs::sync::{thread, Arc};

/// Property: snapshot `Y`, taken after `DELETE [a]`, is read while the end
/// of an older snapshot `X` sweeps (retiring `a`'s entry) and a writer
/// writes `a` again (into the dead entry or a fresh one): `Y` holds exactly
/// `b = 0`, whether its walk meets the live tombstone, the retired entry,
/// or the fresh entry.
///
/// Relies on: the writer's Release CAS linking its version into the fresh
/// entry, paired with the iteration's Acquire head load (the iteration may
/// read the new version's record only after it is published), and a
/// registered snapshot's floor and watermark checks never failing (every
/// retirement's horizon is at most `Y`'s timestamp).
#[test]
fn a_snapshot_iterating_past_a_retired_and_replaced_entry_sees_its_instant() {
    check(Some(2), || {
        iterate_past_a_retirement(LockFreeStore::with_snapshot_seats(2))
    });
}

/// Property: as above, with the reclamation stand-in that frees retired
/// chains as early as crossbeam-epoch could: neither the iteration nor the
/// writer reads a version of the retired entry after its free (loom
/// reports it).
///
/// Relies on: the retirement unlinking the chain (its marker CAS) before
/// it retires it, and every traversal running pinned, so the free waits
/// for every thread that loaded the head before the unlink. (Kept apart
/// from the model above: under loom the stand-in's SeqCst fences add
/// happens-before edges that would blunt that model's ordering check.)
#[test]
fn a_snapshot_never_reads_a_retired_entry_after_its_free() {
    check(Some(1), || {
        iterate_past_a_retirement(LockFreeStore::with_eager_reclamation(2))
    });
}

fn iterate_past_a_retirement(store: LockFreeStore) {
    let store = Arc::new(store);
    write(&*store, &[("a", "0"), ("b", "0")]);
    let older = store.snapshot();
    store.delete(&KeySet::from_keys([t("a")]));
    let newer = store.snapshot();
    let start = StartLine::new();
    let ender = {
        let start = Arc::clone(&start);
        thread::spawn(move || {
            start.cross();
            drop(older);
        })
    };
    let writer = {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        thread::spawn(move || {
            start.cross();
            write(&*store, &[("a", "1")]);
        })
    };
    start.cross();
    assert_eq!(newer.into_sorted_pairs(), [(t("b"), t("0"))]);
    ender.join().unwrap();
    writer.join().unwrap();
}
