//! Session slots: the server's `max_sessions` places for a client.
//!
//! A slot outlives the sessions it serves. Its notification rings (one per
//! worker) and its pipe writer thread are made once, at start-up, and each
//! new session in the slot gets a new *generation* number. Every
//! notification carries the generation of the subscription it was made for,
//! and the pipe writer forwards only those of the session it is serving. So
//! when a session ends (disconnect, a vanished client, a full ring, SIGUSR1)
//! a worker may still push for it, racing the end, and nothing is freed under
//! it (the rings live as long as the server) and nothing reaches the next
//! client in the slot (the generation differs).
//!
//! A session is *ended* by raising `ended` to its generation; everyone
//! serving the session (its manager, its pipe writer) polls that and stops.
//! At shutdown the manager also stops once the pipe writer has made its
//! last delivery (`writer_done`), so closing the pipes loses no note the
//! writer could still have sent.

use super::doorbell::Doorbell;
use crate::sync::{self, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering};
use std::fs::File;

/// Why a session ended, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The client asked to disconnect.
    Disconnected,
    /// The client's pipes closed.
    ClientGone,
    /// The client sent bytes that are not a request.
    Garbage,
    /// The server ended it: SIGUSR1, a full notification ring (the client
    /// stopped reading), or shutdown.
    EndedByServer,
}

/// The notification pipe of the session a slot's pipe writer serves.
#[derive(Debug)]
pub struct WriterSession {
    /// The session's generation.
    pub generation: u64,
    /// The client's notification FIFO (non-blocking).
    pub pipe: File,
}

/// One session slot.
#[derive(Debug)]
pub struct Slot {
    /// The generation of the latest session started here (0: none yet).
    generation: AtomicU64,
    /// Every session with a generation up to this one is over.
    ended: AtomicU64,
    /// The session the pipe writer serves, if any.
    writer_session: Mutex<Option<WriterSession>>,
    /// Wakes the slot's pipe writer after a push or an end.
    doorbell: Doorbell,
    /// The pipe writer has made its last delivery (at shutdown).
    writer_done: AtomicBool,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            writer_session: Mutex::new(None),
            doorbell: Doorbell::new(),
            writer_done: AtomicBool::new(false),
        }
    }
}

impl Slot {
    /// Starts a new session, handing its notification pipe to the pipe
    /// writer; returns the session's generation.
    pub fn begin(&self, notifications: File) -> u64 {
        // Relaxed: only the slot's own manager thread starts sessions here.
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        *self.lock_writer() = Some(WriterSession {
            generation,
            pipe: notifications,
        });
        // Release: pairs with the Acquire in `current`; the writer's session
        // is in place before anyone subscribes with this generation.
        self.generation.store(generation, Ordering::Release);
        generation
    }

    /// The generation of the latest session started here.
    pub fn current(&self) -> u64 {
        // Acquire: pairs with the Release store in `begin`.
        self.generation.load(Ordering::Acquire)
    }

    /// Ends the session `generation` (and any older one). Safe to call more
    /// than once and from any thread.
    pub fn end(&self, generation: u64) {
        // Release: pairs with the Acquire in `is_ended`; whatever made the
        // session end is visible to those who stop because of it.
        self.ended.fetch_max(generation, Ordering::Release);
        self.wake_writer();
    }

    /// Ends whatever session is running in the slot.
    pub fn end_current(&self) {
        self.end(self.current());
    }

    /// Whether the session `generation` has been told to end.
    pub fn is_ended(&self, generation: u64) -> bool {
        // Acquire: pairs with the Release RMW in `end`.
        self.ended.load(Ordering::Acquire) >= generation
    }

    /// Takes the notification pipe back from the pipe writer (closing it
    /// when the returned value is dropped).
    pub fn take_writer_session(&self) -> Option<WriterSession> {
        self.lock_writer().take()
    }

    /// The pipe writer's view of its session.
    pub fn lock_writer(&self) -> MutexGuard<'_, Option<WriterSession>> {
        // The guarded value is replaced whole, so a poisoned lock holds
        // sound data.
        sync::lock(&self.writer_session)
    }

    /// Wakes the pipe writer. Costs a system call only if it is asleep.
    pub fn wake_writer(&self) {
        self.doorbell.ring();
    }

    /// Pipe writer: it has delivered every note it ever will, so the
    /// session's manager may close the client's pipes.
    pub fn mark_writer_done(&self) {
        // Relaxed: pairs with nothing. The flag carries no data: the pipe's
        // writes and its close both happen under `writer_session`'s mutex,
        // and a manager that reads the flag set takes that mutex after the
        // writer's last release of it (read-write coherence: had it taken
        // the mutex first, its read would happen before this store). Modelled
        // in `loom_tests/session_end.rs`.
        self.writer_done.store(true, Ordering::Relaxed);
    }

    /// Whether the pipe writer has made its last delivery.
    pub fn is_writer_done(&self) -> bool {
        // Relaxed: see `mark_writer_done`.
        self.writer_done.load(Ordering::Relaxed)
    }

    /// The pipe writer's side of the doorbell.
    pub fn doorbell(&self) -> &Doorbell {
        &self.doorbell
    }
}
