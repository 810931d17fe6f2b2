//! Session managers: each serves one client at a time in its slot, from
//! connect to disconnect.
//!
//! The manager opens the client's three FIFOs (in whatever order the client
//! opens its ends, giving up after a deadline so a client that never opens
//! them cannot hold the slot), answers the connect, then reads requests until
//! the client disconnects, vanishes, sends garbage, or the session is ended
//! from outside (SIGUSR1, a full notification ring, shutdown). Whatever the
//! reason, the end is the same: the slot's subscriptions are dropped, the
//! session is marked ended, and its pipes are closed, which is what tells the
//! client to exit.

use super::fifo::{self, End, PartlyOpen, ReadOutcome};
use super::protocol::{encode_response, ConnectRequest, ProtocolError, Request, OP_CONNECT};
use super::slots::EndReason;
use super::Shared;
use std::fs::File;
use std::io;
use std::time::Instant;

/// The result byte of a successful connect, disconnect or unsubscribe.
const OK: u8 = 0;
/// The result byte of a failed connect.
const FAILED: u8 = 1;

/// Serves connect requests from the queue in slot `slot` until shutdown.
pub fn run(slot: usize, shared: &Shared) {
    while let Some(request) = shared.next_connect() {
        serve(slot, shared, &request);
    }
}

/// One session, from connect request to end.
fn serve(slot: usize, shared: &Shared, request: &ConnectRequest) {
    let deadline = Instant::now() + shared.config.connect_timeout;
    let pipes = [
        (request.request.as_path(), End::Read),
        (request.response.as_path(), End::Write),
        (request.notification.as_path(), End::Write),
    ];
    let opened = fifo::open_all(pipes, deadline, || shared.is_shutting_down());
    let [requests, responses, notifications] = match opened {
        Ok(files) => files,
        Err(PartlyOpen { error, opened }) => {
            tracing::warn!(error = %crate::ErrorChain(&error), "connect refused");
            let [_, responses, _] = opened;
            refuse(request, responses, deadline);
            return;
        }
    };
    let generation = shared.slots[slot].begin(notifications);
    let mut session = Session {
        slot,
        generation,
        shared,
        requests,
        responses,
    };
    let reason = session.run();
    tracing::info!(slot, generation, ?reason, "session ended");
    session.end();
}

/// Tells a client whose pipes could not all be opened that the connect
/// failed, on its response pipe if that one at least is usable (already
/// open, or opened now: closing an open one first would show the client an
/// end-of-file instead of the answer).
fn refuse(request: &ConnectRequest, responses: Option<File>, deadline: Instant) {
    let responses = responses.or_else(|| {
        fifo::open_all([(request.response.as_path(), End::Write)], deadline, || {
            false
        })
        .ok()
        .map(|[file]| file)
    });
    if let Some(mut responses) = responses {
        let answer = encode_response(OP_CONNECT, FAILED);
        let _ = fifo::write_all(&mut responses, &answer, || false);
    }
}

/// The stop condition of a session's pipe waits.
fn should_stop(shared: &Shared, slot: usize, generation: u64) -> impl Fn() -> bool + '_ {
    move || shared.slots[slot].is_ended(generation) || shared.is_shutting_down()
}

struct Session<'a> {
    slot: usize,
    generation: u64,
    shared: &'a Shared,
    requests: File,
    responses: File,
}

impl Session<'_> {
    /// Answers the connect, then serves requests until the session ends.
    fn run(&mut self) -> EndReason {
        if self.respond(OP_CONNECT, OK).is_err() {
            return EndReason::ClientGone;
        }
        loop {
            let mut op = [0u8; 1];
            match self.read(&mut op) {
                Ok(ReadOutcome::Complete) => {}
                Ok(ReadOutcome::Closed(_)) | Err(_) => return EndReason::ClientGone,
                Ok(ReadOutcome::Stopped(_)) => return EndReason::EndedByServer,
            }
            let Some(len) = Request::body_len(op[0]) else {
                tracing::warn!(opcode = op[0], "unknown request opcode");
                return EndReason::Garbage;
            };
            let mut body = [0u8; super::protocol::TOKEN_FIELD_LEN];
            match self.read(&mut body[..len]) {
                Ok(ReadOutcome::Complete) => {}
                Ok(ReadOutcome::Closed(_)) | Err(_) => return EndReason::ClientGone,
                Ok(ReadOutcome::Stopped(_)) => return EndReason::EndedByServer,
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
                self.shared.subscriptions.end_slot(self.slot);
                self.respond(op, OK)?;
                return Ok(Some(EndReason::Disconnected));
            }
            Ok(Request::Subscribe(key)) => u8::from(self.subscribe(key)),
            Ok(Request::Unsubscribe(key)) => u8::from(!self.shared.unsubscribe(&key, self.slot)),
            // A key the store cannot hold is a key that does not exist, and
            // one nobody can be subscribed to: answer as for any such key.
            Err(ProtocolError::BadKey(_)) => u8::from(op != super::protocol::OP_SUBSCRIBE),
            Err(error) => {
                tracing::warn!(%error, "garbage request");
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

    fn respond(&mut self, op: u8, result: u8) -> io::Result<()> {
        let stop = should_stop(self.shared, self.slot, self.generation);
        fifo::write_all(&mut self.responses, &encode_response(op, result), stop)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadOutcome> {
        let stop = should_stop(self.shared, self.slot, self.generation);
        fifo::read_exact(&mut self.requests, buf, stop)
    }

    /// Drops the session's subscriptions, ends it, and closes its pipes.
    fn end(self) {
        self.shared.subscriptions.end_slot(self.slot);
        let slot = &self.shared.slots[self.slot];
        slot.end(self.generation);
        drop(slot.take_writer_session());
        // `requests` and `responses` close as `self` drops here.
    }
}
