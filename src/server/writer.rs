//! A slot's pipe writer: merges the workers' rings into commit order and
//! writes the notifications of the slot's current session to its FIFO,
//! many per `write` call.

use super::fifo;
use super::notify::{Note, StoreClock};
use super::order::Merger;
use super::protocol::encode_notification;
use super::slots::Slot;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// How long the writer sleeps with nothing to do, unless woken.
const IDLE_NAP: Duration = Duration::from_millis(50);
/// How long it sleeps while notes wait in the merge heap for a worker that
/// is inside a commit (a short wait: one commit and its pushes).
const HELD_NAP: Duration = Duration::from_micros(100);

/// Runs until `shutdown` is set.
pub fn run(slot: &Slot, mut merger: Merger<Note, StoreClock>, shutdown: &AtomicBool) {
    let mut ready = Vec::new();
    let mut bytes = Vec::new();
    // Relaxed: a stop request carries no data.
    while !shutdown.load(Ordering::Relaxed) {
        ready.clear();
        merger.collect_ready(&mut ready);
        if !ready.is_empty() {
            deliver(slot, &ready, &mut bytes, shutdown);
            continue;
        }
        sleep(slot, &mut merger);
    }
}

/// Sleeps until a worker rings the slot's doorbell (or, while notes wait for
/// an in-flight commit, which no push will announce, for a short nap).
fn sleep(slot: &Slot, merger: &mut Merger<Note, StoreClock>) {
    if merger.pending() > 0 {
        thread::sleep(HELD_NAP);
        return;
    }
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

/// Writes the notes of the slot's current session to its pipe; drops the
/// rest (they were meant for an earlier session, or there is no client).
fn deliver(slot: &Slot, notes: &[Note], bytes: &mut Vec<u8>, shutdown: &AtomicBool) {
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
    if let Err(error) = fifo::write_all(&mut current.pipe, bytes, stop) {
        tracing::info!(%error, generation, "notification pipe closed");
        slot.end(generation);
    }
}
