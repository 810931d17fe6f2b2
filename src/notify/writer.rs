//! A slot's pipe writer: merges the workers' rings into commit order and
//! writes the notifications of the slot's current session to its FIFO,
//! many per `write` call.
//!
//! The rings are the only buffer a worker writes to, and a full ring ends
//! the client's session, so the writer keeps them empty: it drains them
//! into its merge queues every round, and also while it waits for a client's
//! full pipe to accept more, up to
//! [`Layout::held_limit`](super::Layout::held_limit) notes. A client that
//! keeps reading therefore only loses its session when a burst outruns the
//! rings *and* those queues. After a burst, the queues and the byte buffer give
//! their memory back down to a small floor.
//!
//! The bytes on the pipe are the server's wire format, which this module
//! does not know: a [`Wire`] encodes each note and writes the bytes.

use super::port::Note;
use super::slots::Slot;
use super::NoteMerger;
use std::fs::File;
use std::io;
// std: the server's flag that stops the writer; the loom models drive the
// writer's parts, never its loop.
#[allow(clippy::disallowed_types)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How notes go out on a client's notification pipe.
pub trait Wire {
    /// The bytes one encoded note takes.
    const NOTE_LEN: usize;

    /// Appends the wire form of `note` to `bytes`.
    fn encode(note: &Note, bytes: &mut Vec<u8>);

    /// Writes all of `bytes` to the non-blocking `pipe`. Each time the pipe
    /// is full, calls `while_full` and then waits up to `wait` for room.
    /// Fails with `Interrupted` when `stop()` says so, and with
    /// `BrokenPipe` when the client is gone.
    fn write_all(
        pipe: &mut File,
        bytes: &[u8],
        stop: impl Fn() -> bool,
        wait: Duration,
        while_full: impl FnMut(),
    ) -> io::Result<()>;
}

/// How long the writer sleeps with nothing to do, unless woken.
const IDLE_NAP: Duration = Duration::from_millis(50);
/// Rounds the writer yields the processor (rather than sleeping) while notes
/// wait in the merge queues for a worker inside a commit: the wait is one
/// commit and its pushes, a few microseconds, far less than a timed sleep.
const HELD_YIELDS: u32 = 256;
/// How long it sleeps once that many yields did not free the notes (the
/// worker lost its processor mid-commit).
const HELD_NAP: Duration = Duration::from_micros(50);
/// How long one wait for a full pipe lasts before the writer drains the
/// rings again.
const PIPE_WAIT: Duration = Duration::from_millis(1);
/// Notes the merge queues keep room for after a burst.
const KEEP_NOTES: usize = 1024;

/// Runs until `shutdown` is set, holding at most `limit` notes in the merge
/// queues while the client's pipe is full (see
/// [`Layout::held_limit`](super::Layout::held_limit)); then delivers what
/// is committed (see `deliver_last`) and marks the slot's writer done,
/// also if it panics: the session's manager closes the pipes only then.
#[allow(clippy::disallowed_types)] // std: see the import.
pub fn run<W: Wire>(slot: &Slot, mut merger: NoteMerger, limit: usize, shutdown: &AtomicBool) {
    let _done = MarkDoneOnDrop(slot);
    let mut ready = Vec::new();
    let mut bytes = Vec::new();
    let mut held_rounds = 0;
    // Acquire: pairs with a Release store made after the producers stopped
    // (the bench's), so the last round sees all their pushes; a Relaxed
    // stop (the server's, with jobs still running) gets what the rings
    // hold when that round runs.
    while !shutdown.load(Ordering::Acquire) {
        ready.clear();
        merger.collect_ready(&mut ready);
        if !ready.is_empty() {
            held_rounds = 0;
            let mut pipe = Draining {
                merger: &mut merger,
                limit,
            };
            deliver::<W>(slot, &ready, &mut bytes, &mut pipe, shutdown);
            continue;
        }
        if merger.held() > 0 {
            wait_for_commit(&mut held_rounds);
            continue;
        }
        held_rounds = 0;
        shrink::<W>(&mut merger, &mut ready, &mut bytes);
        // The re-check covers a shutdown as well as a push: both are stored
        // before the doorbell rings, so the doorbell's fences order them
        // before the re-check or make the ring wake the park. The timeout
        // bounds how long a session end could go unnoticed if a ring ever
        // raced the park.
        slot.doorbell().park_unless(
            // Relaxed: a stop request carries no data; the doorbell's
            // fences order it (see `Doorbell::park_unless`).
            || merger.rings_nonempty() || shutdown.load(Ordering::Relaxed),
            IDLE_NAP,
        );
    }
    deliver_last::<W>(slot, merger, limit, shutdown, LAST_ROUND_WAIT);
}

/// How long the last delivery waits for commits still in progress (a
/// commit takes microseconds; a worker preempted mid-commit, a time slice).
const LAST_ROUND_WAIT: Duration = Duration::from_millis(20);

/// The last delivery, once `shutdown` is set: the notes of every commit
/// that has finished, waiting up to `wait` ([`LAST_ROUND_WAIT`]) for the
/// notes the merge holds back behind a commit still in progress, writing only
/// what the client's pipe has room for (`shutdown` stops any wait on it).
/// So a write that committed before the stop was seen is not lost with the
/// pipe writer.
#[allow(clippy::disallowed_types)] // std: see the import.
pub(super) fn deliver_last<W: Wire>(
    slot: &Slot,
    mut merger: NoteMerger,
    limit: usize,
    shutdown: &AtomicBool,
    wait: Duration,
) {
    let (mut ready, mut bytes) = (Vec::new(), Vec::new());
    let give_up = Instant::now() + wait;
    let mut held_rounds = 0;
    loop {
        ready.clear();
        merger.collect_ready(&mut ready);
        let mut pipe = Draining {
            merger: &mut merger,
            limit,
        };
        deliver::<W>(slot, &ready, &mut bytes, &mut pipe, shutdown);
        if merger.held() == 0 || Instant::now() >= give_up {
            return;
        }
        wait_for_commit(&mut held_rounds);
    }
}

/// Marks the slot's pipe writer done when dropped: after its last delivery,
/// or when it panics (so that shutdown still ends the slot's session).
struct MarkDoneOnDrop<'a>(&'a Slot);

impl Drop for MarkDoneOnDrop<'_> {
    fn drop(&mut self) {
        self.0.mark_writer_done();
    }
}

/// Waits for a worker inside a commit to finish it (no push will announce
/// that): yields first, then naps.
fn wait_for_commit(held_rounds: &mut u32) {
    if *held_rounds < HELD_YIELDS {
        *held_rounds += 1;
        thread::yield_now();
    } else {
        thread::sleep(HELD_NAP);
    }
}

/// Gives back what a burst grew, once the writer is idle.
fn shrink<W: Wire>(merger: &mut NoteMerger, ready: &mut Vec<Note>, bytes: &mut Vec<u8>) {
    merger.shrink(KEEP_NOTES);
    ready.shrink_to(KEEP_NOTES);
    bytes.shrink_to(KEEP_NOTES * W::NOTE_LEN);
}

/// The notes of `notes` that may go to the session `generation`: those
/// tagged with it, and none at all once that session has ended.
///
/// The end check must come after the drain that produced `notes`: a worker
/// that finds the session's ring full ends the session (Release) before its
/// watermark goes idle, and any note committed after the one it could not
/// push reaches this writer only through a drain or a watermark read that
/// synchronizes with that end. So no note after a missing one is ever
/// delivered. (Modelled in `loom_tests/session_end.rs`.)
pub fn deliverable<'a>(
    slot: &Slot,
    generation: u64,
    notes: &'a [Note],
) -> impl Iterator<Item = &'a Note> + 'a {
    let live = !slot.is_ended(generation);
    notes
        .iter()
        .filter(move |note| live && note.generation == generation)
}

/// What the writer does while a client's pipe is full: keep the rings empty.
struct Draining<'a> {
    merger: &'a mut NoteMerger,
    limit: usize,
}

/// Writes the notes of the slot's current session to its pipe; drops the
/// rest (they were meant for an earlier session, or there is no client).
#[allow(clippy::disallowed_types)] // std: see the import.
fn deliver<W: Wire>(
    slot: &Slot,
    notes: &[Note],
    bytes: &mut Vec<u8>,
    draining: &mut Draining<'_>,
    shutdown: &AtomicBool,
) {
    let mut session = slot.lock_writer();
    let Some(current) = session.as_mut() else {
        return;
    };
    let generation = current.generation;
    bytes.clear();
    for note in deliverable(slot, generation, notes) {
        W::encode(note, bytes);
    }
    if bytes.is_empty() {
        return;
    }
    let stop = || {
        // Relaxed: a stop request carries no data.
        slot.is_ended(generation) || shutdown.load(Ordering::Relaxed)
    };
    // While the pipe is full, keep the rings empty.
    let drain = || draining.merger.absorb(draining.limit);
    if let Err(error) = W::write_all(&mut current.pipe, bytes, stop, PIPE_WAIT, drain) {
        tracing::info!(%error, generation, "notification pipe closed");
        slot.end(generation);
    }
}
