//! The `kvs` command line.

use crate::store::Engine;
use clap::Parser;
use std::num::NonZeroUsize;
use std::path::PathBuf;

/// Runs every `.job` file of a directory against a shared key-value store.
///
/// Without REGISTER_FIFO (batch mode) it processes the jobs, waits for every
/// backup to finish, and exits. With it (server mode) it also serves
/// subscribing clients over named pipes until SIGINT or SIGTERM.
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

    /// Store engine.
    #[arg(long, value_enum, default_value_t = Engine::ALL[0])]
    pub store: Engine,
}
