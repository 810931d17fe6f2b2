//! Job files: finding them, parsing them, and running them on worker threads.
//!
//! Every regular file whose name ends in `.job` directly inside the jobs
//! directory is one job. `max_threads` workers take jobs from a shared list,
//! one whole file at a time, so files run in parallel and each file's
//! commands run in order. `X.job` writes its output to `X.out`. Each worker
//! owns one [`Commit`] path for its lifetime, handed to it when it starts:
//! the store itself in batch mode, its notification port in server mode.

pub mod command;
pub mod exec;
pub mod gate;
pub mod parse;
pub mod restore;

pub use command::Command;
pub use exec::{BackupNames, JobExecutor, Sleeper, StoppableSleeper};
pub use gate::CommandGate;
pub use parse::{parse_line, parse_line_into, JobReader, Line, ParseError, Parsed};

use crate::backup::Backups;
use crate::format::{INVALID_COMMAND, OUTPUT_EXTENSION};
use crate::store::{Commit, Store};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
// std: see `JobContext::stop` and `run_jobs_through`.
#[allow(clippy::disallowed_types)]
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Why the jobs could not be run.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The jobs directory cannot be listed.
    #[error("cannot read the jobs directory {}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// The jobs of a directory, sorted by name so runs are reproducible.
pub fn find_jobs(dir: &Path) -> Result<Vec<PathBuf>, JobError> {
    let to_error = |source| JobError::Directory {
        path: dir.to_path_buf(),
        source,
    };
    let mut jobs = Vec::new();
    for entry in fs::read_dir(dir).map_err(to_error)? {
        let path = entry.map_err(to_error)?.path();
        let is_job = path.extension().is_some_and(|ext| ext == "job")
            && fs::metadata(&path).is_ok_and(|meta| meta.is_file());
        if is_job {
            jobs.push(path);
        }
    }
    jobs.sort();
    Ok(jobs)
}

/// What the job workers share.
#[derive(Debug)]
// std: the stop flag orders nothing (read Relaxed) and no loom model
// runs it; it is the server's shutdown flag, which binaries and tests own.
#[allow(clippy::disallowed_types)]
pub struct JobContext<'a> {
    /// The store every job runs against.
    pub store: &'a dyn Store,
    /// Where `BACKUP` sends its snapshots.
    pub backups: &'a Backups,
    /// Set to stop every job at its next command boundary (a `WAIT` in
    /// progress is cut short).
    pub stop: &'a AtomicBool,
    /// With `--reset-on-sigusr1`, the gate a store reset waits at; each
    /// command that touches the store holds it.
    pub gate: Option<&'a CommandGate>,
}

/// How a run of jobs went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Jobs run to their end (or to a requested stop).
    pub completed: usize,
    /// Jobs that could not be opened or whose output could not be written.
    pub failed: usize,
}

/// How many workers run `job_count` jobs when `max_threads` are allowed:
/// at least one, and no more than there are jobs (MAX_THREADS may be any
/// number, and an idle worker would only cost a thread and its rings).
pub fn worker_count(max_threads: usize, job_count: usize) -> usize {
    max_threads.clamp(1, job_count.max(1))
}

/// Runs `jobs` on up to `max_threads` worker threads, each committing
/// straight to the store, and waits for them.
pub fn run_jobs(jobs: &[PathBuf], max_threads: usize, context: &JobContext<'_>) -> RunSummary {
    let workers = worker_count(max_threads, jobs.len());
    run_jobs_through(jobs, vec![context.store; workers], context)
}

/// Runs `jobs` on one worker thread per commit path of `commits` (at most
/// one per job), each worker committing through its own, and waits for them.
// std: the job counters only hand out indices and count failures; the
// scope's join orders them. No loom model runs jobs.
#[allow(clippy::disallowed_types)]
pub fn run_jobs_through<C: Commit + Send>(
    jobs: &[PathBuf],
    commits: Vec<C>,
    context: &JobContext<'_>,
) -> RunSummary {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let workers = worker_count(commits.len(), jobs.len());
    std::thread::scope(|scope| {
        for mut commit in commits.into_iter().take(workers) {
            let (next, failed) = (&next, &failed);
            scope.spawn(move || {
                // A job that has not started when a stop comes never starts,
                // so its `.out` is left as it was (see `run_job`).
                while !is_stopped(context) {
                    // Relaxed: the counter only hands out distinct indices;
                    // the job paths were written before the threads started.
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(index) else { break };
                    if let Err(error) = run_job(job, context, &mut commit) {
                        crate::report(format_args!("kvs: job {}: {error}", job.display()));
                        // Relaxed: read only after the scope joins every worker.
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    // Relaxed: the scope's join ordered every worker's increments before this.
    let failed = failed.load(Ordering::Relaxed);
    RunSummary {
        completed: jobs.len() - failed,
        failed,
    }
}

/// Whether the jobs were told to stop.
fn is_stopped(context: &JobContext<'_>) -> bool {
    // Relaxed: a stop request needs no data from the thread that set it.
    context.stop.load(Ordering::Relaxed)
}

/// Runs one job file to its end, or until `context.stop` is set, committing
/// its writes and deletes through `commit`.
pub fn run_job(job: &Path, context: &JobContext<'_>, commit: impl Commit) -> io::Result<()> {
    let input = BufReader::with_capacity(1 << 16, File::open(job)?);
    // Creating the output truncates it: a job stopped before it ran must
    // leave the `.out` of an earlier run untouched.
    if is_stopped(context) {
        return Ok(());
    }
    let output =
        BufWriter::with_capacity(1 << 16, File::create(job.with_extension(OUTPUT_EXTENSION))?);
    let stem = job
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = job.parent().map(Path::to_path_buf).unwrap_or_default();
    let sleeper = StoppableSleeper { stop: context.stop };
    let mut executor = JobExecutor::new(
        context.store,
        context.backups,
        &sleeper,
        output,
        BackupNames::new(dir, stem),
    )
    .with_commit(commit)
    .with_gate(context.gate);
    let mut reader = JobReader::new(input);
    // One command buffer for the whole job: each line is parsed into it.
    let mut command = Command::Show;
    while !is_stopped(context) {
        match reader.next_into(&mut command)? {
            None => break,
            Some(Parsed::Skip) => {}
            Some(Parsed::Command) => executor.execute(&command)?,
            Some(Parsed::Invalid(reason)) => {
                crate::report(format_args!("{INVALID_COMMAND}"));
                tracing::debug!(job = %job.display(), line = reader.line_number(), reason = %crate::ErrorChain(&reason), "invalid line");
            }
        }
    }
    executor.finish().map(drop)
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::store::mutex::MutexStore;

    #[test]
    fn a_run_counts_the_jobs_that_ran_and_those_that_could_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran.job");
        fs::write(&ran, "WRITE [(a,1)]\nREAD [a]\n").unwrap();
        let missing = dir.path().join("missing.job");
        let store = MutexStore::new();
        let backups = Backups::new(1);
        // std: the flag is only read here; see `JobContext::stop`.
        #[allow(clippy::disallowed_types)]
        let stop = AtomicBool::new(false);
        let context = JobContext {
            store: &store,
            backups: &backups,
            stop: &stop,
            gate: None,
        };
        let summary = run_jobs(&[ran.clone(), missing], 2, &context);
        assert_eq!(
            summary,
            RunSummary {
                completed: 1,
                failed: 1
            }
        );
        assert_eq!(
            fs::read_to_string(ran.with_extension("out")).unwrap(),
            "[(a,1)]\n"
        );
    }
}
