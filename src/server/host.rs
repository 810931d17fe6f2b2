//! The host thread: reads connect requests from the register FIFO and queues
//! them for the session managers.
//!
//! The register FIFO is a byte stream shared by every client. A connect
//! request is 121 bytes, less than `PIPE_BUF`, so each client's request
//! arrives whole; anything else written there is garbage. The host scans for
//! a connect opcode, skips bytes that cannot start a request, and drops a
//! request whose paths are empty, so garbage costs nothing but a log line.
//! The register FIFO keeps a write end of its own open (see
//! [`super::fifo::RegisterFifo`]), so clients closing theirs never make the
//! host see end-of-file.

use super::fifo::{self, Ready, POLL_INTERVAL};
use super::protocol::{ConnectRequest, CONNECT_REQUEST_LEN, OP_CONNECT};
use super::Shared;
use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread;

/// Reads `register` until shutdown, sending each connect request to `queue`
/// (waiting while the queue is full: every session slot is busy).
pub fn run(
    register: &mut File,
    queue: SyncSender<ConnectRequest>,
    shared: &Shared,
) -> io::Result<()> {
    let reader = register;
    let mut pending: Vec<u8> = Vec::with_capacity(4 * CONNECT_REQUEST_LEN);
    let mut chunk = [0u8; 4096];
    while !shared.is_shutting_down() {
        if fifo::wait_ready(reader, false, POLL_INTERVAL)? == Ready::NotYet {
            continue;
        }
        match reader.read(&mut chunk) {
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
        while let Some(request) = next_request(&mut pending) {
            if !hand_over(request, &queue, shared) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Takes the next valid connect request off the front of `pending`,
/// discarding garbage before it. `None`: not enough bytes yet.
fn next_request(pending: &mut Vec<u8>) -> Option<ConnectRequest> {
    loop {
        let start = pending.iter().position(|&b| b == OP_CONNECT);
        let skipped = start.unwrap_or(pending.len());
        if skipped > 0 {
            tracing::warn!(bytes = skipped, "garbage on the register FIFO");
            pending.drain(..skipped);
        }
        let bytes: &[u8; CONNECT_REQUEST_LEN] =
            pending.get(..CONNECT_REQUEST_LEN)?.try_into().ok()?;
        match ConnectRequest::decode(bytes) {
            Ok(request) => {
                pending.drain(..CONNECT_REQUEST_LEN);
                return Some(request);
            }
            Err(error) => {
                tracing::warn!(%error, "bad connect request");
                pending.drain(..1);
            }
        }
    }
}

/// Queues `request`, waiting for room; false when shutting down first.
fn hand_over(
    mut request: ConnectRequest,
    queue: &SyncSender<ConnectRequest>,
    shared: &Shared,
) -> bool {
    loop {
        match queue.try_send(request) {
            Ok(()) => return true,
            Err(TrySendError::Full(back)) if !shared.is_shutting_down() => {
                request = back;
                thread::sleep(POLL_INTERVAL / 5);
            }
            Err(_) => return false,
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
        let mut pending = b"\x00\x07garbage".to_vec();
        pending.extend(request_bytes(1));
        pending.extend([OP_CONNECT; 5]);
        pending.extend(b"more\x01garbage\x01");
        pending.extend(request_bytes(2));
        let first = next_request(&mut pending).unwrap();
        assert_eq!(first.request, Path::new("/tmp/req1"));
        let second = next_request(&mut pending).unwrap();
        assert_eq!(second.notification, Path::new("/tmp/notif2"));
        assert!(next_request(&mut pending).is_none());
        assert!(pending.is_empty());
    }

    #[test]
    fn waits_for_a_whole_request() {
        let whole = request_bytes(3);
        let mut pending = whole[..50].to_vec();
        assert!(next_request(&mut pending).is_none());
        pending.extend_from_slice(&whole[50..]);
        assert_eq!(
            next_request(&mut pending).unwrap().response,
            Path::new("/tmp/resp3")
        );
    }
}
