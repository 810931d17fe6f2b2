//! Moving the protocol's bytes over non-blocking FIFOs, on either end.
//!
//! Both the server and the client keep their pipe descriptors non-blocking
//! while a peer may be missing, so that no step can wait forever: every wait
//! here is one `poll` bounded by a timeout, and the caller decides, between
//! waits, whether to go on (a stop flag, a deadline). What a descriptor
//! reports is read the same way on both ends: `read` returning 0 is the
//! writer gone, `EAGAIN` and `EINTR` are "nothing yet".

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
pub fn wait_ready(file: &File, writable: bool, timeout: Duration) -> io::Result<Ready> {
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
pub fn write_all_while_full(
    file: &mut File,
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
pub fn fill<E: From<io::Error>>(
    file: &mut File,
    buf: &mut [u8],
    mut wait: impl FnMut(&File) -> Result<Go, E>,
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
pub fn read_exact(
    file: &mut File,
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
pub fn writer_present(file: &mut File, early: &mut Vec<u8>) -> io::Result<bool> {
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
