//! The host thread: reads connect requests from the register FIFO and queues
//! them for the session managers.
//!
//! The register FIFO is a byte stream shared by every client. A connect
//! request is 121 bytes, less than `PIPE_BUF`, so each client's request
//! arrives whole; anything else written there is garbage. The host scans for
//! a connect opcode, skips bytes that cannot start a request, and drops a
//! request whose paths are empty, so garbage costs nothing but a log line.
//! Since requests arrive whole, a read that empties the FIFO leaves no
//! well-behaved request half read: what is left then is a short write (a
//! client that wrote part of a request and died), and it is dropped at
//! once rather than kept in front of the next client's request.
//! The register FIFO keeps a write end of its own open (see
//! [`super::fifo::RegisterFifo`]), so clients closing theirs never make the
//! host see end-of-file.
//!
//! Every request the host has read is answered, even at shutdown: each
//! queued request carries the SIGUSR1 count it was read under, so one that
//! waited for a slot across a SIGUSR1 is refused rather than served; and at
//! shutdown the host refuses the request it holds and those still in the
//! register FIFO (the connects already queued are refused after the
//! sessions stop, see [`super::session::refuse_queued`]).

use super::fifo::{self, Ready, POLL_INTERVAL};
use super::session;
use super::Shared;
use crate::protocol::{ConnectRequest, CONNECT_REQUEST_LEN, OP_CONNECT};
use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread;

/// A connect request waiting for a session slot.
#[derive(Debug)]
pub struct QueuedConnect {
    /// The request.
    pub request: ConnectRequest,
    /// How many SIGUSR1 resets had happened when it was read.
    pub resets_seen: u64,
}

/// Reads `register` until shutdown, sending each connect request to `queue`
/// (waiting while the queue is full: every session slot is busy); at
/// shutdown refuses what it has read but not queued.
pub fn run(
    register: &mut File,
    queue: SyncSender<QueuedConnect>,
    shared: &Shared,
) -> io::Result<()> {
    let mut unparsed: Vec<u8> = Vec::with_capacity(4 * CONNECT_REQUEST_LEN);
    let outcome = serve(register, &queue, shared, &mut unparsed);
    refuse_unqueued(register, &mut unparsed, shared);
    outcome
}

/// At shutdown: refuses the requests read but not queued, and those still
/// waiting in the register FIFO, so their clients are not left waiting.
fn refuse_unqueued(register: &mut File, unparsed: &mut Vec<u8>, shared: &Shared) {
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = register.read(&mut chunk) {
        unparsed.extend_from_slice(&chunk[..n]);
    }
    let deadline = session::refusal_deadline(shared);
    while let Some(request) = next_request(unparsed) {
        session::refuse(&request, shared, deadline, &|| false);
    }
}

fn serve(
    register: &mut File,
    queue: &SyncSender<QueuedConnect>,
    shared: &Shared,
    unparsed: &mut Vec<u8>,
) -> io::Result<()> {
    let reader = register;
    let mut chunk = [0u8; 4096];
    while !shared.is_shutting_down() {
        if fifo::wait_ready(reader, false, POLL_INTERVAL)? == Ready::NotYet {
            continue;
        }
        let emptied = match reader.read(&mut chunk) {
            Ok(n) => {
                unparsed.extend_from_slice(&chunk[..n]);
                // A pipe read returns less than asked only when it took
                // everything the pipe held.
                n < chunk.len()
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        while let Some(request) = next_request(unparsed) {
            let queued = QueuedConnect {
                request,
                resets_seen: shared.resets(),
            };
            if let Err(back) = hand_over(queued, queue, shared) {
                session::refuse(
                    &back.request,
                    shared,
                    session::refusal_deadline(shared),
                    &|| false,
                );
                return Ok(());
            }
        }
        if emptied {
            drop_short_write(unparsed);
        }
    }
    Ok(())
}

/// Drops what is left of `unparsed` once the FIFO has been read empty: not
/// a whole request, so the rest of it will never come (requests are written
/// whole), and it would otherwise sit in front of the next client's.
fn drop_short_write(unparsed: &mut Vec<u8>) {
    if !unparsed.is_empty() {
        tracing::warn!(
            "dropped a partial connect request of {} bytes on the register FIFO \
             (a request is {CONNECT_REQUEST_LEN} bytes, written at once)",
            unparsed.len()
        );
        unparsed.clear();
    }
}

/// Takes the next valid connect request off the front of `unparsed`,
/// discarding garbage before it. `None`: not enough bytes yet.
fn next_request(unparsed: &mut Vec<u8>) -> Option<ConnectRequest> {
    loop {
        let start = unparsed.iter().position(|&b| b == OP_CONNECT);
        let skipped = start.unwrap_or(unparsed.len());
        if skipped > 0 {
            tracing::warn!(bytes = skipped, "garbage on the register FIFO");
            unparsed.drain(..skipped);
        }
        let bytes: &[u8; CONNECT_REQUEST_LEN] =
            unparsed.get(..CONNECT_REQUEST_LEN)?.try_into().ok()?;
        match ConnectRequest::decode(bytes) {
            Ok(request) => {
                unparsed.drain(..CONNECT_REQUEST_LEN);
                return Some(request);
            }
            Err(error) => {
                tracing::warn!(%error, "bad connect request");
                unparsed.drain(..1);
            }
        }
    }
}

/// Queues `queued`, waiting for room; gives it back when shutting down
/// first.
fn hand_over(
    mut queued: QueuedConnect,
    queue: &SyncSender<QueuedConnect>,
    shared: &Shared,
) -> Result<(), QueuedConnect> {
    loop {
        match queue.try_send(queued) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(back)) if !shared.is_shutting_down() => {
                queued = back;
                thread::sleep(POLL_INTERVAL / 5);
            }
            Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => return Err(back),
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use std::path::Path;

    fn request_bytes(id: u8) -> Vec<u8> {
        ConnectRequest {
            request: format!("/tmp/req{id}").into(),
            response: format!("/tmp/resp{id}").into(),
            notification: format!("/tmp/notif{id}").into(),
        }
        .encode()
        .unwrap()
        .to_vec()
    }

    #[test]
    fn finds_requests_among_garbage() {
        let mut unparsed = b"\x00\x07garbage".to_vec();
        unparsed.extend(request_bytes(1));
        unparsed.extend([OP_CONNECT; 5]);
        unparsed.extend(b"more\x01garbage\x01");
        unparsed.extend(request_bytes(2));
        let first = next_request(&mut unparsed).unwrap();
        assert_eq!(first.request, Path::new("/tmp/req1"));
        let second = next_request(&mut unparsed).unwrap();
        assert_eq!(second.notification, Path::new("/tmp/notif2"));
        assert!(next_request(&mut unparsed).is_none());
        assert!(unparsed.is_empty());
    }

    #[test]
    fn waits_for_a_whole_request() {
        let whole = request_bytes(3);
        let mut unparsed = whole[..50].to_vec();
        assert!(next_request(&mut unparsed).is_none());
        unparsed.extend_from_slice(&whole[50..]);
        assert_eq!(
            next_request(&mut unparsed).unwrap().response,
            Path::new("/tmp/resp3")
        );
    }
}
