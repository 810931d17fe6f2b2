//! Unit tests of the lock-free engine: semantics, and bounded memory.

use super::*;
use crate::sync::testing::StopOnDrop;
use crate::token::Token;

fn t(s: &str) -> Token {
    Token::try_from(s).unwrap()
}

fn write(store: &LockFreeStore, pairs: &[(&str, &str)]) -> Timestamp {
    store.write(&WriteSet::from_pairs(
        pairs.iter().map(|(k, v)| (t(k), t(v))),
    ))
}

fn read(store: &LockFreeStore, keys: &[&str]) -> Vec<Option<Value>> {
    let mut out = Vec::new();
    store.read(&KeySet::from_keys(keys.iter().map(|k| t(k))), &mut out);
    out
}

fn delete(store: &LockFreeStore, keys: &[&str]) -> Deletion {
    store.delete(&KeySet::from_keys(keys.iter().map(|k| t(k))))
}

/// Runs crossbeam-epoch's deferred frees, and frees what they put on this
/// thread's ready list, until `count` is at most `bound`, or gives up after
/// a while (other tests in this process pin the epoch too, so a collection
/// may need a few rounds, and may run on their threads, which free it in
/// their next operations or when they exit); returns the count.
fn settle_count(store: &LockFreeStore, bound: usize, count: impl Fn() -> usize) -> usize {
    for _ in 0..10_000 {
        for _ in 0..64 {
            crossbeam_epoch::pin().flush();
        }
        store.inner.reclaim.free_ready();
        if count() <= bound {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    count()
}

/// [`settle_count`] on the live versions.
fn settle(store: &LockFreeStore, bound: usize) -> usize {
    settle_count(store, bound, || store.live_versions())
}

#[test]
fn reads_what_was_written_and_missing_keys_as_none() {
    let store = LockFreeStore::new();
    let ts1 = write(&store, &[("b", "2"), ("a", "1")]);
    let ts2 = write(&store, &[("a", "3")]);
    assert!(ts2 > ts1);
    assert_eq!(
        read(&store, &["a", "b", "c"]),
        vec![Some(t("3")), Some(t("2")), None]
    );
}

#[test]
fn delete_reports_presence_and_timestamp() {
    let store = LockFreeStore::new();
    write(&store, &[("a", "1")]);
    let d = delete(&store, &["a", "z"]);
    assert_eq!(d.removed[..], [true, false]);
    assert!(d.ts.is_some());
    assert_eq!(read(&store, &["a"]), vec![None]);
    let d = delete(&store, &["a", "z"]);
    assert_eq!(
        d,
        Deletion {
            removed: smallvec::smallvec![false, false],
            ts: None
        }
    );
    assert_eq!(delete(&store, &[]).ts, None);
    write(&store, &[("a", "again")]);
    assert_eq!(read(&store, &["a"]), vec![Some(t("again"))]);
}

#[test]
fn snapshot_keeps_its_instant_while_writes_go_on() {
    let store = LockFreeStore::new();
    write(&store, &[("a", "1"), ("b", "1")]);
    let snap = store.snapshot();
    write(&store, &[("a", "2"), ("c", "2")]);
    delete(&store, &["b"]);
    let pairs = snap.into_sorted_pairs();
    assert_eq!(pairs, vec![(t("a"), t("1")), (t("b"), t("1"))]);
    let now = store.snapshot().into_sorted_pairs();
    assert_eq!(now, vec![(t("a"), t("2")), (t("c"), t("2"))]);
}

#[test]
fn a_pending_commit_does_not_block_readers_and_lands_after_them() {
    let store = LockFreeStore::new();
    write(&store, &[("a", "0"), ("b", "0")]);
    let batch = WriteSet::from_pairs([(t("a"), t("1")), (t("b"), t("1"))]);
    let ts = store.write_pausing(&batch, || {
        // The commit is pending: a reader finishes and sees none of it.
        assert_eq!(read(&store, &["a", "b"]), vec![Some(t("0")), Some(t("0"))]);
        let snap = store.snapshot();
        assert_eq!(
            snap.into_sorted_pairs(),
            vec![(t("a"), t("0")), (t("b"), t("0"))]
        );
    });
    assert_eq!(read(&store, &["a", "b"]), vec![Some(t("1")), Some(t("1"))]);
    assert!(store.inner.clock.now() >= ts);
}

/// How long a test waits for another thread to do what it must; far
/// above what that takes, so reaching it means it never happens.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs `work` on a thread of `scope` and returns what it returned, or
/// `None` if it has not finished within [`PATIENCE`]. For a caller holding
/// a commit the work may be stuck behind: it must not join that thread.
fn beside<'scope, R: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    work: impl FnOnce() -> R + Send + 'scope,
) -> Option<R> {
    let (done, finished) = std::sync::mpsc::channel();
    scope.spawn(move || {
        let _ = done.send(work());
    });
    finished.recv_timeout(PATIENCE).ok()
}

#[test]
fn a_writer_that_meets_a_command_between_two_links_aborts_it_and_the_command_starts_again() {
    let store = &LockFreeStore::new();
    write(store, &[("a", "0"), ("b", "0")]);
    let batch = WriteSet::from_pairs([(t("a"), t("1")), (t("b"), t("1"))]);
    let mut other = None;
    let ts_held = std::thread::scope(|scope| {
        store.write_pausing_after_first_link(&batch, || {
            // "a" holds our pending version and the record is not ready, so
            // a writer of "a" can neither help nor pass: it waits a little,
            // then aborts our command and finishes while we are still held
            // here. (No assertion in here: a panic would leave our version
            // pending.)
            other = beside(scope, || {
                let ts = write(store, &[("a", "2")]);
                (ts, read(store, &["a", "b"]))
            });
        })
    });
    let (ts_other, seen) = other.expect("the writer did not get past a command between two links");
    assert_eq!(
        seen,
        vec![Some(t("2")), Some(t("0"))],
        "an aborted version was seen"
    );
    assert_eq!(store.pending_waits(), 1, "one link waited");
    assert_eq!(store.aborts(), 1, "one abort");
    assert_eq!(store.helps(), 0);
    // Our command started again after the abort, so it is the newer.
    assert!(ts_held > ts_other);
    assert_eq!(read(store, &["a", "b"]), vec![Some(t("1")), Some(t("1"))]);
    assert!(store.inner.clock.now() >= ts_held);
}

#[test]
fn an_aborted_delete_starts_again_and_reports_presence_at_its_commit() {
    let store = &LockFreeStore::new();
    write(store, &[("a", "0")]);
    let keys = KeySet::from_keys([t("a"), t("b")]);
    let mut other = false;
    let deletion = std::thread::scope(|scope| {
        store.delete_pausing_after_first_link(&keys, || {
            // Our tombstone on "a" is linked, not ready: a writer of "a"
            // aborts the delete, and a writer of "b" creates it meanwhile.
            other = beside(scope, || {
                write(store, &[("a", "1")]);
                write(store, &[("b", "1")]);
            })
            .is_some();
        })
    });
    assert!(
        other,
        "the writers did not get past a delete between two links"
    );
    assert_eq!(store.aborts(), 1, "one abort");
    // Started again after both writes: it removed both keys, and says so.
    assert_eq!(deletion.removed.as_slice(), &[true, true]);
    assert_eq!(read(store, &["a", "b"]), vec![None, None]);
}

/// A store in which `a` = 0 and `b` = 0 were written, then a command
/// writing both = 1 was aborted between its links by a writer of `a` (as
/// above) and started again.
fn store_after_one_abort() -> LockFreeStore {
    let store = LockFreeStore::new();
    write(&store, &[("a", "0"), ("b", "0")]);
    let batch = WriteSet::from_pairs([(t("a"), t("1")), (t("b"), t("1"))]);
    let held = &store;
    std::thread::scope(|scope| {
        held.write_pausing_after_first_link(&batch, || {
            let _ = beside(scope, || write(held, &[("a", "2")]));
        });
    });
    assert_eq!(store.aborts(), 1, "one abort");
    store
}

#[test]
fn versions_of_an_aborted_attempt_are_freed_once_overwritten() {
    let store = &store_after_one_abort();
    for i in 0..4 {
        write(store, &[("a", &i.to_string()), ("b", &i.to_string())]);
    }
    // Each key keeps its newest version (and at most one below it until
    // its next write): the two aborted versions are gone.
    let live = settle(store, 4);
    assert!(live <= 4, "{live} versions alive");
}

#[test]
fn an_aborted_attempt_settles_its_versions_so_its_record_can_go() {
    let store = &store_after_one_abort();
    // The aborted "b" was linked above the committed "b" = 0, so no cut has
    // taken it yet: it is in "b"'s chain, below the retry's version. Its
    // own word must decide it, or its record could never be retired.
    let guard = store.inner.index.guard();
    let _pin = store.inner.reclaim.pin();
    let entry = store.inner.index.get(&t("b"), &guard).expect("b exists");
    let mut aborted = Vec::new();
    // Acquire: pairs with the Release CAS that linked each version.
    let mut p = entry.head.load(Ordering::Acquire);
    while !version::is_chain_end(p) {
        // SAFETY: reached from the index under our pin: not freed before
        // the pin ends.
        let one = unsafe { &*p };
        if one.state() == version::State::Aborted {
            aborted.push(one.is_settled());
        }
        // Acquire: as the head's load.
        p = one.next.load(Ordering::Acquire);
    }
    assert_eq!(aborted, [true], "the aborted version, settled");
    assert_eq!(read(store, &["a", "b"]), [Some(t("1")), Some(t("1"))]);
}

// Records are counted in debug builds only (`reclaim.rs`).
#[cfg(debug_assertions)]
#[test]
fn every_several_key_command_frees_its_record() {
    // Committed, aborted and retried commands, deletes, a set of more keys
    // than the inline three, and two threads writing the same keys at once.
    let store = &store_after_one_abort();
    for i in 0..50 {
        let v = i.to_string();
        write(
            store,
            &[("a", &v), ("b", &v), ("c", &v), ("d", &v), ("e", &v)],
        );
        delete(store, &["c", "d"]);
    }
    std::thread::scope(|scope| {
        for id in 0..2 {
            scope.spawn(move || {
                for i in 0..2_000 {
                    let v = format!("{id}-{i}");
                    write(store, &[("a", &v), ("b", &v)]);
                }
            });
        }
    });
    let live = settle_count(store, 0, || store.inner.reclaim.live_records());
    assert_eq!(live, 0, "{live} shared records never freed");
}

#[test]
fn a_writer_that_meets_a_ready_command_commits_it_instead_of_waiting() {
    let store = &LockFreeStore::new();
    let batch = WriteSet::from_pairs([(t("a"), t("1")), (t("b"), t("1"))]);
    let mut got_past = false;
    std::thread::scope(|scope| {
        store.write_pausing(&batch, || {
            // Ready, not committed: a writer of "a" commits us and goes on
            // while we are still held here. (No assertion in here: see the
            // test above.)
            got_past = beside(scope, || write(store, &[("a", "2")])).is_some();
        });
    });
    assert!(got_past, "the writer did not get past a ready command");
    assert_eq!(store.pending_waits(), 0);
    assert_eq!(store.helps(), 1, "one helped commit");
    assert_eq!(read(store, &["a", "b"]), vec![Some(t("2")), Some(t("1"))]);
}

#[test]
fn a_one_key_writer_stopped_right_after_its_link_stops_nobody() {
    let store = &LockFreeStore::new();
    write(store, &[("a", "0")]);
    let batch = WriteSet::from_pairs([(t("a"), t("1"))]);
    let mut got_past = false;
    let ts_held = std::thread::scope(|scope| {
        store.write_pausing_after_first_link(&batch, || {
            // Our one version is linked, hence ready: a writer of "a"
            // commits it for us and links above it while we are held
            // here, before any step of our own commit. (No assertion in
            // here: see the test above.)
            got_past = beside(scope, || write(store, &[("a", "2")])).is_some();
        })
    });
    assert!(got_past, "the writer did not get past a one-key command");
    assert_eq!(store.pending_waits(), 0);
    assert_eq!(store.helps(), 1, "one helped commit");
    // The held command committed first (its helper did it), so "2" stands.
    assert_eq!(read(store, &["a"]), vec![Some(t("2"))]);
    assert!(store.inner.clock.now() > ts_held);
}

#[test]
fn an_overwritten_key_holds_a_bounded_number_of_versions() {
    let store = LockFreeStore::new();
    for i in 0..1_000_000u32 {
        write(&store, &[("hot", &i.to_string())]);
    }
    assert_eq!(read(&store, &["hot"]), vec![Some(t("999999"))]);
    let live = settle(&store, 4);
    assert!(live <= 4, "{live} versions live after 1,000,000 overwrites");
}

#[test]
fn versions_pinned_by_a_long_snapshot_are_freed_after_it_ends() {
    let store = LockFreeStore::new();
    let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    for key in &keys {
        write(&store, &[(key, "0")]);
    }
    let snap = store.snapshot();
    for round in 1..=50 {
        for key in &keys {
            write(&store, &[(key, &round.to_string())]);
        }
    }
    // The snapshot pins the version it sees plus every newer one.
    assert!(store.live_versions() >= 100 * 50);
    let pairs = snap.into_sorted_pairs();
    assert!(pairs.iter().all(|(_, v)| *v == t("0")));
    assert_eq!(pairs.len(), 100);
    // One more write per key prunes what the snapshot pinned.
    for key in &keys {
        write(&store, &[(key, "last")]);
    }
    let live = settle(&store, 2 * 100);
    assert!(live <= 2 * 100, "{live} versions live for 100 keys");
}

#[test]
fn deleted_keys_are_retired_now_or_when_the_last_snapshot_ends() {
    let store = LockFreeStore::with_retirement_delay(0);
    for i in 0..100 {
        write(&store, &[(&format!("k{i}"), "v")]);
    }
    for i in 0..50 {
        delete(&store, &[&format!("k{i}")]);
    }
    assert_eq!(settle(&store, 50), 50);
    assert_eq!(store.inner.index.len(), 50);
    let snap = store.snapshot();
    for i in 50..100 {
        delete(&store, &[&format!("k{i}")]);
    }
    // The snapshot still sees the keys deleted after it.
    assert_eq!(snap.into_sorted_pairs().len(), 50);
    assert_eq!(settle(&store, 0), 0);
    assert_eq!(store.inner.index.len(), 0);
    assert!(store.snapshot().into_sorted_pairs().is_empty());
}

#[test]
fn writes_racing_deletes_of_the_same_key_are_never_lost() {
    // Delay 0: each delete retires its own entry, racing the write. Delay 1:
    // each delete retires the previous round's dead key if still dead.
    for delay in [0, 1] {
        let store = std::sync::Arc::new(LockFreeStore::with_retirement_delay(delay));
        writes_racing_deletes(&store);
    }
}

fn writes_racing_deletes(store: &std::sync::Arc<LockFreeStore>) {
    use std::sync::Barrier;
    for round in 0..2_000u32 {
        write(store, &[("k", "old")]);
        let barrier = std::sync::Arc::new(Barrier::new(2));
        let deleter = {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                delete(&store, &["k"]).ts
            })
        };
        barrier.wait();
        let value = round.to_string();
        let wts = write(store, &[("k", &value)]);
        let dts = deleter.join().unwrap();
        let expected = match dts {
            Some(dts) if dts > wts => None,
            _ => Some(t(&value)),
        };
        assert_eq!(read(store, &["k"]), vec![expected], "round {round}");
    }
}

#[test]
fn a_long_traversal_that_yields_unpinned_does_not_hold_back_frees() {
    // A snapshot of a large store yields unpinned every `ENTRIES_PER_PIN`
    // entries so that versions retired meanwhile can be freed. Emulate it
    // on a fresh thread (no outer pin): retire a chain, then keep the
    // traversal's pin while passing through `unpinned` and helping
    // collection; the chain must be freed.
    let store = std::sync::Arc::new(LockFreeStore::new());
    let inner = std::sync::Arc::clone(&store.inner);
    let freed = std::thread::spawn(move || {
        let mut pin = inner.reclaim.pin();
        let first = inner.reclaim.alloc(None, std::ptr::null());
        // SAFETY: never published; retired once.
        unsafe { inner.reclaim.retire(first, &pin) };
        for _ in 0..2_000 {
            inner.reclaim.unpinned(&mut pin, || ());
            for _ in 0..64 {
                crossbeam_epoch::pin().flush();
            }
            inner.reclaim.free_ready();
            if inner.reclaim.live() == 0 {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        false
    })
    .join()
    .unwrap();
    assert!(freed, "a re-pinning traversal still holds back the free");
}

#[test]
fn deleted_keys_are_retired_while_snapshots_keep_overlapping() {
    // A server taking periodic SHOWs or BACKUPs that overlap never has zero
    // snapshots registered. Tombstones older than every open snapshot must
    // still be retired, or dead keys pile up for as long as the overlap
    // lasts.
    let store = LockFreeStore::with_retirement_delay(0);
    let mut held = store.snapshot();
    for round in 0..200 {
        let key = format!("k{round}");
        write(&store, &[(&key, "v")]);
        delete(&store, &[&key]);
        let next = store.snapshot();
        drop(held);
        held = next;
    }
    // Only `held` is open, and every key was deleted before it was taken.
    let last = store.snapshot();
    assert!(held.into_sorted_pairs().is_empty());
    let live = settle(&store, 2);
    assert!(live <= 2, "{live} versions of deleted keys still live");
    assert!(store.inner.index.len() <= 1);
    drop(last);
}

#[test]
fn pairs_written_and_deleted_together_are_never_seen_apart() {
    // Writers set and delete pairs `(xi, yi)` as one command each, several
    // writers per pair, so deletes retire entries that racing writes
    // replace. Reads and overlapping snapshots must see every pair whole:
    // both keys with the same value, or both absent. Once everything has
    // ended, no dead key may remain unretired but those the retirement
    // delay lets wait.
    for delay in [0, 2] {
        pairs_never_seen_apart(delay);
    }
}

fn pairs_never_seen_apart(delay: usize) {
    use std::sync::atomic::AtomicBool;
    const PAIRS: usize = 4;
    const WRITERS: usize = 4;
    const OPS: usize = 4_000;
    let owned: Vec<(String, String)> = (0..PAIRS)
        .map(|i| (format!("x{i}"), format!("y{i}")))
        .collect();
    let keys = &owned;
    let mut all: Vec<&str> = keys
        .iter()
        .flat_map(|(x, y)| [x.as_str(), y.as_str()])
        .collect();
    all.sort_unstable();
    let all = &all;
    let store = std::sync::Arc::new(LockFreeStore::with_retirement_delay(delay));
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let check = |values: &[Option<Value>]| {
        for pair in values.chunks(2) {
            assert_eq!(pair[0], pair[1], "a pair seen apart: {values:?}");
        }
    };
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = &store;
                scope.spawn(move || {
                    for op in 0..OPS {
                        let (x, y) = &keys[(op + w) % PAIRS];
                        if (op / PAIRS + w) % 3 == 0 {
                            delete(store, &[x, y]);
                        } else {
                            let value = format!("{w}.{op}");
                            write(store, &[(x, &value), (y, &value)]);
                        }
                    }
                })
            })
            .collect();
        let (store_r, done_r) = (&store, &done);
        scope.spawn(move || {
            // Relaxed: a stop flag; the scope's join orders everything.
            while !done_r.load(Ordering::Relaxed) {
                // Sorted keys: x0..x3, y0..y3; pair i is (all[i], all[i + 4]).
                let values = read(store_r, all);
                let (xs, ys) = values.split_at(PAIRS);
                assert_eq!(xs, ys, "a pair seen apart: {values:?}");
            }
        });
        let (store_s, done_s) = (&store, &done);
        scope.spawn(move || {
            let mut held = store_s.snapshot();
            // Relaxed: a stop flag; the scope's join orders everything.
            while !done_s.load(Ordering::Relaxed) {
                let next = store_s.snapshot();
                let pairs = held.into_sorted_pairs();
                let mut values = Vec::new();
                for (x, y) in keys {
                    let find = |k: &str| pairs.iter().find(|p| p.0 == t(k)).map(|p| p.1);
                    values.push(find(x));
                    values.push(find(y));
                }
                check(&values);
                held = next;
            }
        });
        // Stops the checkers even when a writer's join panics; otherwise
        // the scope would wait for them forever.
        let _stop = StopOnDrop(&done);
        for writer in writers {
            writer.join().unwrap();
        }
    });
    // Each delete retires dead keys while more than `delay` wait, up to one
    // more than it queued; racing deletes may each stop at a count another
    // one's push then raised, by at most a command's keys each.
    let slack = if delay == 0 { 0 } else { 2 * WRITERS };
    let unretired = store.unretired_tombstones();
    assert!(
        unretired <= delay + slack,
        "{unretired} dead keys left unretired (delay {delay})"
    );
    // Versions written while the last snapshots were open stay until each
    // key's next write (`paper.md` §4, "When memory is freed").
    for (x, y) in keys {
        write(&store, &[(x, "last"), (y, "last")]);
    }
    let live = settle(&store, 2 * all.len());
    assert!(
        live <= 2 * all.len(),
        "{live} versions for {} keys",
        all.len()
    );
}

#[test]
fn a_key_recreated_across_a_deletion_is_never_read_absent_too_early() {
    // The stale-floor race of loom model `store_stale_floor`, at scale: for
    // each pair `(ji, ki)` one writer runs `WRITE [(ji,pN)(ki,pN)]`,
    // `WRITE [(ji,qN)]`, `DELETE [ki]`, while others keep writing `ki = a`
    // (each such write on an absent `ki` creates a fresh entry), and readers
    // read every pair at once. Whenever `ji` holds `pN`, `ki` holds `pN` or
    // `a`: never nothing. With each delete retiring its own entry, and with
    // dead entries kept one dead key longer (then retired by later deletes
    // while the recreators write into them).
    for delay in [0, 1] {
        recreated_never_absent_too_early(&LockFreeStore::with_retirement_delay(delay));
    }
}

fn recreated_never_absent_too_early(store: &LockFreeStore) {
    use std::sync::atomic::AtomicBool;
    const PAIRS: usize = 8;
    const ROUNDS: usize = 20_000;
    let owned: Vec<(String, String)> = (0..PAIRS)
        .map(|i| (format!("j{i}"), format!("k{i}")))
        .collect();
    let pairs = &owned;
    let mut all: Vec<&str> = pairs
        .iter()
        .flat_map(|(j, k)| [j.as_str(), k.as_str()])
        .collect();
    all.sort_unstable();
    let all = &all;
    let done = &AtomicBool::new(false);
    std::thread::scope(|scope| {
        let deleter = scope.spawn(move || {
            // A panicking deleter still stops the others.
            let _stop = StopOnDrop(done);
            for round in 0..ROUNDS {
                let (j, k) = &pairs[round % PAIRS];
                let (p, q) = (format!("p{round}"), format!("q{round}"));
                write(store, &[(j, &p), (k, &p)]);
                write(store, &[(j, &q)]);
                delete(store, &[k]);
            }
        });
        for recreator in 0..2 {
            scope.spawn(move || {
                let mut i = recreator;
                // Relaxed: a stop flag; the scope's join orders everything.
                while !done.load(Ordering::Relaxed) {
                    write(store, &[(&pairs[i % PAIRS].1, "a")]);
                    i += 1;
                }
            });
        }
        scope.spawn(move || {
            // Relaxed: as above.
            while !done.load(Ordering::Relaxed) {
                let values = read(store, all);
                for (j, k) in pairs {
                    let at = |key: &str| values[all.iter().position(|x| *x == key).unwrap()];
                    let (jv, kv) = (at(j), at(k));
                    if jv.is_some_and(|v| v.as_bytes()[0] == b'p') {
                        assert!(
                            kv == jv || kv == Some(t("a")),
                            "{j} = {jv:?} but {k} = {kv:?}"
                        );
                    }
                }
            }
        });
        deleter.join().unwrap();
    });
}

#[test]
fn a_key_written_again_soon_after_its_delete_keeps_its_entry() {
    let store = LockFreeStore::new();
    let entry_of = |key: &str| {
        let guard = store.inner.index.guard();
        store
            .inner
            .index
            .get(&t(key), &guard)
            .map(|entry| std::ptr::from_ref::<index::Entry>(&entry))
    };
    write(&store, &[("k", "1")]);
    let first = entry_of("k");
    assert!(delete(&store, &["k"]).removed[0]);
    assert_eq!(read(&store, &["k"]), [None]);
    write(&store, &[("k", "2")]);
    assert_eq!(entry_of("k"), first, "a fresh entry replaced the dead one");
    assert_eq!(read(&store, &["k"]), [Some(t("2"))]);
    // Dead keys beyond the delay are retired, oldest first.
    let dead = |i: usize| format!("d{i}");
    for i in 0..prune::RETIRE_DELAY + 10 {
        write(&store, &[(&dead(i), "v")]);
        delete(&store, &[&dead(i)]);
    }
    assert_eq!(store.unretired_tombstones(), prune::RETIRE_DELAY);
    assert_eq!(entry_of(&dead(0)), None, "the oldest dead key is retired");
    assert!(entry_of(&dead(prune::RETIRE_DELAY + 9)).is_some());
    assert_eq!(read(&store, &[&dead(0), &dead(20)]), [None, None]);
    store.sweep();
    assert_eq!(store.unretired_tombstones(), 0);
    assert_eq!(store.inner.index.len(), 1);
}

#[test]
fn deleting_only_absent_keys_changes_nothing() {
    let store = LockFreeStore::new();
    write(&store, &[("a", "1")]);
    let clock = store.inner.clock.now();
    let d = delete(&store, &["y", "z"]);
    assert_eq!(d.removed[..], [false, false]);
    assert_eq!(d.ts, None);
    // No entry was made, no commit ticked the clock, and no retirement
    // raised the watermark (which would make reads of missing keys at older
    // timestamps restart).
    assert_eq!(store.inner.index.len(), 1);
    assert_eq!(store.inner.clock.now(), clock);
    // Relaxed: the test thread is the only one.
    assert_eq!(store.inner.retired.load(Ordering::Relaxed), 0);
    assert_eq!(settle(&store, 1), 1);
}

#[test]
fn an_open_snapshot_does_not_make_hot_key_pruning_walk_the_chain() {
    // Counts versions visited by pruning, not time: with a snapshot open,
    // each write used to walk every version written since it was taken
    // (quadratic in the writes); it must cost about what it costs without.
    const WRITES: usize = 4_000;
    let store = LockFreeStore::new();
    for i in 0..WRITES {
        write(&store, &[("hot", &i.to_string())]);
    }
    let without = store.versions_walked_pruning();
    let snap = store.snapshot();
    for i in 0..WRITES {
        write(&store, &[("hot", &i.to_string())]);
    }
    let with = store.versions_walked_pruning() - without;
    drop(snap);
    assert!(
        with <= 3 * without.max(WRITES),
        "{with} versions walked by {WRITES} writes under a snapshot, {without} without"
    );
}

#[test]
fn versions_kept_by_a_snapshot_are_freed_after_it_ends_without_more_writes_to_them() {
    // One key written 10,000 times under a snapshot, and 40 more keys 100
    // times each; none of them is written again after the snapshot ends.
    // The snapshot's end and a few writes to another key (each prunes a
    // bounded number of backlogged keys) must bring every chain back to
    // O(1) versions.
    let (store, snap) = hot_chain_kept_by_a_snapshot(10_000);
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    for round in 0..100 {
        for key in &keys {
            write(&store, &[(key, &round.to_string())]);
        }
    }
    assert_eq!(snap.into_sorted_pairs(), vec![(t("hot"), t("0"))]);
    for i in 0..keys.len() {
        write(&store, &[("other", &i.to_string())]);
    }
    let bound = 2 * (keys.len() + 2);
    let live = settle(&store, bound);
    assert!(
        live <= bound,
        "{live} versions live for {} keys",
        keys.len() + 2
    );
}

#[test]
fn a_thread_pinned_mid_operation_holds_back_frees_only_until_it_unpins() {
    // The dependence epoch reclamation keeps (`paper.md` §4, "Freeing"):
    // one thread pinned, as in the middle of an operation, keeps every
    // version retired meanwhile; once it unpins they are freed.
    const WRITES: usize = 20_000;
    let store = LockFreeStore::new();
    let (pinned_tx, pinned_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _pin = crossbeam_epoch::pin();
        pinned_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    pinned_rx.recv().unwrap();
    for i in 0..WRITES {
        write(&store, &[("hot", &i.to_string())]);
    }
    // Not `settle`: the pin would hold it to its full wait, and holding the
    // pin that long would slow other tests' collections too.
    for _ in 0..64 {
        crossbeam_epoch::pin().flush();
    }
    let held = store.live_versions();
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    let live = settle(&store, 2);
    assert!(held >= WRITES / 2, "only {held} versions live behind a pin");
    assert!(live <= 2, "{live} versions live after the pin ended");
}

#[test]
fn a_tidy_step_that_finds_a_chain_claimed_leaves_its_key_queued() {
    // A tidy step never waits for a chain's pruning claim. The holder sees
    // the key still queued (the flag changes only under the claim) and
    // does not queue it again, so the tidy step must put it back, or the
    // versions a snapshot kept would stay until the key's next write.
    let (store, snap) = hot_chain_kept_by_a_snapshot(100);
    let guard = store.inner.index.guard();
    let entry = store.inner.index.get(&t("hot"), &guard).expect("written");
    let claim = entry.claim_pruning().expect("nobody else prunes now");
    drop(snap);
    for i in 0..4 {
        write(&store, &[("other", &i.to_string())]);
    }
    drop(claim);
    drop(guard);
    for i in 0..4 {
        write(&store, &[("other", &i.to_string())]);
    }
    let live = settle(&store, 4);
    assert!(live <= 4, "{live} versions live for 2 keys");
}

/// A store whose key `hot` was written `writes` more times under the
/// snapshot returned with it (taken when `hot` was `0`).
fn hot_chain_kept_by_a_snapshot(writes: usize) -> (LockFreeStore, Box<dyn Snapshot>) {
    let store = LockFreeStore::new();
    write(&store, &[("hot", "0")]);
    let snap = store.snapshot();
    for i in 0..writes {
        write(&store, &[("hot", &i.to_string())]);
    }
    (store, snap)
}

#[test]
fn a_key_pruned_past_its_queued_horizon_by_a_writer_stays_queued() {
    // `hot` is queued under the first snapshot. A write under the second
    // prunes it at the second's horizon, sees it queued and does not
    // queue it again; its own tidy step then pops `hot`'s item, stale now.
    // The item must go back, or the versions kept for the second snapshot
    // would stay after it ends until `hot` is written again.
    let store = LockFreeStore::new();
    for key in ["x", "y", "hot"] {
        write(&store, &[(key, "0")]);
    }
    let first = store.snapshot();
    for key in ["x", "x", "y", "y", "hot", "hot"] {
        write(&store, &[(key, "1")]);
    }
    let second = store.snapshot();
    // Each write under the snapshots turns the backlog by one item; stop
    // with `hot` last, so that the first snapshot's end tidies `x`, `y`.
    for i in 0.. {
        write(&store, &[("hot", &i.to_string())]);
        if i >= 100 && backlog_keys(&store).last() == Some(&t("hot")) {
            break;
        }
    }
    drop(first);
    assert_eq!(backlog_keys(&store), vec![t("hot")]);
    write(&store, &[("hot", "last")]);
    drop(second);
    for i in 0..8 {
        write(&store, &[("other", &i.to_string())]);
    }
    let live = settle(&store, 8);
    assert!(
        live <= 8,
        "{live} versions live for 4 keys after both snapshots ended"
    );
}

/// The keys on the backlog, in queue order (the queue is left as it was).
fn backlog_keys(store: &LockFreeStore) -> Vec<Key> {
    let mut items = Vec::new();
    while let Some(item) = store.inner.backlog.pop() {
        items.push(item);
    }
    for &item in &items {
        store.inner.backlog.push(item);
    }
    items.into_iter().map(|(key, _)| key).collect()
}
