//! Session managers: each serves one client at a time in its slot, from
//! connect to disconnect.
//!
//! # The handshake (SPEC §4)
//!
//! The client's three paths are pinned and checked first (FIFOs, not the
//! register FIFO, not another live session's pipes; see [`super::fifo`]);
//! any failure is answered with result 1. Then the manager opens its ends in
//! whatever order the client opens its own, retrying each without blocking:
//!
//! * the request pipe's read end opens at once (a reader needs no partner),
//!   which also lets a client's blocking open of its write end return;
//! * the connect is **answered as soon as the response pipe is open**, so a
//!   client may open its request and notification pipes only after reading
//!   the answer (the course's client does: resp, answer, req, notif);
//! * the notification pipe's write end opens once the client reads it;
//! * the request pipe must get its writer: a read end that never had one
//!   reports nothing to `poll`, so the manager asks `read` (end-of-file:
//!   no writer yet; `EAGAIN`: an idle one).
//!
//! Each wait is bounded: the client has the connect timeout to open its
//! response pipe, and the connect timeout again after the answer to open
//! the other two, or the session ends and frees its slot. A client that
//! vanishes meanwhile (a pipe the server writes loses its reader), a
//! SIGUSR1, or shutdown end it at once.
//!
//! # Serving
//!
//! The manager then reads requests until the client disconnects, vanishes
//! (the request pipe reaches end-of-file, or the response or notification
//! pipe loses its reader), sends garbage, or the session is ended from
//! outside (SIGUSR1, a full notification ring, shutdown). Whatever the
//! reason, the end is the same: the slot's subscriptions are dropped, the
//! session is marked ended, its pipes are closed (which is what tells the
//! client to exit) and released for other clients to name. Every write to a
//! client is bounded by the connect timeout and by shutdown.
//!
//! A connect that waited in the queue across a SIGUSR1, or is still queued
//! at shutdown, is refused (result 1) instead of served.

use super::fifo::{self, End, FifoError, PinnedFifo, ReadOutcome};
use super::host::QueuedConnect;
use super::Shared;
use crate::notify::slots::EndReason;
use crate::protocol::{encode_response, ConnectRequest, ProtocolError, Request, OP_CONNECT};
use std::fs::File;
use std::io;
use std::thread;
use std::time::{Duration, Instant};

/// The result byte of a successful connect, disconnect or unsubscribe.
const OK: u8 = 0;
/// The result byte of a failed connect.
const FAILED: u8 = 1;

/// How long a refusal outside a handshake (a connect queued across a
/// SIGUSR1 or at shutdown) waits for the client to read its answer, at most.
const REFUSAL_GRACE: Duration = Duration::from_millis(250);

/// How long a handshake ended by a stop (SIGUSR1, shutdown) before its
/// client opened the response FIFO still waits for that open, to answer
/// result 1: a client blocking in its `open` (the course's does, right
/// after sending its connect) would otherwise wait for ever.
const STOPPED_HANDSHAKE_GRACE: Duration = Duration::from_secs(1);

/// Serves connect requests from the queue in slot `slot` until shutdown.
pub fn run(slot: usize, shared: &Shared) {
    while let Some(queued) = shared.next_connect() {
        if queued.resets_seen != shared.resets() {
            tracing::info!("connect queued across SIGUSR1 refused");
            refuse(&queued.request, shared, refusal_deadline(shared), &|| {
                shared.is_shutting_down()
            });
            continue;
        }
        serve(slot, shared, &queued);
    }
}

/// Refuses every connect still queued (at shutdown, once the sessions have
/// stopped taking them).
pub fn refuse_queued(shared: &Shared) {
    let queue = shared.lock_connects();
    let deadline = refusal_deadline(shared);
    while let Ok(queued) = queue.try_recv() {
        refuse(&queued.request, shared, deadline, &|| false);
    }
}

/// When a refusal outside a handshake stops waiting for its client.
pub fn refusal_deadline(shared: &Shared) -> Instant {
    Instant::now() + shared.config.connect_timeout.min(REFUSAL_GRACE)
}

/// Answers result 1 on the connect's response pipe, if it is a FIFO nobody
/// else uses and the client opens it by `deadline` (or `stop()`).
pub fn refuse(
    request: &ConnectRequest,
    shared: &Shared,
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) {
    let pinned = PinnedFifo::pin(&request.response).and_then(|pin| {
        shared.pipes.check(&pin)?;
        Ok(pin)
    });
    match pinned {
        Ok(pin) => answer_failed(None, &pin, deadline, stop),
        Err(error) => {
            tracing::warn!(error = %crate::ErrorChain(&error), "connect refused without an answer")
        }
    }
}

/// Writes result 1 on `responses`, or on the pinned response pipe opened
/// now (retried until `deadline`): closing an open one first would show the
/// client an end-of-file instead of the answer.
fn answer_failed(
    responses: Option<File>,
    pin: &PinnedFifo,
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) {
    let give_up = || stop() || Instant::now() >= deadline;
    let mut responses = responses;
    while responses.is_none() {
        match pin.try_open(End::Write) {
            Ok(Some(file)) => responses = Some(file),
            Ok(None) if !give_up() => thread::sleep(fifo::OPEN_RETRY),
            Ok(None) | Err(_) => return,
        }
    }
    if let Some(mut responses) = responses {
        let answer = encode_response(OP_CONNECT, FAILED);
        let _ = fifo::write_all(&mut responses, &answer, give_up);
    }
}

/// One session, from connect request to end.
fn serve(slot: usize, shared: &Shared, queued: &QueuedConnect) {
    let request = &queued.request;
    let deadline = Instant::now() + shared.config.connect_timeout;
    let stop = || shared.is_shutting_down() || shared.resets() != queued.resets_seen;
    let (pins, claim) = match pin_and_claim(request, shared) {
        Ok(both) => both,
        Err(error) => {
            tracing::warn!(error = %crate::ErrorChain(&error), "connect refused");
            refuse(request, shared, deadline, &stop);
            return;
        }
    };
    let pipes = match handshake(&pins, shared.config.connect_timeout, deadline, &stop) {
        Ok(pipes) => pipes,
        Err(error) => {
            tracing::warn!(error = %crate::ErrorChain(&error), "connect failed");
            return;
        }
    };
    let Ok(notification_watch) = pipes.notifications.try_clone() else {
        return;
    };
    let generation = shared.hub.slots()[slot].begin(pipes.notifications);
    let mut session = Session {
        slot,
        generation,
        resets_seen: queued.resets_seen,
        shared,
        requests: pipes.requests,
        early: pipes.early,
        responses: pipes.responses,
        notification_watch,
    };
    let reason = session.run();
    tracing::info!(slot, generation, ?reason, "session ended");
    session.end();
    // The pipes are closed: other clients may name these FIFOs again.
    drop(claim);
}

/// Pins the request, response and notification paths (in that order) and
/// claims them for the session: each must be a FIFO nobody else uses.
fn pin_and_claim<'s>(
    request: &ConnectRequest,
    shared: &'s Shared,
) -> Result<([PinnedFifo; 3], fifo::Claim<'s>), FifoError> {
    let pins = [
        PinnedFifo::pin(&request.request)?,
        PinnedFifo::pin(&request.response)?,
        PinnedFifo::pin(&request.notification)?,
    ];
    let claim = shared.pipes.claim(&[&pins[0], &pins[1], &pins[2]])?;
    Ok((pins, claim))
}

/// A client's pipes once the handshake is done.
struct Pipes {
    requests: File,
    /// Request bytes read while looking for the request pipe's writer.
    early: Vec<u8>,
    responses: File,
    notifications: File,
}

/// The handshake's progress: what is open so far.
struct Opening {
    requests: File,
    early: Vec<u8>,
    writer_seen: bool,
    responses: Option<File>,
    answered: bool,
    notifications: Option<File>,
}

/// Opens the client's pipes in whatever order the client opens its ends,
/// answering the connect as soon as the response pipe is open (see the
/// module documentation). Before the answer, a failure is answered with
/// result 1; after it, closing the pipes tells the client.
fn handshake(
    pins: &[PinnedFifo; 3],
    timeout: Duration,
    mut deadline: Instant,
    stop: &dyn Fn() -> bool,
) -> Result<Pipes, FifoError> {
    let [request_pin, response_pin, _] = pins;
    let requests = match request_pin.try_open(End::Read) {
        Ok(Some(requests)) => requests,
        // A read end never waits for a writer; it fails only for a reason
        // the client must still be told (say, the FIFO's permissions).
        outcome => {
            answer_failed(None, response_pin, deadline, stop);
            return Err(outcome
                .err()
                .unwrap_or_else(|| FifoError::TimedOut(request_pin.path().to_path_buf())));
        }
    };
    let mut opening = Opening {
        requests,
        early: Vec::new(),
        writer_seen: false,
        responses: None,
        answered: false,
        notifications: None,
    };
    let outcome = loop {
        match opening.step(pins, deadline, stop) {
            Err(error) => break Err(error),
            Ok(true) if !opening.answered => {
                opening.answered = true;
                deadline = Instant::now() + timeout;
            }
            Ok(_) => {}
        }
        opening = match opening.into_pipes() {
            Ok(pipes) => return Ok(pipes),
            Err(still_opening) => still_opening,
        };
        if let Some(error) = opening.give_up(pins, deadline, stop) {
            break Err(error);
        }
        thread::sleep(fifo::OPEN_RETRY);
    };
    if !opening.answered {
        // Not `stop`: a stop is exactly what can leave a client blocked in
        // its open, so it gets a short grace of its own (never past the
        // client's own deadline).
        let grace = deadline.min(Instant::now() + STOPPED_HANDSHAKE_GRACE);
        answer_failed(opening.responses.take(), response_pin, grace, &|| false);
    }
    outcome
}

impl Opening {
    /// Tries each pipe not yet open once; answers the connect if the
    /// response pipe is open. True when the answer went out in this step.
    fn step(
        &mut self,
        [request_pin, response_pin, notification_pin]: &[PinnedFifo; 3],
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool, FifoError> {
        if self.responses.is_none() {
            self.responses = response_pin.try_open(End::Write)?;
        }
        let mut answered_now = false;
        if let (Some(responses), false) = (self.responses.as_mut(), self.answered) {
            let give_up = || stop() || Instant::now() >= deadline;
            fifo::write_all(responses, &encode_response(OP_CONNECT, OK), give_up)
                .map_err(|error| FifoError::io(response_pin.path(), error))?;
            answered_now = true;
        }
        if self.notifications.is_none() {
            self.notifications = notification_pin.try_open(End::Write)?;
        }
        if !self.writer_seen {
            self.writer_seen = fifo::writer_present(&mut self.requests, &mut self.early)
                .map_err(|error| FifoError::io(request_pin.path(), error))?;
        }
        Ok(answered_now)
    }

    /// The pipes, once all are open, the connect answered and the request
    /// pipe has its writer; the progress so far otherwise.
    fn into_pipes(self) -> Result<Pipes, Self> {
        match self {
            Opening {
                requests,
                early,
                writer_seen: true,
                responses: Some(responses),
                answered: true,
                notifications: Some(notifications),
            } => Ok(Pipes {
                requests,
                early,
                responses,
                notifications,
            }),
            still_opening => Err(still_opening),
        }
    }

    /// Why the handshake must stop now, if it must: the client vanished,
    /// the server stopped it, or the deadline passed.
    fn give_up(
        &self,
        pins: &[PinnedFifo; 3],
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> Option<FifoError> {
        let path = |i: usize| pins[i].path().to_path_buf();
        let gone = |file: &Option<File>| file.as_ref().is_some_and(fifo::reader_gone);
        if gone(&self.responses) {
            return Some(FifoError::ClientGone(path(1)));
        }
        if gone(&self.notifications) {
            return Some(FifoError::ClientGone(path(2)));
        }
        let waiting = if self.responses.is_none() {
            path(1)
        } else if self.notifications.is_none() {
            path(2)
        } else {
            path(0)
        };
        if stop() {
            return Some(FifoError::Stopped(waiting));
        }
        (Instant::now() >= deadline).then_some(FifoError::TimedOut(waiting))
    }
}

/// The stop condition of a session's pipe waits: the session ended, or the
/// server is shutting down and the slot's pipe writer has delivered its
/// last notes (so closing the pipes loses none).
fn should_stop(shared: &Shared, slot: usize, generation: u64) -> impl Fn() -> bool + '_ {
    let slot = &shared.hub.slots()[slot];
    move || slot.is_ended(generation) || slot.is_writer_done()
}

struct Session<'a> {
    slot: usize,
    generation: u64,
    /// The SIGUSR1 count when the connect was read.
    resets_seen: u64,
    shared: &'a Shared,
    requests: File,
    /// Request bytes read during the handshake, served before the pipe's.
    early: Vec<u8>,
    responses: File,
    /// A second descriptor of the notification pipe (the pipe writer owns
    /// the first), to notice when the client closes it.
    notification_watch: File,
}

impl Session<'_> {
    /// Serves requests until the session ends.
    fn run(&mut self) -> EndReason {
        // A SIGUSR1 between the handshake's last look and `begin` found no
        // session here to end: end it now. The two may still just miss each
        // other (neither side fences); the session then counts as one that
        // connected right after the signal, which SPEC allows.
        if self.shared.resets() != self.resets_seen {
            return EndReason::EndedByServer;
        }
        loop {
            let mut op = [0u8; 1];
            if let Some(reason) = self.read(&mut op) {
                return reason;
            }
            let Some(len) = Request::body_len(op[0]) else {
                tracing::warn!(opcode = op[0], "unknown request opcode");
                return EndReason::Garbage;
            };
            let mut body = [0u8; crate::protocol::TOKEN_FIELD_LEN];
            if let Some(reason) = self.read(&mut body[..len]) {
                return reason;
            }
            match self.handle(op[0], &body[..len]) {
                Ok(Some(reason)) => return reason,
                Ok(None) => {}
                Err(_) => return EndReason::ClientGone,
            }
        }
    }

    /// Carries out one request; `Some` when it ends the session.
    fn handle(&mut self, op: u8, body: &[u8]) -> io::Result<Option<EndReason>> {
        let result = match Request::decode(op, body) {
            Ok(Request::Disconnect) => {
                self.shared.hub.subscriptions().end_slot(self.slot);
                self.respond(op, OK)?;
                return Ok(Some(EndReason::Disconnected));
            }
            Ok(Request::Subscribe(key)) => u8::from(self.subscribe(key)),
            Ok(Request::Unsubscribe(key)) => u8::from(!self.shared.unsubscribe(&key, self.slot)),
            // A key the store cannot hold is a key that does not exist, and
            // one nobody can be subscribed to: answer as for any such key.
            Err(ProtocolError::BadKey(_)) => u8::from(op != crate::protocol::OP_SUBSCRIBE),
            Err(error) => {
                tracing::warn!(error = %crate::ErrorChain(&error), "garbage request");
                return Ok(Some(EndReason::Garbage));
            }
        };
        self.respond(op, result)?;
        Ok(None)
    }

    /// Subscribes to `key` if it exists (and the session's limit allows);
    /// says whether it did.
    fn subscribe(&self, key: crate::token::Key) -> bool {
        self.shared.subscribe(self.slot, self.generation, key)
    }

    /// Writes a response, giving up after the connect timeout (a client
    /// that leaves its response pipe full), at the session's end, or at
    /// shutdown.
    fn respond(&mut self, op: u8, result: u8) -> io::Result<()> {
        let stop = should_stop(self.shared, self.slot, self.generation);
        let deadline = Instant::now() + self.shared.config.connect_timeout;
        let give_up = || stop() || Instant::now() >= deadline;
        fifo::write_all(&mut self.responses, &encode_response(op, result), give_up)
    }

    /// Whether the client closed its response or notification pipe.
    fn client_gone(&self) -> bool {
        fifo::reader_gone(&self.responses) || fifo::reader_gone(&self.notification_watch)
    }

    /// Fills `buf` with request bytes; `Some` when the session ends first.
    fn read(&mut self, buf: &mut [u8]) -> Option<EndReason> {
        let early = buf.len().min(self.early.len());
        buf[..early].copy_from_slice(&self.early[..early]);
        self.early.drain(..early);
        if early == buf.len() {
            return None;
        }
        let stop = should_stop(self.shared, self.slot, self.generation);
        let outcome = {
            let Self {
                requests,
                responses,
                notification_watch,
                ..
            } = self;
            let gone = || fifo::reader_gone(responses) || fifo::reader_gone(notification_watch);
            fifo::read_exact(requests, &mut buf[early..], || stop() || gone())
        };
        match outcome {
            Ok(ReadOutcome::Complete) => None,
            Ok(ReadOutcome::Closed(_)) | Err(_) => Some(EndReason::ClientGone),
            Ok(ReadOutcome::Stopped(_)) if self.client_gone() => Some(EndReason::ClientGone),
            Ok(ReadOutcome::Stopped(_)) => Some(EndReason::EndedByServer),
        }
    }

    /// Drops the session's subscriptions, ends it, and closes its pipes.
    fn end(self) {
        self.shared.hub.subscriptions().end_slot(self.slot);
        let slot = &self.shared.hub.slots()[self.slot];
        slot.end(self.generation);
        drop(slot.take_writer_session());
        // `requests`, `responses` and the watch close as `self` drops here.
    }
}
