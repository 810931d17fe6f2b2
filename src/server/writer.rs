//! A slot's pipe writer: merges the workers' rings into commit order and
//! writes the notifications of the slot's current session to its FIFO,
//! many per `write` call.

use super::fifo;
use super::notify::{Note, StoreClock};
use super::order::Merger;
use super::protocol::{encode_notification, NOTIFICATION_LEN};
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

/// Writes the notes of the slot's current session to its pipe; drops the
/// rest (they were meant for an earlier session, or there is no client).
fn deliver(slot: &Slot, notes: &[Note], bytes: &mut Vec<u8>, shutdown: &AtomicBool) {
    let mut session = slot.lock_writer();
    let Some(current) = session.as_mut() else {
        return;
    };
    let generation = current.generation;
    // Checked after the drain: a worker that found this session's ring full
    // ended the session before its watermark went idle, so nothing it or any
    // later commit pushed can be emitted without this check seeing the end.
    if slot.is_ended(generation) {
        return;
    }
    bytes.clear();
    bytes.reserve(notes.len() * NOTIFICATION_LEN);
    for note in notes.iter().filter(|note| note.generation == generation) {
        bytes.extend_from_slice(&encode_notification(&note.key, note.value.as_ref()));
    }
    let stop = || {
        // Relaxed: a stop request carries no data.
        slot.is_ended(generation) || shutdown.load(Ordering::Relaxed)
    };
    tracing::debug!(
        notes = notes.len(),
        bytes = bytes.len(),
        generation,
        "delivering"
    );
    if let Err(error) = fifo::write_all(&mut current.pipe, bytes, stop) {
        tracing::info!(%error, generation, "notification pipe closed");
        slot.end(generation);
    }
}
