//! Models of a session ending while a worker pushes to it: a full ring (the
//! client stopped reading) and SIGUSR1's reset, racing the pipe writer; and
//! of the shutdown handoff, where the session's manager closes the pipe
//! once the pipe writer has made its last delivery. The worker commits
//! through its real port (`WorkerPort`'s `Commit`), the writer runs the real
//! merge rounds and delivery filter.

use crate::{check, t, write};
use kvs::notify::subscriptions::{Subscribed, Subscriber};
use kvs::notify::writer::{self, deliverable, Wire};
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

/// What the pipe writer "wrote to the pipe" in the current execution: a
/// loom cell, so that loom checks the manager's read of it happens after
/// every write (a real pipe's bytes are invisible to loom).
struct Captured(loom::cell::UnsafeCell<Vec<u8>>);

// SAFETY: the writer appends only inside `deliver`, under the slot's
// session mutex; the manager reads only after taking the session under the
// same mutex. Loom reports any access this does not order.
unsafe impl Sync for Captured {}

loom::lazy_static! {
    static ref CAPTURED: Captured = Captured(loom::cell::UnsafeCell::new(Vec::new()));
}

/// Notes as text lines (`k=value`), captured in [`CAPTURED`] instead of
/// written to the session's pipe.
struct LineWire;

impl Wire for LineWire {
    const NOTE_LEN: usize = 0;

    fn encode(note: &Note, bytes: &mut Vec<u8>) {
        let value = note.value.map(|v| v.to_string()).unwrap_or_default();
        bytes.extend_from_slice(format!("{}={value}\n", note.key).as_bytes());
    }

    fn write_all(
        _pipe: &mut File,
        bytes: &[u8],
        _stop: impl Fn() -> bool,
        _wait: std::time::Duration,
        _while_full: impl FnMut(),
    ) -> std::io::Result<()> {
        // SAFETY: see `Captured`.
        CAPTURED
            .0
            .with_mut(|captured| unsafe { (*captured).extend_from_slice(bytes) });
        Ok(())
    }
}

/// At shutdown a slot's pipe writer (the real `writer::run`, told to stop
/// before it starts) makes its last delivery and marks itself done, while
/// the session's manager waits for that mark and then ends the session and
/// takes its pipe back to close it, as `Session::end` does.
///
/// Property: a note committed before the shutdown has been written when
/// the manager closes the pipe, and every write of it happens before the
/// manager looks (loom checks the captured bytes' cell), however the two
/// threads interleave.
///
/// Relies on: the writer marking itself done only after its last delivery
/// (marking it at the start of `run` fails the model: the manager takes the
/// pipe first and the note is lost), and the slot's session mutex, under
/// which the writer writes and the manager takes the pipe. The done flag
/// itself carries no data and is Relaxed: a manager that reads it set
/// takes the mutex after the writer's last release of it (read-write
/// coherence), so no ordering on the flag is relied on.
// std: `writer::run`'s stop flag is the server's std flag.
#[allow(clippy::disallowed_types)]
#[test]
fn the_last_delivery_reaches_the_pipe_before_it_closes() {
    check(None, || {
        let (hub, _generation, mut port, merger) = subscribed(1);
        commit_k(&mut port, "1");
        let writer_hub = Arc::clone(&hub);
        let writer = thread::spawn(move || {
            let shutdown = std::sync::atomic::AtomicBool::new(true);
            writer::run::<LineWire>(&writer_hub.slots()[0], merger, 64, &shutdown);
        });
        let slot = &hub.slots()[0];
        while !slot.is_writer_done() {
            thread::yield_now();
        }
        slot.end_current();
        drop(slot.take_writer_session());
        // SAFETY: see `Captured`.
        let text = CAPTURED.0.with(|captured| unsafe { (*captured).clone() });
        writer.join().expect("writer");
        assert_eq!(text, b"k=1\n", "a committed note was lost at shutdown");
    });
}
