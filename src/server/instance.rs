//! One server per register path.
//!
//! A second server started on the path of a live one would rename its own
//! FIFO over the first one's, take every new client, and lose its FIFO when
//! the first one stops and removes the path. So a server claims the path
//! before it creates the FIFO, and holds the claim for its whole life:
//!
//! * it takes an exclusive, non-blocking `flock` on a lock file beside the
//!   FIFO (`.NAME.lock`). The kernel drops the lock when the process exits,
//!   however it exits, so a crashed server never blocks the next one. The
//!   lock file itself is never removed: a server that removed it could let
//!   a second one lock a new file of the same name while a third still
//!   holds the old one;
//! * it refuses the path if the FIFO there has a reader (a non-blocking open
//!   for writing succeeds), which catches a live server that holds no lock
//!   (one whose lock file was deleted by hand).
//!
//! The invariant: while a server runs, no other server that started after it
//! serves the same register path.

use super::fifo::{self, End};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why the register path cannot be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another server holds the lock file.
    #[error("another kvs server is serving {} (it holds {})", .fifo.display(), .lock.display())]
    Locked {
        /// The register FIFO.
        fifo: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// Some process has the FIFO open for reading.
    #[error("{} is being read by another process (a running server?)", .0.display())]
    HasReader(PathBuf),
    /// The lock file cannot be opened or locked.
    #[error("cannot lock {}", .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// The claim on a register path; released when dropped (or at exit).
#[derive(Debug)]
pub struct Claim {
    _lock: Flock<File>,
}

/// The lock file that guards `register`: `.NAME.lock` in the same directory.
pub fn lock_path(register: &Path) -> PathBuf {
    let name = register
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    register.with_file_name(format!(".{name}.lock"))
}

/// Claims `register` for this server (module doc).
pub fn claim(register: &Path) -> Result<Claim, ClaimError> {
    let path = lock_path(register);
    let io_error = |source| ClaimError::Io {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&path)
        .map_err(io_error)?;
    let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, Errno::EWOULDBLOCK)) => {
            return Err(ClaimError::Locked {
                fifo: register.to_path_buf(),
                lock: path,
            })
        }
        Err((_, errno)) => return Err(io_error(errno.into())),
    };
    if has_reader(register) {
        return Err(ClaimError::HasReader(register.to_path_buf()));
    }
    Ok(Claim { _lock: lock })
}

/// Whether the FIFO at `path` is open for reading by some process. A path
/// that is missing, or is not a FIFO, has none (creating the FIFO then
/// reports what is wrong with it).
fn has_reader(path: &Path) -> bool {
    matches!(fifo::try_open(path, End::Write), Ok(Some(_)))
}
