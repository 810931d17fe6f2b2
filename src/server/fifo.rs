//! Named pipes: creating the register FIFO, and opening a client's FIFOs
//! safely.
//!
//! A client path is never opened for real before its type is known: it is
//! first *pinned* with `O_PATH | O_NOFOLLOW` (which opens nothing: no FIFO
//! rendezvous, no device driver, no terminal), the pinned inode is checked
//! to be a FIFO with `fstat`, and only then is that same inode opened for
//! reading or writing through `/proc/self/fd/N`, with `O_NONBLOCK` and
//! `O_NOCTTY`. So a connect request naming a regular file, a device, a
//! terminal or a link can neither block the server, nor make it write
//! somewhere else, nor give it a controlling terminal; and a path swapped
//! after the check still opens the inode that was checked.
//!
//! [`PipesInUse`] keeps the identity (device, inode) of the register FIFO
//! and of every live session's pipes, so a connect naming one of them (to
//! read other clients' requests, say) is refused.
//!
//! The descriptors stay non-blocking: every read and write waits in `poll`
//! with a short timeout (see [`crate::protocol::pipe`], shared with the
//! client), so a session can always be told to stop, and a client that
//! stops reading can only stall its own session.

use nix::errno::Errno;
use nix::sys::stat::Mode;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The bounded reads and writes on a client's pipes, here where the
/// server's sessions have always found them.
pub use crate::protocol::pipe::{
    read_exact, reader_gone, wait_ready, write_all, writer_present, ReadOutcome, Ready,
    POLL_INTERVAL,
};

/// How often a pending client FIFO open is retried.
pub const OPEN_RETRY: Duration = Duration::from_millis(5);

/// Why a FIFO could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum FifoError {
    /// The path exists and is not a FIFO.
    #[error("{} is not a FIFO (it is {kind})", path.display())]
    NotAFifo {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The path is the server's own register FIFO.
    #[error("{} is the server's register FIFO", .0.display())]
    RegisterFifo(PathBuf),
    /// The path is a pipe of another live session, or named twice.
    #[error("{} is already in use as another client pipe", .0.display())]
    InUse(PathBuf),
    /// The client closed a pipe the server had opened.
    #[error("the client closed {}", .0.display())]
    ClientGone(PathBuf),
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

impl FifoError {
    /// An I/O error about `path`.
    pub fn io(path: &Path, source: io::Error) -> Self {
        FifoError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The identity of an inode: its device and inode numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// What a file type is, in words, for a refusal message.
fn kind_of(file_type: fs::FileType) -> &'static str {
    if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a regular file"
    }
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
    identity: FileId,
    reader: File,
    _writer: File,
}

impl RegisterFifo {
    /// Creates the FIFO at `path` with permission bits `mode`. A FIFO
    /// already there (left by an earlier run) is replaced; anything else
    /// there is an error and is left alone.
    pub fn create(path: &Path, mode: u32) -> Result<Self, FifoError> {
        let io_error = |source| FifoError::io(path, source);
        match fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_fifo() => {
                return Err(FifoError::NotAFifo {
                    path: path.to_path_buf(),
                    kind: kind_of(meta.file_type()),
                })
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
                identity: FileId::of(&reader.metadata().map_err(io_error)?),
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

    /// The identity of the FIFO's inode.
    pub fn id(&self) -> FileId {
        self.identity
    }
}

fn open_own_end(path: &Path, end: End) -> io::Result<File> {
    match try_open(path, end) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(io::Error::other("no reader on our own FIFO")),
        Err(error) => Err(io::Error::other(error)),
    }
}

impl Drop for RegisterFifo {
    fn drop(&mut self) {
        let still_ours =
            fs::symlink_metadata(&self.path).is_ok_and(|meta| FileId::of(&meta) == self.identity);
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

/// A client path pinned to the FIFO it named when it was checked: an
/// `O_PATH` descriptor, which opens nothing and so cannot block, acquire a
/// terminal or wake a device.
#[derive(Debug)]
pub struct PinnedFifo {
    path: PathBuf,
    pin: File,
    id: FileId,
}

impl PinnedFifo {
    /// Pins `path` (a symbolic link is refused, not followed) and checks
    /// that it is a FIFO.
    pub fn pin(path: &Path) -> Result<Self, FifoError> {
        let pin = OpenOptions::new()
            .read(true)
            .custom_flags((nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW).bits())
            .open(path)
            .map_err(|source| FifoError::io(path, source))?;
        let meta = pin
            .metadata()
            .map_err(|source| FifoError::io(path, source))?;
        if !meta.file_type().is_fifo() {
            return Err(FifoError::NotAFifo {
                path: path.to_path_buf(),
                kind: kind_of(meta.file_type()),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            pin,
            id: FileId::of(&meta),
        })
    }

    /// The path the client named.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The identity of the pinned FIFO.
    pub fn id(&self) -> FileId {
        self.id
    }

    /// One attempt to open the pinned FIFO without blocking. `Ok(None)`: a
    /// write end whose reader has not opened yet (try again).
    pub fn try_open(&self, end: End) -> Result<Option<File>, FifoError> {
        let mut options = OpenOptions::new();
        match end {
            End::Read => options.read(true),
            End::Write => options.write(true),
        };
        options.custom_flags((nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_NOCTTY).bits());
        // The magic link opens the pinned inode itself, whatever the path
        // names by now.
        let through = format!("/proc/self/fd/{}", self.pin.as_raw_fd());
        match options.open(through) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.raw_os_error() == Some(Errno::ENXIO as i32) => Ok(None),
            Err(source) => Err(FifoError::io(&self.path, source)),
        }
    }
}

/// Pins `path` and makes one attempt to open it (see
/// [`PinnedFifo::try_open`]).
pub fn try_open(path: &Path, end: End) -> Result<Option<File>, FifoError> {
    PinnedFifo::pin(path)?.try_open(end)
}

/// The FIFOs nobody may name as a client pipe: the register FIFO, and the
/// pipes of every session that has claimed them.
#[derive(Debug, Default)]
pub struct PipesInUse {
    register: OnceLock<FileId>,
    claimed: Mutex<HashSet<FileId>>,
}

/// Pipes claimed by one session; released when dropped.
#[derive(Debug)]
pub struct Claim<'a> {
    owner: &'a PipesInUse,
    ids: Vec<FileId>,
}

impl PipesInUse {
    /// Records the register FIFO's identity (once).
    pub fn set_register(&self, id: FileId) {
        let _ = self.register.set(id);
    }

    /// Checks that `pin` is neither the register FIFO nor claimed.
    pub fn check(&self, pin: &PinnedFifo) -> Result<(), FifoError> {
        if self.register.get() == Some(&pin.id) {
            return Err(FifoError::RegisterFifo(pin.path.clone()));
        }
        if self.lock().contains(&pin.id) {
            return Err(FifoError::InUse(pin.path.clone()));
        }
        Ok(())
    }

    /// Claims all of `pins` for one session, or none if any of them is the
    /// register FIFO, already claimed, or named twice.
    pub fn claim(&self, pins: &[&PinnedFifo]) -> Result<Claim<'_>, FifoError> {
        let mut claimed = self.lock();
        let mut ids = Vec::with_capacity(pins.len());
        for pin in pins {
            if self.register.get() == Some(&pin.id) {
                return Err(FifoError::RegisterFifo(pin.path.clone()));
            }
            if claimed.contains(&pin.id) || ids.contains(&pin.id) {
                return Err(FifoError::InUse(pin.path.clone()));
            }
            ids.push(pin.id);
        }
        claimed.extend(ids.iter().copied());
        Ok(Claim { owner: self, ids })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<FileId>> {
        // The set is updated by whole inserts and removes: sound even if a
        // holder panicked.
        self.claimed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut claimed = self.owner.lock();
        for id in &self.ids {
            claimed.remove(id);
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use std::io::Write;

    fn fifo_in(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
        path
    }

    #[test]
    fn pins_only_fifos_and_never_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = fifo_in(dir.path(), "f");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        let regular = dir.path().join("regular");
        fs::write(&regular, "").unwrap();
        assert!(PinnedFifo::pin(&fifo).is_ok());
        for (path, kind) in [
            (link.as_path(), "a symbolic link"),
            (regular.as_path(), "a regular file"),
            (Path::new("/dev/null"), "a character device"),
        ] {
            let error = PinnedFifo::pin(path).unwrap_err().to_string();
            assert!(error.contains(kind), "{error}");
        }
    }

    #[test]
    fn a_read_end_tells_a_writer_from_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = fifo_in(dir.path(), "f");
        let pin = PinnedFifo::pin(&path).unwrap();
        assert!(pin.try_open(End::Write).unwrap().is_none(), "no reader yet");
        let mut reader = pin.try_open(End::Read).unwrap().unwrap();
        let mut early = Vec::new();
        assert!(!writer_present(&mut reader, &mut early).unwrap());
        let mut writer = pin.try_open(End::Write).unwrap().unwrap();
        assert!(!reader_gone(&writer));
        assert!(writer_present(&mut reader, &mut early).unwrap());
        writer.write_all(b"xy").unwrap();
        assert!(writer_present(&mut reader, &mut early).unwrap());
        assert_eq!(early, b"xy");
        drop(writer);
        assert!(!writer_present(&mut reader, &mut early).unwrap());
        let writer = pin.try_open(End::Write).unwrap().unwrap();
        drop(reader);
        assert!(reader_gone(&writer));
    }

    #[test]
    fn claimed_pipes_cannot_be_claimed_again_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let pins: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|name| PinnedFifo::pin(&fifo_in(dir.path(), name)).unwrap())
            .collect();
        let in_use = PipesInUse::default();
        in_use.set_register(pins[2].id());
        assert!(matches!(
            in_use.claim(&[&pins[0], &pins[2]]),
            Err(FifoError::RegisterFifo(_))
        ));
        assert!(matches!(
            in_use.claim(&[&pins[0], &pins[0]]),
            Err(FifoError::InUse(_))
        ));
        let claim = in_use.claim(&[&pins[0], &pins[1]]).unwrap();
        assert!(matches!(in_use.check(&pins[1]), Err(FifoError::InUse(_))));
        drop(claim);
        assert!(in_use.check(&pins[1]).is_ok());
    }
}
