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
        // Whole notes per write: a stop (the session ended, the server
        // shutting down) then leaves the client no torn note.
        pipe::write_records_while_full(pipe, bytes, NOTIFICATION_LEN, stop, wait, while_full)
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::io::Read;

    /// Writes more notes than a pipe of `capacity` bytes (the system's
    /// default when `None`) holds, with nobody reading, until the pipe is
    /// full and the writer is told to stop; returns the bytes the pipe got.
    fn stopped_on_a_full_pipe(capacity: Option<i32>) -> Vec<u8> {
        let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
        if let Some(bytes) = capacity {
            fcntl(&write_end, FcntlArg::F_SETPIPE_SZ(bytes)).unwrap();
        }
        let (mut reader, mut writer) = (File::from(read_end), File::from(write_end));
        let notes = vec![b'n'; NOTIFICATION_LEN * 1000];
        let stopped = PipeWire::write_all(
            &mut writer,
            &notes,
            || true,
            Duration::from_millis(1),
            || {},
        );
        assert_eq!(stopped.unwrap_err().kind(), io::ErrorKind::Interrupted);
        drop(writer);
        let mut delivered = Vec::new();
        reader.read_to_end(&mut delivered).unwrap();
        delivered
    }

    #[test]
    fn a_stop_on_a_full_pipe_leaves_only_whole_notes_on_it() {
        // The default pipe (64 KiB on Linux, which no multiple of 82 bytes
        // fills exactly), and a one-page pipe, where any write longer than
        // the page that is taken in part shows as a torn note.
        for capacity in [None, Some(4096)] {
            let delivered = stopped_on_a_full_pipe(capacity);
            assert!(!delivered.is_empty(), "{capacity:?}");
            assert_eq!(
                delivered.len() % NOTIFICATION_LEN,
                0,
                "{capacity:?}: {} bytes",
                delivered.len()
            );
        }
    }
}
