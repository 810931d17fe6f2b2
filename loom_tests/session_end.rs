//! Models of a session ending while a worker pushes to it: a full ring (the
//! client stopped reading) and SIGUSR1's reset, racing the pipe writer.
//! The worker commits through its real port (`WorkerPort`'s `Commit`), the
//! writer runs the real merge rounds and delivery filter.

use crate::{check, t, write};
use kvs::notify::subscriptions::{Subscribed, Subscriber};
use kvs::notify::writer::deliverable;
use kvs::notify::{self, Hub, Layout, Note, NoteMerger, WorkerPort};
use kvs::store::lockfree::LockFreeStore;
use kvs::store::{Commit, WriteSet};
use kvs::sync::thread;
use std::fs::{File, OpenOptions};
use std::sync::Arc;

fn null_pipe() -> File {
    OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null opens")
}

/// One worker and one session slot, whose rings hold `ring_capacity` notes,
/// over a store holding `k`; a session in the slot subscribed to `k`.
/// Returns the hub, the session's generation, the port and the merger.
fn subscribed(ring_capacity: usize) -> (Arc<Hub>, u64, WorkerPort, NoteMerger) {
    let store = Arc::new(LockFreeStore::with_snapshot_seats(1));
    write(&*store, &[("k", "0")]);
    let layout = Layout {
        sessions: 1,
        workers: 1,
        ring_capacity,
        max_subscriptions: 1,
    };
    let notify::Wiring {
        hub,
        mut ports,
        mut mergers,
    } = notify::build(store, layout);
    let generation = hub.slots()[0].begin(null_pipe());
    let subscriber = Subscriber {
        slot: 0,
        generation,
    };
    assert_eq!(hub.subscribe(t("k"), subscriber), Some(Subscribed::Made));
    let port = ports.pop().expect("one worker");
    let merger = mergers.pop().expect("one slot");
    (hub, generation, port, merger)
}

/// The worker's commit of `k = value`, as a job's `WRITE` makes it.
fn commit_k(port: &mut WorkerPort, value: &str) {
    port.write(&WriteSet::from_pairs([(t("k"), t(value))]));
}

fn values(delivered: &[Note]) -> Vec<String> {
    delivered
        .iter()
        .map(|n| n.value.map(|v| v.to_string()).unwrap_or_default())
        .collect()
}

/// A worker commits three writes of a subscribed key, for one session,
/// through a ring of capacity one, while the session's pipe writer runs
/// merge rounds and delivers. Whether a push finds the ring full depends on
/// the interleaving; when one does, the port ends the session.
///
/// Property (no silent gap): what the writer delivers is always a prefix of
/// the commits, `1`, `1 2` or `1 2 3`, never a later note after a missing
/// one; and every commit is delivered when no push failed (the session was
/// not ended).
///
/// Relies on: the port ending the session when a push finds the ring full
/// (skipping the note silently instead fails the model). With one worker,
/// the end reaches the writer through the worker's next push; that the end
/// comes before the watermark goes idle matters only across workers, which
/// this model does not cover.
#[test]
fn a_full_ring_ends_the_session_without_a_gap() {
    check(Some(3), || {
        let (hub, generation, mut port, mut merger) = subscribed(1);
        let worker = thread::spawn(move || {
            for value in ["1", "2", "3"] {
                commit_k(&mut port, value);
            }
        });
        let slot = &hub.slots()[0];
        let mut delivered = Vec::new();
        let mut round = |delivered: &mut Vec<Note>| {
            let mut ready = Vec::new();
            merger.collect_ready(&mut ready);
            delivered.extend(deliverable(slot, generation, &ready).copied());
        };
        round(&mut delivered);
        round(&mut delivered);
        worker.join().expect("worker");
        round(&mut delivered);

        let got = values(&delivered);
        let ended = slot.is_ended(generation);
        let prefixes = [vec![], vec!["1"], vec!["1", "2"], vec!["1", "2", "3"]];
        assert!(
            prefixes.iter().any(|p| *p == got),
            "gap in delivered notes: {got:?} (session ended: {ended})"
        );
        if !ended {
            assert_eq!(got, ["1", "2", "3"], "lost a note");
        }
    });
}

/// SIGUSR1 ends every session (and its subscriptions) and a new client's
/// session begins in the slot, while a worker commits a write of the key
/// the old session subscribed to.
///
/// Property: the new session never receives the old session's note,
/// whichever of the commit, the end and the new session's start comes
/// first. (That nothing reaches the old session after its end is checked
/// where it can race: the full-ring model above. Here the reset has ended
/// the old session by the time the model looks, in every interleaving.)
///
/// Relies on: the writer's delivery filter keeping only notes tagged with
/// the session's generation (dropping that test fails the model).
#[test]
fn a_reset_never_hands_an_old_note_to_the_new_client() {
    check(Some(3), || {
        let (hub, old, mut port, mut merger) = subscribed(2);
        let worker = thread::spawn(move || commit_k(&mut port, "old"));
        let reset_hub = Arc::clone(&hub);
        let reset = thread::spawn(move || {
            reset_hub.end_every_session();
            let slot = &reset_hub.slots()[0];
            drop(slot.take_writer_session());
            slot.begin(null_pipe())
        });
        let slot = &hub.slots()[0];
        let mut ready = Vec::new();
        merger.collect_ready(&mut ready);
        worker.join().expect("worker");
        let new = reset.join().expect("reset");
        merger.collect_ready(&mut ready);
        assert_ne!(old, new);
        assert_eq!(
            deliverable(slot, new, &ready).count(),
            0,
            "old note reached the new client"
        );
    });
}
