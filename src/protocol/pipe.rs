//! Moving the protocol's bytes over non-blocking FIFOs, on either end.
//!
//! Both the server and the client keep their pipe descriptors non-blocking
//! while a peer may be missing, so that no step can wait forever: every wait
//! here is one `poll` bounded by a timeout, and the caller decides, between
//! waits, whether to go on (a stop flag, a deadline). What a descriptor
//! reports is read the same way on both ends: `read` returning 0 is the
//! writer gone, `EAGAIN` and `EINTR` are "nothing yet".
//!
//! The loops are generic over the descriptor (`Read`, `Write`, `AsFd`) so
//! that their handling of each `read`/`write` result can be tested with a
//! stand-in that fails at chosen calls; production code passes `File`, and
//! each function is compiled for it alone.

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

/// How long one `poll` waits before the caller looks at its stop condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What a bounded wait on a pipe found.
#[derive(Debug, PartialEq, Eq)]
pub enum Ready {
    /// The pipe can be read or written (or has hung up, which the next read or
    /// write reports).
    Yes,
    /// Nothing happened within the interval.
    NotYet,
}

/// Waits up to `timeout` for `file` to be readable (or writable).
pub fn wait_ready(file: &impl AsFd, writable: bool, timeout: Duration) -> io::Result<Ready> {
    let flags = if writable {
        PollFlags::POLLOUT
    } else {
        PollFlags::POLLIN
    };
    let mut fds = [PollFd::new(file.as_fd(), flags)];
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    match poll(&mut fds, PollTimeout::from(millis)) {
        Ok(0) => Ok(Ready::NotYet),
        Ok(_) => Ok(Ready::Yes),
        Err(Errno::EINTR) => Ok(Ready::NotYet),
        Err(errno) => Err(errno.into()),
    }
}

/// Whether the write end `file` has lost its reader (the peer closed it, or
/// exited). Does not wait.
pub fn reader_gone(file: &File) -> bool {
    // No events asked for: poll still reports POLLERR, which a FIFO's write
    // end raises once no reader is left.
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::empty())];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// Writes all of `bytes` to a non-blocking pipe, waiting while it is full.
/// Fails with `Interrupted` when `stop()` says so (callers put their
/// deadline there), and with `BrokenPipe` when the reader is gone.
pub fn write_all(file: &mut File, bytes: &[u8], stop: impl Fn() -> bool) -> io::Result<()> {
    write_all_while_full(file, bytes, stop, POLL_INTERVAL, || {})
}

/// [`write_all`], with a hook for a full pipe: each time the pipe is found
/// full (and `stop()` does not say to stop), calls `while_full`, then waits
/// up to `wait` for room. The notification writer drains its rings there.
pub fn write_all_while_full<P: Write + AsFd>(
    file: &mut P,
    mut bytes: &[u8],
    stop: impl Fn() -> bool,
    wait: Duration,
    mut while_full: impl FnMut(),
) -> io::Result<()> {
    while !bytes.is_empty() {
        match file.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop() {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                while_full();
                wait_ready(file, true, wait)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The most bytes a pipe takes whole or not at all (POSIX `PIPE_BUF`): a
/// non-blocking `write` of at most this many either writes them all or
/// fails with `EAGAIN`.
pub const PIPE_BUF: usize = libc::PIPE_BUF;

/// [`write_all_while_full`] for a run of records of `record_len` bytes each:
/// writes them in chunks of whole records no longer than [`PIPE_BUF`] (one
/// record at a time if a record is longer), which a pipe takes whole or not
/// at all. So when `stop()` ends the writing, the reader has whole records
/// only, never a torn one before the end of the stream.
pub fn write_records_while_full<P: Write + AsFd>(
    file: &mut P,
    bytes: &[u8],
    record_len: usize,
    stop: impl Fn() -> bool,
    wait: Duration,
    mut while_full: impl FnMut(),
) -> io::Result<()> {
    debug_assert!(record_len > 0 && bytes.len() % record_len == 0);
    let chunk = (PIPE_BUF / record_len).max(1) * record_len;
    for records in bytes.chunks(chunk) {
        write_all_while_full(file, records, &stop, wait, &mut while_full)?;
    }
    Ok(())
}

/// What [`read_exact`] and [`fill`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The buffer is full.
    Complete,
    /// The writer closed the pipe after `n` bytes of the buffer (`n` may be 0).
    Closed(usize),
    /// The caller said to stop after `n` bytes.
    Stopped(usize),
}

/// What the caller of [`fill`] says before each read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Go {
    /// Read now (after a bounded wait, which may have timed out).
    Read,
    /// Stop filling.
    Stop,
}

/// Fills `buf` from a non-blocking pipe. Before every read, `wait` makes one
/// bounded wait for data and says whether to read or to stop; its error
/// ends the fill. A read finding nothing yet waits again.
///
/// It reads after every wait, even one that timed out: `poll` reports no
/// hang-up for a writer that opened before the read end did, but `read`
/// returns end-of-file once no writer is left.
pub fn fill<P: Read, E: From<io::Error>>(
    file: &mut P,
    buf: &mut [u8],
    mut wait: impl FnMut(&P) -> Result<Go, E>,
) -> Result<ReadOutcome, E> {
    let mut filled = 0;
    while filled < buf.len() {
        if wait(file)? == Go::Stop {
            return Ok(ReadOutcome::Stopped(filled));
        }
        match file.read(&mut buf[filled..]) {
            Ok(0) => return Ok(ReadOutcome::Closed(filled)),
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ReadOutcome::Complete)
}

/// Fills `buf` from a non-blocking pipe, waiting while it is empty, until
/// `stop()` says to stop. The pipe must have had a writer when this is
/// called (see [`writer_present`]): before that, `read` says end-of-file.
pub fn read_exact<P: Read + AsFd>(
    file: &mut P,
    buf: &mut [u8],
    stop: impl Fn() -> bool,
) -> io::Result<ReadOutcome> {
    fill(file, buf, |file| {
        if stop() {
            return Ok(Go::Stop);
        }
        wait_ready(file, false, POLL_INTERVAL)?;
        Ok(Go::Read)
    })
}

/// Whether the non-blocking read end `file` has a writer now, without
/// waiting. A read end that never had a writer reports nothing to `poll`,
/// so this asks `read`: end-of-file means no writer, `EAGAIN` an idle one.
/// Bytes already written are moved to `early` (the caller reads them
/// first later).
pub fn writer_present<P: Read>(file: &mut P, early: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 64];
    match file.read(&mut chunk) {
        Ok(0) => Ok(false),
        Ok(n) => {
            early.extend_from_slice(&chunk[..n]);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io::ErrorKind;
    use std::os::fd::BorrowedFd;

    /// What the stand-in's next `read` or `write` does.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// Moves at most this many bytes.
        Bytes(usize),
        /// Fails with this kind.
        Fail(ErrorKind),
    }

    /// A pipe whose `read`s and `write`s follow a script, one step per
    /// call. Past its script a `read` says end-of-file and a `write` takes
    /// everything. `poll` is asked about `/dev/null`, which is always ready,
    /// so no test waits.
    struct Scripted {
        steps: VecDeque<Step>,
        calls: usize,
        source: VecDeque<u8>,
        written: Vec<u8>,
        always_ready: File,
    }

    impl Scripted {
        fn new(steps: &[Step], source: &[u8]) -> Self {
            Self {
                steps: steps.iter().copied().collect(),
                calls: 0,
                source: source.iter().copied().collect(),
                written: Vec::new(),
                always_ready: File::options()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                    .unwrap(),
            }
        }

        /// How many bytes the next call may move, or its error.
        fn next_step(&mut self, asked: usize) -> io::Result<usize> {
            self.calls += 1;
            match self.steps.pop_front() {
                Some(Step::Bytes(n)) => Ok(n.min(asked)),
                Some(Step::Fail(kind)) => Err(kind.into()),
                None => Ok(asked),
            }
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.next_step(buf.len())?.min(self.source.len());
            for (slot, byte) in buf.iter_mut().zip(self.source.drain(..n)) {
                *slot = byte;
            }
            Ok(n)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let n = self.next_step(bytes.len())?;
            self.written.extend_from_slice(&bytes[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl AsFd for Scripted {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.always_ready.as_fd()
        }
    }

    const MESSAGE: &[u8] = b"0123456789abcdefghij";

    /// Runs `write_all_while_full` of `MESSAGE` over `steps`; returns its
    /// result, the stand-in, and how often the full-pipe hook ran.
    fn write_over(steps: &[Step], stop: bool) -> (io::Result<()>, Scripted, usize) {
        let mut pipe = Scripted::new(steps, &[]);
        let mut hook_calls = 0;
        let result = write_all_while_full(
            &mut pipe,
            MESSAGE,
            || stop,
            Duration::ZERO,
            || hook_calls += 1,
        );
        (result, pipe, hook_calls)
    }

    #[test]
    fn a_full_pipe_runs_the_hook_and_the_write_resumes_where_it_stopped() {
        use Step::*;
        let steps = [Bytes(7), Fail(ErrorKind::WouldBlock), Bytes(5)];
        let (result, pipe, hook_calls) = write_over(&steps, false);
        result.unwrap();
        assert_eq!(hook_calls, 1);
        assert_eq!(pipe.written, MESSAGE);
        assert_eq!(pipe.calls, 4, "7 bytes, full, 5 bytes, the last 8");
    }

    #[test]
    fn an_interrupted_write_is_retried_without_the_full_pipe_hook() {
        use Step::*;
        let steps = [
            Bytes(3),
            Fail(ErrorKind::Interrupted),
            Fail(ErrorKind::Interrupted),
        ];
        let (result, pipe, hook_calls) = write_over(&steps, false);
        result.unwrap();
        assert_eq!(hook_calls, 0);
        assert_eq!(pipe.written, MESSAGE);
        assert_eq!(pipe.calls, 4);
    }

    #[test]
    fn a_full_pipe_when_told_to_stop_fails_interrupted_before_the_hook() {
        let (result, pipe, hook_calls) = write_over(&[Step::Fail(ErrorKind::WouldBlock)], true);
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Interrupted);
        assert_eq!(hook_calls, 0);
        assert_eq!(pipe.calls, 1);
    }

    #[test]
    fn any_other_write_error_ends_the_write_at_once() {
        use Step::*;
        let steps = [Bytes(4), Fail(ErrorKind::BrokenPipe)];
        let (result, pipe, hook_calls) = write_over(&steps, false);
        assert_eq!(result.unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert_eq!(hook_calls, 0);
        assert_eq!(pipe.written, &MESSAGE[..4]);
        assert_eq!(pipe.calls, 2);
    }

    #[test]
    fn a_write_of_nothing_fails_with_write_zero() {
        let (result, _, _) = write_over(&[Step::Bytes(0)], false);
        assert_eq!(result.unwrap_err().kind(), ErrorKind::WriteZero);
    }

    /// Runs `fill` of a buffer of `MESSAGE`'s length over `steps`, asking
    /// to stop at the `stop_at`-th wait; returns its result, the buffer
    /// and how often it waited.
    fn fill_over(
        steps: &[Step],
        stop_at: Option<usize>,
    ) -> (io::Result<ReadOutcome>, Vec<u8>, usize) {
        let mut pipe = Scripted::new(steps, MESSAGE);
        let mut buf = vec![0u8; MESSAGE.len()];
        let mut waits = 0;
        let result = fill(&mut pipe, &mut buf, |_: &Scripted| {
            waits += 1;
            Ok::<_, io::Error>(if Some(waits) == stop_at {
                Go::Stop
            } else {
                Go::Read
            })
        });
        (result, buf, waits)
    }

    #[test]
    fn a_fill_waits_again_after_nothing_yet_or_an_interrupted_read() {
        use Step::*;
        let steps = [
            Fail(ErrorKind::WouldBlock),
            Bytes(6),
            Fail(ErrorKind::Interrupted),
            Bytes(9),
        ];
        let (result, buf, waits) = fill_over(&steps, None);
        assert_eq!(result.unwrap(), ReadOutcome::Complete);
        assert_eq!(buf, MESSAGE);
        assert_eq!(waits, 5, "one wait before each of the five reads");
    }

    #[test]
    fn a_fill_ends_on_any_other_read_error() {
        use Step::*;
        let steps = [Bytes(6), Fail(ErrorKind::ConnectionReset)];
        let (result, _, waits) = fill_over(&steps, None);
        assert_eq!(result.unwrap_err().kind(), ErrorKind::ConnectionReset);
        assert_eq!(waits, 2);
    }

    #[test]
    fn a_fill_reports_end_of_file_and_a_stop_with_the_bytes_it_has() {
        use Step::*;
        let mut pipe = Scripted::new(&[Bytes(6)], &MESSAGE[..6]);
        let mut buf = [0u8; 10];
        let outcome = fill(&mut pipe, &mut buf, |_: &Scripted| {
            Ok::<_, io::Error>(Go::Read)
        });
        assert_eq!(outcome.unwrap(), ReadOutcome::Closed(6));
        assert_eq!(&buf[..6], &MESSAGE[..6]);

        let (result, buf, waits) = fill_over(&[Bytes(6), Fail(ErrorKind::WouldBlock)], Some(3));
        assert_eq!(result.unwrap(), ReadOutcome::Stopped(6));
        assert_eq!(&buf[..6], &MESSAGE[..6]);
        assert_eq!(waits, 3);
    }

    #[test]
    fn writer_present_tells_an_idle_writer_from_none_and_keeps_early_bytes() {
        use Step::*;
        let mut early = Vec::new();
        let mut probe = |step: Step| {
            let mut pipe = Scripted::new(&[step], MESSAGE);
            writer_present(&mut pipe, &mut early).map_err(|e| e.kind())
        };
        assert_eq!(probe(Fail(ErrorKind::WouldBlock)), Ok(true));
        assert_eq!(probe(Fail(ErrorKind::Interrupted)), Ok(false));
        assert_eq!(probe(Bytes(0)), Ok(false));
        assert_eq!(
            probe(Fail(ErrorKind::PermissionDenied)),
            Err(ErrorKind::PermissionDenied)
        );
        assert_eq!(probe(Bytes(5)), Ok(true));
        assert_eq!(early, &MESSAGE[..5]);
    }
}
