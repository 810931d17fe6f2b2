//! A slot's pipe writer: merges the workers' rings into commit order and
//! writes the notifications of the slot's current session to its FIFO,
//! many per `write` call.
//!
//! The rings are the only buffer a worker writes to, and a full ring ends
//! the client's session, so the writer keeps them empty: it drains them
//! into its merge heap every round, and also while it waits for a client's
//! full pipe to accept more, up to [`held_limit`] notes. A client that
//! keeps reading therefore only loses its session when a burst outruns the
//! rings *and* that heap. After a burst, the heap and the byte buffer give
//! their memory back down to a small floor.

use super::fifo;
use super::notify::{Note, StoreClock};
use super::order::Merger;
use super::slots::Slot;
use crate::protocol::{encode_notification, NOTIFICATION_LEN};
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// How long the writer sleeps with nothing to do, unless woken.
const IDLE_NAP: Duration = Duration::from_millis(50);
/// Rounds the writer yields the processor (rather than sleeping) while notes
/// wait in the merge heap for a worker inside a commit: the wait is one
/// commit and its pushes, a few microseconds, far less than a timed sleep.
const HELD_YIELDS: u32 = 256;
/// How long it sleeps once that many yields did not free the notes (the
/// worker lost its processor mid-commit).
const HELD_NAP: Duration = Duration::from_micros(50);
/// How long one wait for a full pipe lasts before the writer drains the
/// rings again.
const PIPE_WAIT: Duration = Duration::from_millis(1);
/// Notes the merge heap keeps room for after a burst.
const KEEP_NOTES: usize = 1024;

/// The most notes the writer holds in its merge heap, beyond what the rings
/// hold, for a client whose pipe is full: four rings' worth per worker.
pub fn held_limit(ring_capacity: usize, workers: usize) -> usize {
    ring_capacity.saturating_mul(workers).saturating_mul(4)
}

/// Runs until `shutdown` is set.
pub fn run(slot: &Slot, mut merger: Merger<Note, StoreClock>, limit: usize, shutdown: &AtomicBool) {
    let mut ready = Vec::new();
    let mut bytes = Vec::new();
    let mut held_rounds = 0;
    // Relaxed: a stop request carries no data.
    while !shutdown.load(Ordering::Relaxed) {
        ready.clear();
        merger.collect_ready(&mut ready);
        if !ready.is_empty() {
            held_rounds = 0;
            let mut pipe = Draining {
                merger: &mut merger,
                limit,
            };
            deliver(slot, &ready, &mut bytes, &mut pipe, shutdown);
            continue;
        }
        if merger.pending() > 0 {
            wait_for_commit(&mut held_rounds);
            continue;
        }
        held_rounds = 0;
        shrink(&mut merger, &mut ready, &mut bytes);
        sleep(slot, &mut merger);
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
fn shrink(merger: &mut Merger<Note, StoreClock>, ready: &mut Vec<Note>, bytes: &mut Vec<u8>) {
    merger.shrink(KEEP_NOTES);
    ready.shrink_to(KEEP_NOTES);
    bytes.shrink_to(KEEP_NOTES * NOTIFICATION_LEN);
}

/// Sleeps until a worker rings the slot's doorbell.
fn sleep(slot: &Slot, merger: &mut Merger<Note, StoreClock>) {
    let doorbell = slot.doorbell();
    doorbell.prepare_park();
    if merger.rings_nonempty() {
        doorbell.cancel_park();
        return;
    }
    // The timeout bounds how long a shutdown or a session end (which also
    // ring) could go unnoticed if a ring ever raced the park.
    doorbell.park_timeout(IDLE_NAP);
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
    merger: &'a mut Merger<Note, StoreClock>,
    limit: usize,
}

/// Writes the notes of the slot's current session to its pipe; drops the
/// rest (they were meant for an earlier session, or there is no client).
fn deliver(
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
        bytes.extend_from_slice(&encode_notification(&note.key, note.value.as_ref()));
    }
    if bytes.is_empty() {
        return;
    }
    let stop = || {
        // Relaxed: a stop request carries no data.
        slot.is_ended(generation) || shutdown.load(Ordering::Relaxed)
    };
    if let Err(error) = write_draining(&mut current.pipe, bytes, stop, draining) {
        tracing::info!(%error, generation, "notification pipe closed");
        slot.end(generation);
    }
}

/// Writes all of `bytes` to the non-blocking `pipe`, draining the rings
/// while the pipe is full. Fails with `Interrupted` when `stop()` says so,
/// and with `BrokenPipe` when the client is gone.
fn write_draining(
    pipe: &mut File,
    mut bytes: &[u8],
    stop: impl Fn() -> bool,
    draining: &mut Draining<'_>,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match pipe.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop() {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                draining.merger.absorb(draining.limit);
                fifo::wait_ready(pipe, true, PIPE_WAIT)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
