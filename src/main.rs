//! `kvs`: the key-value store server. All the work is in the library; this
//! binary parses the command line and reports errors.

use anyhow::{bail, Context};
use clap::Parser;
use kvs::backup::Backups;
use kvs::cli::Args;
use kvs::job::{self, JobContext, ThreadSleeper};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kvs: {error:#}");
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

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.register_fifo.is_some() {
        bail!("server mode (REGISTER_FIFO) is not available in this version; run without it for batch mode");
    }
    let jobs = job::find_jobs(&args.jobs_dir).context("no jobs run")?;
    let store = args.store.open();
    let backups = Backups::new(args.max_backups.get());
    let stop = AtomicBool::new(false);
    let context = JobContext {
        store: store.as_ref(),
        backups: &backups,
        sleeper: &ThreadSleeper,
        stop: &stop,
    };
    let summary = job::run_jobs(&jobs, args.max_threads.get(), &context);
    backups.wait_idle();
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
