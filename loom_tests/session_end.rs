//! Models of a session ending while workers push to it: a full ring (the
//! client stopped reading) and SIGUSR1's reset, racing the pipe writer.

use kvs::ring::{self, Producer};
use kvs::server::notify::Note;
use kvs::server::order::{Merger, Watermarks, WorkerGate};
use kvs::server::slots::Slot;
use kvs::server::writer::deliverable;
use kvs::store::Timestamp;
use kvs::sync::{thread, Arc, AtomicU64, Ordering};
use kvs::token::Token;
use std::fs::{File, OpenOptions};

fn null_pipe() -> File {
    OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null opens")
}

fn note(generation: u64, value: &str) -> Note {
    Note {
        generation,
        key: Token::try_from("k").expect("valid"),
        value: Some(Token::try_from(value).expect("valid")),
    }
}

/// One commit as a worker makes it (`WorkerPort::write`): announce, take a
/// timestamp, push, and on a full ring end the subscriber's session, all
/// before the watermark goes idle. Returns whether the push succeeded.
fn commit(
    gate: &mut WorkerGate,
    clock: &AtomicU64,
    ring: &mut Producer<(Timestamp, Note)>,
    slot: &Slot,
    note: Note,
) -> bool {
    let guard = gate.begin(clock);
    // AcqRel: a store clock's tick (Release, as `Store::now`'s K2 requires).
    let ts = clock.fetch_add(1, Ordering::AcqRel) + 1;
    let pushed = ring.push((ts, note)).is_ok();
    if !pushed {
        slot.end(note.generation);
    }
    guard.end();
    pushed
}

fn values(delivered: &[Note]) -> Vec<String> {
    delivered
        .iter()
        .map(|n| n.value.map(|v| v.to_string()).unwrap_or_default())
        .collect()
}

/// A worker commits three notes for one session through a ring of capacity
/// one, while the session's pipe writer runs merge rounds and delivers.
/// Whether a push finds the ring full depends on the interleaving; when one
/// does, the worker ends the session.
///
/// Property (no silent gap): what the writer delivers is always a prefix of
/// the commits, `1`, `1 2` or `1 2 3`, never a later note after a missing
/// one; and every commit is delivered when no push failed.
#[test]
fn a_full_ring_ends_the_session_without_a_gap() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let clock = Arc::new(AtomicU64::new(0));
        let (marks, mut gates) = Watermarks::new(1);
        let (mut producer, consumer) = ring::channel(1);
        let slot = Arc::new(Slot::default());
        let generation = slot.begin(null_pipe());
        let mut gate = gates.pop().expect("one gate");

        let (worker_clock, worker_slot) = (clock.clone(), slot.clone());
        let worker = thread::spawn(move || {
            ["1", "2", "3"]
                .into_iter()
                .map(|v| {
                    commit(
                        &mut gate,
                        &worker_clock,
                        &mut producer,
                        &worker_slot,
                        note(generation, v),
                    )
                })
                .collect::<Vec<bool>>()
        });

        let mut merger = Merger::new(marks, clock, vec![consumer]);
        let mut delivered = Vec::new();
        let mut round = |delivered: &mut Vec<Note>| {
            let mut ready = Vec::new();
            merger.collect_ready(&mut ready);
            delivered.extend(deliverable(&slot, generation, &ready).copied());
        };
        round(&mut delivered);
        round(&mut delivered);
        let pushed = worker.join().expect("worker");
        round(&mut delivered);

        let got = values(&delivered);
        let prefixes = [vec![], vec!["1"], vec!["1", "2"], vec!["1", "2", "3"]];
        assert!(
            prefixes.iter().any(|p| *p == got),
            "gap in delivered notes: {got:?} (pushed {pushed:?})"
        );
        if pushed.iter().all(|&ok| ok) {
            assert_eq!(got, ["1", "2", "3"], "lost a note");
        }
    });
}

/// SIGUSR1 ends the session in a slot and a new client's session begins
/// there, while a worker that looked up the old session's subscription
/// pushes a note for it.
///
/// Property: the new session never receives the old session's note, and a
/// note pushed for the old session after its end is never delivered.
#[test]
fn a_reset_never_hands_an_old_note_to_the_new_client() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let clock = Arc::new(AtomicU64::new(0));
        let (marks, mut gates) = Watermarks::new(1);
        let (mut producer, consumer) = ring::channel(2);
        let slot = Arc::new(Slot::default());
        let old = slot.begin(null_pipe());
        let mut gate = gates.pop().expect("one gate");

        let (worker_clock, worker_slot) = (clock.clone(), slot.clone());
        let worker = thread::spawn(move || {
            commit(
                &mut gate,
                &worker_clock,
                &mut producer,
                &worker_slot,
                note(old, "old"),
            );
        });
        let reset_slot = slot.clone();
        let reset = thread::spawn(move || {
            reset_slot.end_current();
            drop(reset_slot.take_writer_session());
            reset_slot.begin(null_pipe())
        });

        let mut merger = Merger::new(marks, clock, vec![consumer]);
        let mut ready = Vec::new();
        merger.collect_ready(&mut ready);
        worker.join().expect("worker");
        let new = reset.join().expect("reset");
        merger.collect_ready(&mut ready);
        assert_ne!(old, new);
        assert_eq!(
            deliverable(&slot, new, &ready).count(),
            0,
            "old note reached the new client"
        );
        assert_eq!(
            deliverable(&slot, old, &ready).count(),
            0,
            "note delivered after the end"
        );
    });
}
