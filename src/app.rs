//! What the `kvs` binary does, in both of its modes: block the signals,
//! find the jobs, open the store, load a backup if asked, and then either
//! run the jobs once (batch mode) or serve clients until told to stop
//! (server mode, [`crate::server::run`]).
//!
//! Invariant: the signal mask is set before any thread starts, so every
//! thread of the process inherits it and only the signal thread ever takes
//! SIGINT, SIGTERM, SIGHUP or SIGUSR1. The binary keeps nothing but its
//! logging, the parse of its command line and its exit status.

use crate::backup::Backups;
use crate::cli::Args;
use crate::job::{self, JobContext, RunSummary};
use crate::server::{self, signals};
use crate::store::Store;
use anyhow::Context;
use nix::sys::signal::SigSet;
use std::path::{Path, PathBuf};
// std: the batch stop flag is `JobContext::stop`'s (std, see there); no
// loom model runs the binary's orchestration.
#[allow(clippy::disallowed_types)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Runs `kvs` as `args` ask: batch mode without a register FIFO, server
/// mode with one. Returns how the jobs went; an error means nothing (more)
/// could be run.
pub fn run(args: &Args) -> anyhow::Result<RunSummary> {
    // Before any thread starts, so that every thread inherits the mask.
    let signal_set = signals::block().context("cannot block signals")?;
    let jobs = job::find_jobs(&args.jobs_dir).context("no jobs run")?;
    let store = args.store.open();
    if let Some(backup) = &args.restore {
        restore(backup, store.as_ref())?;
    }
    let backups = Backups::new(args.max_backups.get()).with_writer_priority(args.backup_priority);
    match &args.register_fifo {
        Some(register_fifo) => {
            let config = args.server_config(register_fifo.clone(), jobs.len());
            server::run(config, store, &jobs, &backups, signal_set).context("server stopped")
        }
        None => run_batch(args, store, &jobs, &backups, signal_set),
    }
}

/// Loads `backup` into `store`, saying on stderr how long it took.
fn restore(backup: &Path, store: &dyn Store) -> anyhow::Result<()> {
    let started = Instant::now();
    let keys = job::restore::restore(backup, store).context("nothing run")?;
    tracing::info!(keys, elapsed = ?started.elapsed(), "backup restored");
    Ok(())
}

/// Batch mode: run the jobs, wait for the backups, exit. SIGINT, SIGTERM and SIGHUP
/// stop the jobs at a command boundary.
#[allow(clippy::disallowed_types)] // the std stop flag above
fn run_batch(
    args: &Args,
    store: Arc<dyn Store>,
    jobs: &[PathBuf],
    backups: &Backups,
    signal_set: SigSet,
) -> anyhow::Result<RunSummary> {
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = {
        let stop = Arc::clone(&stop);
        move |request| {
            if request == signals::Request::Shutdown {
                // Relaxed: a stop request carries no data.
                stop.store(true, Ordering::Relaxed);
            }
        }
    };
    signals::spawn(signal_set, on_signal).context("cannot start the signal thread")?;
    let context = JobContext {
        store: store.as_ref(),
        backups,
        stop: &stop,
        gate: None,
    };
    let summary = job::run_jobs(jobs, args.max_threads.get(), &context);
    backups.wait_idle();
    leave_to_exit(store);
    Ok(summary)
}

/// Lets the process's exit reclaim the store instead of tearing it down
/// key by key: batch mode exits right after the jobs and backups are done,
/// and freeing every entry, version and index node one at a time is work
/// nobody waits for (at 100k keys it was about 13 % of the lock-free
/// engine's instructions in a batch run, `results/callgrind.txt`). Nothing
/// is lost: the store holds no file or other resource that needs closing.
fn leave_to_exit(store: Arc<dyn Store>) {
    std::mem::forget(store);
}
