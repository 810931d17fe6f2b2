//! The notification pipe's wire format, as the pipe writers put notes on it.
//!
//! [`notify`](crate::notify)'s pipe writer is generic over a [`Wire`] and
//! [`protocol`](crate::protocol) knows nothing of notes, so the two meet
//! here, the one place above both. `kvs-bench` hands this same type to the
//! bench's notification rig, which may not reach the server itself.

use crate::notify::writer::Wire;
use crate::notify::Note;
use crate::protocol::{encode_notification, pipe, NOTIFICATION_LEN};
use std::fs::File;
use std::io;
use std::time::Duration;

/// Notes as [`protocol`](crate::protocol) encodes them, on a FIFO.
#[derive(Debug, Clone, Copy)]
pub struct PipeWire;

impl Wire for PipeWire {
    const NOTE_LEN: usize = NOTIFICATION_LEN;

    fn encode(note: &Note, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&encode_notification(&note.key, note.value.as_ref()));
    }

    fn write_all(
        pipe: &mut File,
        bytes: &[u8],
        stop: impl Fn() -> bool,
        wait: Duration,
        while_full: impl FnMut(),
    ) -> io::Result<()> {
        pipe::write_all_while_full(pipe, bytes, stop, wait, while_full)
    }
}
