//! Named pipes: creating the register FIFO, and opening a client's FIFOs
//! safely and in whatever order the client opens its ends.
//!
//! Every client FIFO is opened with `O_NOFOLLOW` (a symbolic link is refused)
//! and `O_NONBLOCK`, and the opened descriptor is checked to be a FIFO, so a
//! connect request naming a regular file, a device or a link can neither
//! block the server nor make it write somewhere else. The descriptors stay
//! non-blocking: every read and write waits in `poll` with a short timeout,
//! so a session can always be told to stop, and a client that stops reading
//! can only stall its own session.

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// How long one `poll` waits before the caller looks at its stop condition.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How often a pending client FIFO open is retried.
const OPEN_RETRY: Duration = Duration::from_millis(5);

/// Why a FIFO could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum FifoError {
    /// The path exists and is not a FIFO.
    #[error("{} exists and is not a FIFO", .0.display())]
    NotAFifo(PathBuf),
    /// The client did not open its end in time.
    #[error("the client did not open {} in time", .0.display())]
    TimedOut(PathBuf),
    /// The session was told to stop while opening.
    #[error("stopped while opening {}", .0.display())]
    Stopped(PathBuf),
    /// Any other system error.
    #[error("{}", path.display())]
    Io {
        /// The FIFO.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// The server's register FIFO, open for reading; removed from the file
/// system when dropped.
///
/// The FIFO is created under a temporary name, opened (for reading, and for
/// writing so that clients closing their ends never look like end-of-file),
/// and only then renamed into place: once the path exists, a client's
/// non-blocking open finds a reader.
#[derive(Debug)]
pub struct RegisterFifo {
    path: PathBuf,
    /// The FIFO's device and inode: at exit, the path is removed only if it
    /// still names this FIFO (not one put there by someone else since).
    identity: (u64, u64),
    reader: File,
    _writer: File,
}

impl RegisterFifo {
    /// Creates the FIFO at `path` with permission bits `mode`. A FIFO
    /// already there (left by an earlier run) is replaced; anything else
    /// there is an error and is left alone.
    pub fn create(path: &Path, mode: u32) -> Result<Self, FifoError> {
        let io_error = |source| FifoError::Io {
            path: path.to_path_buf(),
            source,
        };
        match fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_fifo() => {
                return Err(FifoError::NotAFifo(path.to_path_buf()))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(e)),
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let staging = path.with_file_name(format!(".{name}.{}.new", std::process::id()));
        let _ = fs::remove_file(&staging);
        nix::unistd::mkfifo(&staging, Mode::from_bits_truncate(mode))
            .map_err(|errno| io_error(errno.into()))?;
        let opened = (|| {
            // mkfifo applies the umask; set the mode asked for exactly.
            fs::set_permissions(&staging, fs::Permissions::from_mode(mode))?;
            let reader = open_own_end(&staging, End::Read)?;
            let writer = open_own_end(&staging, End::Write)?;
            // Replaces an old FIFO at `path` atomically.
            fs::rename(&staging, path)?;
            Ok((reader, writer))
        })();
        match opened {
            Ok((reader, writer)) => Ok(Self {
                path: path.to_path_buf(),
                identity: identity(&reader).map_err(io_error)?,
                reader,
                _writer: writer,
            }),
            Err(source) => {
                let _ = fs::remove_file(&staging);
                Err(io_error(source))
            }
        }
    }

    /// The FIFO's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The read end the host reads connect requests from.
    pub fn reader(&mut self) -> &mut File {
        &mut self.reader
    }
}

fn open_own_end(path: &Path, end: End) -> io::Result<File> {
    match try_open(path, end) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(io::Error::other("no reader on our own FIFO")),
        Err(error) => Err(io::Error::other(error)),
    }
}

/// The device and inode of an open file.
fn identity(file: &File) -> io::Result<(u64, u64)> {
    let meta = file.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

impl Drop for RegisterFifo {
    fn drop(&mut self) {
        let still_ours = fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity);
        if still_ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Which end of a client FIFO the server opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server reads (the request pipe).
    Read,
    /// The server writes (the response and notification pipes).
    Write,
}

/// One attempt to open a client FIFO without blocking. `Ok(None)`: a write
/// end whose reader has not opened yet (try again).
pub fn try_open(path: &Path, end: End) -> Result<Option<File>, FifoError> {
    let mut options = OpenOptions::new();
    match end {
        End::Read => options.read(true),
        End::Write => options.write(true),
    };
    options.custom_flags(libc_flags());
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(Errno::ENXIO as i32) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(Errno::ELOOP as i32) => {
            return Err(FifoError::NotAFifo(path.to_path_buf()))
        }
        Err(source) => {
            return Err(FifoError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    // Check the descriptor we hold, not the path: the path may have changed.
    let is_fifo = file
        .metadata()
        .map_err(|source| FifoError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .file_type()
        .is_fifo();
    if !is_fifo {
        return Err(FifoError::NotAFifo(path.to_path_buf()));
    }
    Ok(Some(file))
}

fn libc_flags() -> i32 {
    (nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
        .bits()
}

/// Why [`open_all`] gave up, with the FIFOs it had opened by then (a caller
/// may still answer on one of them).
#[derive(Debug)]
pub struct PartlyOpen<const N: usize> {
    /// What went wrong.
    pub error: FifoError,
    /// The FIFOs opened before it did, in the order asked for.
    pub opened: [Option<File>; N],
}

/// Opens several client FIFOs, retrying each until its client end is open,
/// so the client may open its ends in any order. Gives up at `deadline`, or
/// when `stop()` says so.
pub fn open_all<const N: usize>(
    pipes: [(&Path, End); N],
    deadline: Instant,
    stop: impl Fn() -> bool,
) -> Result<[File; N], PartlyOpen<N>> {
    let mut opened: [Option<File>; N] = std::array::from_fn(|_| None);
    let give_up = |error, opened| Err(PartlyOpen { error, opened });
    loop {
        for (slot, (path, end)) in opened.iter_mut().zip(pipes) {
            if slot.is_none() {
                match try_open(path, end) {
                    Ok(file) => *slot = file,
                    Err(error) => return give_up(error, opened),
                }
            }
        }
        if opened.iter().all(Option::is_some) {
            return Ok(opened.map(|file| file.expect("checked above")));
        }
        let waiting = pipes[opened.iter().position(Option::is_none).unwrap_or(0)].0;
        if stop() {
            return give_up(FifoError::Stopped(waiting.to_path_buf()), opened);
        }
        if Instant::now() >= deadline {
            return give_up(FifoError::TimedOut(waiting.to_path_buf()), opened);
        }
        thread::sleep(OPEN_RETRY);
    }
}

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

/// Writes all of `bytes` to a non-blocking pipe, waiting while it is full.
/// Fails with `Interrupted` when `stop()` says so, and with `BrokenPipe`
/// when the reader is gone.
pub fn write_all(file: &mut File, mut bytes: &[u8], stop: impl Fn() -> bool) -> io::Result<()> {
    while !bytes.is_empty() {
        match file.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stop() {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                wait_ready(file, true, POLL_INTERVAL)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What [`read_exact`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The buffer is full.
    Complete,
    /// The writer closed the pipe after `n` bytes of the buffer (`n` may be 0).
    Closed(usize),
    /// `stop()` said to stop after `n` bytes.
    Stopped(usize),
}

/// Fills `buf` from a non-blocking pipe, waiting while it is empty.
pub fn read_exact(
    file: &mut File,
    buf: &mut [u8],
    stop: impl Fn() -> bool,
) -> io::Result<ReadOutcome> {
    let mut filled = 0;
    while filled < buf.len() {
        if stop() {
            return Ok(ReadOutcome::Stopped(filled));
        }
        if wait_ready(file, false, POLL_INTERVAL)? == Ready::NotYet {
            continue;
        }
        match file.read(&mut buf[filled..]) {
            Ok(0) => return Ok(ReadOutcome::Closed(filled)),
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ReadOutcome::Complete)
}
