//! The `kvs` command line.

use crate::backup::WriterPriority;
use crate::server::Config;
use crate::store::Engine;
use clap::Parser;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

/// Runs every `.job` file of a directory against a shared key-value store.
///
/// Without REGISTER_FIFO (batch mode) it processes the jobs, waits for every
/// backup to finish, and exits. With it (server mode) it also serves
/// subscribing clients over named pipes until SIGINT, SIGTERM or SIGHUP;
/// SIGUSR1 disconnects every client and keeps serving. A second SIGINT,
/// SIGTERM or SIGHUP during a shutdown exits at once with status 1.
///
/// Note: the course's first statement put MAX_BACKUPS before MAX_THREADS;
/// this follows its final statement: threads, then backups.
#[derive(Debug, Parser)]
#[command(name = "kvs", version, about, long_about = None)]
pub struct Args {
    /// Directory whose `.job` files are run; `X.job` writes `X.out` and
    /// `X-n.bck` beside it.
    pub jobs_dir: PathBuf,

    /// Worker threads running job files (one file per thread at a time).
    pub max_threads: NonZeroUsize,

    /// Backups that may be written at once; a BACKUP beyond that waits.
    pub max_backups: NonZeroUsize,

    /// Register FIFO to create and serve clients on (server mode).
    pub register_fifo: Option<PathBuf>,

    /// Scheduling priority of the backup writer threads: normal (the
    /// server's own), low (nice 19) or idle (SCHED_IDLE: a job worker that
    /// wakes takes the core at once). A lower one leaves the cores to the
    /// job workers while a backup is written, and makes the backup itself
    /// take longer when the workers are busy.
    #[arg(long, value_enum, default_value_t = WriterPriority::Normal)]
    pub backup_priority: WriterPriority,

    /// Load this backup (`SHOW` format, e.g. an `X-n.bck`) into the store
    /// before any job or client runs. A malformed file is an error naming
    /// the line; nothing runs.
    #[arg(long, value_name = "FILE.bck")]
    pub restore: Option<PathBuf>,

    /// Store engine.
    #[arg(long, value_enum, default_value_t = Engine::ALL[0])]
    pub store: Engine,

    /// Server mode: clients served at once; one more connect waits.
    #[arg(long, default_value_t = NonZeroUsize::new(8).expect("non-zero"),
          value_parser = bounded::<MAX_SESSIONS>)]
    pub max_sessions: NonZeroUsize,

    /// Server mode: notifications each (worker, client) ring holds. A
    /// client's pipe writer also holds up to four rings' worth per worker
    /// while the client's pipe is full; a client that does not read them
    /// is disconnected once both are full.
    #[arg(long, default_value_t = NonZeroUsize::new(8192).expect("non-zero"),
          value_parser = bounded::<MAX_RING_CAPACITY>)]
    pub ring_capacity: NonZeroUsize,

    /// Server mode: subscriptions one client may hold at once; a subscribe
    /// beyond them is answered as failed (result 0, no subscription).
    #[arg(long, default_value_t = NonZeroUsize::new(1000).expect("non-zero"))]
    pub max_subscriptions: NonZeroUsize,

    /// Server mode: SIGUSR1 also empties the store, at one instant between
    /// job commands (jobs go on with an empty store).
    #[arg(long)]
    pub reset_on_sigusr1: bool,

    /// Server mode: milliseconds a connecting client has to open its pipes.
    #[arg(long, default_value_t = 5000)]
    pub connect_timeout_ms: u64,

    /// Server mode: permission bits of the register FIFO, in octal.
    #[arg(long, default_value = "600", value_parser = parse_octal_mode)]
    pub register_mode: u32,
}

impl Args {
    /// The server-mode settings these arguments describe, for a directory
    /// of `job_count` jobs (no more workers than jobs, as in batch mode).
    pub fn server_config(&self, register_fifo: PathBuf, job_count: usize) -> Config {
        Config {
            register_fifo,
            register_mode: self.register_mode,
            max_sessions: self.max_sessions.get(),
            workers: crate::job::worker_count(self.max_threads.get(), job_count),
            ring_capacity: self.ring_capacity.get(),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            max_subscriptions: self.max_subscriptions.get(),
            reset_store_on_sigusr1: self.reset_on_sigusr1,
        }
    }
}

/// The most sessions `--max-sessions` accepts.
const MAX_SESSIONS: usize = 1024;
/// The most notes `--ring-capacity` accepts per ring.
const MAX_RING_CAPACITY: usize = 1 << 20;

/// A whole number from 1 to `MAX`.
fn bounded<const MAX: usize>(text: &str) -> Result<NonZeroUsize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| *n <= MAX)
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| format!("{text:?} is not a whole number from 1 to {MAX}"))
}

fn parse_octal_mode(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "{text:?} is not an octal permission mode (000 to 777)"
        )),
    }
}
