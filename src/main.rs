//! `kvs`: the key-value store server. All the work is in the library; this
//! binary parses the command line, starts batch or server mode, and reports
//! errors.

use anyhow::Context;
use clap::Parser;
use kvs::backup::Backups;
use kvs::cli::Args;
use kvs::job::{self, JobContext, RunSummary};
use kvs::server::{self, signals};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    match run(&args) {
        Ok(summary) if summary.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            kvs::report(format_args!("kvs: {error:#}"));
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KVS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn run(args: &Args) -> anyhow::Result<RunSummary> {
    // Before any thread starts, so that every thread inherits the mask.
    let signal_set = signals::block().context("cannot block signals")?;
    let jobs = job::find_jobs(&args.jobs_dir).context("no jobs run")?;
    let store = args.store.open();
    if let Some(backup) = &args.restore {
        restore(backup, store.as_ref())?;
    }
    let backups = Backups::new(args.max_backups.get());
    match &args.register_fifo {
        Some(register_fifo) => {
            let config = args.server_config(register_fifo.clone());
            server::run(config, store, &jobs, &backups, signal_set).context("server stopped")
        }
        None => run_batch(args, store, &jobs, &backups, signal_set),
    }
}

/// Loads `backup` into `store`, saying on stderr how long it took.
fn restore(backup: &std::path::Path, store: &dyn kvs::store::Store) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let keys = job::restore::restore(backup, store).context("nothing run")?;
    tracing::info!(keys, elapsed = ?started.elapsed(), "backup restored");
    Ok(())
}

/// Batch mode: run the jobs, wait for the backups, exit. SIGINT, SIGTERM and SIGHUP
/// stop the jobs at a command boundary.
fn run_batch(
    args: &Args,
    store: Arc<dyn kvs::store::Store>,
    jobs: &[std::path::PathBuf],
    backups: &Backups,
    signal_set: nix::sys::signal::SigSet,
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
    Ok(summary)
}
