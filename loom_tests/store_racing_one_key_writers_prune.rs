//! Model 19: two one-key writers of one key racing for its pruning claim
//! leave the chain pruned.

use crate::{check, read, spawn_writer, store_with_a_written_twice, t, StartLine};

/// Property: `a` holds `a=1 (ts 2) → a=0 (ts 1)` and no snapshot is open;
/// writers X (`WRITE [(a,2)]`) and Y (`WRITE [(a,3)]`) then run in
/// parallel, each with a horizon of at least 2, so `a=0` is garbage to
/// both. Whichever takes the chain's pruning claim must cut it, from the
/// head it finds under the claim (the other one, finding the claim held,
/// leaves the chain to it): once both have returned, a read sees the later
/// write, and every retired version has been freed, at most three
/// versions are alive (`a=3`, `a=2` and `a=1`). A claimant that gave up because the other writer linked
/// meanwhile (trusting it to prune, while that one trusted the claimant)
/// leaves four; repeated, a key's chain would grow without bound with no
/// snapshot open and nothing queued to tidy it.
///
/// Relies on: `Inner::prune_below` cutting from the head it reloads under
/// the claim, whatever that head is. A claimant that stops when the head
/// moved since its writer read it (as the first version of pruning before
/// the link did) fails the model from two preemptions on: four versions
/// stay alive.
#[test]
fn two_racing_writers_of_one_key_leave_it_pruned() {
    check(Some(3), || {
        let store = store_with_a_written_twice();
        let start = StartLine::new();
        let x = spawn_writer(&store, &start, &[("a", "2")]);
        let y = spawn_writer(&store, &start, &[("a", "3")]);
        start.cross();
        let (ts_x, ts_y) = (x.join().unwrap(), y.join().unwrap());
        assert_ne!(ts_x, ts_y, "two commits share a timestamp");
        // A read after both: the later write's value. Its unpin also frees
        // what the writers' own unpins left (a stale slot word keeps
        // garbage blocked, `reclaim/epoch.rs`).
        let last = if ts_x > ts_y { t("2") } else { t("3") };
        assert_eq!(read(&*store, &["a"]), [Some(last)]);
        let live = store.live_versions();
        assert!(live <= 3, "{live} versions alive after both writes");
    });
}
