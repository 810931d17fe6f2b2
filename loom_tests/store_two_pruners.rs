//! Model 16: a writer and a tidy step cutting one chain at the same
//! version, one after the other.

use crate::{check, read, spawn_at_start, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{Store, WriteSet};
use kvs::sync::{thread, Arc};

/// Three keys written three times under the old snapshot (one command
/// each time): the second write prunes each at the horizon (1), the third
/// finds it pruned there and queues it, behind `a`. The setup counts on
/// two keys per tidy step (`TIDY_PER_OPERATION`) and on every write's tidy
/// step, under the held horizon, putting the first key queued last.
const FILLER: [&[(&str, &str)]; 3] = [
    &[("b", "0"), ("c", "0"), ("e", "0")],
    &[("b", "1"), ("c", "1"), ("e", "1")],
    &[("b", "2"), ("c", "2"), ("e", "2")],
];

/// Property: `a`'s chain is `a=2 (ts 3) → a=1 → a=0`, queued on the
/// backlog and last pruned at horizon 1; a young snapshot holds the
/// horizon at 6 while the clock reads 7. A writer of `a` (horizon 6) cuts
/// below `a=2` before it links, and yields between its cut and its link;
/// the young snapshot's end, racing it, tidies `a` at the clock (7),
/// where the newest version it may cut below is still `a=2` (the
/// writer's own is not linked, pending, or newer). Whichever claims the
/// chain second must see the first one's cut and retire nothing, or the
/// tail `a=1 → a=0` is retired twice (the stand-in's check when the store
/// drops reports it). Afterwards `a` reads `3`.
///
/// Relies on: the pruning claim's Acquire CAS and the Release store
/// that gives the claim back (`index.rs`): the second claimant reads the
/// cut `next` with a Relaxed load, ordered after the first one's store
/// only through the claim. The store frees nothing before it drops: the
/// eager stand-in's SeqCst fence in every retirement would carry the cut
/// to the other thread's next fence and hide a weakened Release.
#[test]
fn a_writer_and_a_tidy_step_cutting_at_one_version_retire_its_tail_once() {
    check(None, || {
        let store = Arc::new(LockFreeStore::with_snapshot_seats(2));
        write(&*store, &[("a", "0")]);
        let old = store.snapshot();
        // The write of 1 prunes `a` at the horizon, 1; the write of 2
        // finds it pruned there and queues it at 1.
        write(&*store, &[("a", "1")]);
        write(&*store, &[("a", "2")]);
        // Queues b, c and e behind `a`; the last write's tidy step then
        // puts `a` last: b, c, e, a.
        for pairs in FILLER {
            write(&*store, pairs);
        }
        let young = store.snapshot();
        // Moves the clock past the young snapshot; its tidy step puts `b`
        // last: c, e, a, b.
        write(&*store, &[("d", "0")]);
        // Tidies c and e at horizon 6, leaving `a` first in line.
        drop(old);
        let start = StartLine::new();
        let writer = {
            let store = Arc::clone(&store);
            spawn_at_start(&start, move || {
                let batch = WriteSet::from_pairs([(crate::t("a"), crate::t("3"))]);
                // The writer yields between its cut and its link, so that
                // the tidy step may claim the chain there and find the old
                // head, whose link has not yet published the cut.
                store.write_pausing_after_first_prune(&batch, thread::yield_now)
            })
        };
        start.cross();
        drop(young);
        writer.join().unwrap();
        assert_eq!(read(&*store, &["a"]), [Some(crate::t("3"))]);
    });
}
