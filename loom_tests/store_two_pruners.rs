//! Model 16: a writer and a tidy step cutting one chain at the same
//! version, one after the other.

use crate::{check, read, spawn_writer, write, StartLine};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::Store;
use kvs::sync::Arc;

/// Three keys written twice under the old snapshot (one command each
/// time), so that the old snapshot's end tidies two of them and not `a`
/// (the setup counts on two keys per tidy step, `TIDY_PER_OPERATION`).
const FILLER: [&[(&str, &str)]; 2] = [
    &[("b", "0"), ("c", "0"), ("e", "0")],
    &[("b", "1"), ("c", "1"), ("e", "1")],
];

/// Property: `a`'s chain is `a=2 (ts 3) → a=1 → a=0`, queued on the
/// backlog and last pruned at horizon 1; a young snapshot holds the
/// horizon at 5 while the clock reads 6. A writer of `a` (horizon 5) cuts
/// below `a=2`; the young snapshot's end, racing it, tidies `a` at the
/// clock (6), where the newest version it may cut below is still `a=2`
/// (the writer's own is pending or newer). Whichever claims the chain
/// second must see the first one's cut and retire nothing, or the tail
/// `a=1 → a=0` is retired twice (the stand-in's check when the store
/// drops reports it). Afterwards `a` reads `3`.
///
/// Relies on: the pruning claim's Acquire `fetch_or` and the Release store
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
        // `a` is queued at horizon 1 from here on (its first write, at
        // clock 0, queued it; the tidy step of the next re-queued it).
        write(&*store, &[("a", "1")]);
        write(&*store, &[("a", "2")]);
        // Queues b, c and e behind `a` (each write's tidy step then finds
        // the first key held back, puts it last and stops).
        for pairs in FILLER {
            write(&*store, pairs);
        }
        let young = store.snapshot();
        // Moves the clock past the young snapshot.
        write(&*store, &[("d", "0")]);
        // Tidies two of b, c and e at horizon 5, leaving `a` first in line.
        drop(old);
        let start = StartLine::new();
        let writer = spawn_writer(&store, &start, &[("a", "3")]);
        start.cross();
        drop(young);
        writer.join().unwrap();
        assert_eq!(read(&*store, &["a"]), [Some(crate::t("3"))]);
    });
}
