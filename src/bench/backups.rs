//! Backups beside the load, issued the way a job's `BACKUP` issues them:
//! a snapshot on the calling thread, then [`Backups::start`] (a permit and
//! a writer thread), the server's own code.
//!
//! Three costs are recorded separately because they hurt differently:
//! * `start`, as the paper defines a backup's start: from the `BACKUP`
//!   command to the moment the job could run its next command (snapshot,
//!   permit and thread start), paid by the job's thread;
//! * `snapshot`, the `store.snapshot()` part of it alone;
//! * `write`, the writer thread's work (sort, format, write, `fsync`),
//!   which only competes with the workers for cores, memory bandwidth and,
//!   for the locked engines, nothing else: its snapshot holds no lock.
//!
//! Two modes. Periodic (`--backup-every-ms`): a real backup every period,
//! waited for before the next (so `write` is measured), as the paper's
//! stall experiments need. Starts (`--backup-starts N`): N backups back to
//! back, each writer given the snapshot but writing an empty file, so that
//! thousands of starts can be timed on a large store without writing it
//! thousands of times; each is waited for, so every start finds a permit
//! free (the uncontended start path).

use super::engines::forked::ForkBackup;
use super::latency::Latencies;
use crate::backup::{Backups, WriterPriority};
use crate::store::{Snapshot, Store};
use crate::token::{Key, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// How often a waiting backup thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(5);

/// What the backup thread does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A full backup every period until the run stops.
    Every(Duration),
    /// This many back-to-back starts whose writers discard the contents.
    Starts(u64),
    /// A fork-based backup every period until the run stops.
    Fork(Duration),
}

/// What the backup thread measured.
#[derive(Debug, Default)]
pub struct BackupStats {
    /// Backups completed.
    pub completed: u64,
    /// Backups whose file was not there once its writer finished.
    pub failed: u64,
    /// `BACKUP` to the job's next command: snapshot, permit, thread start.
    pub start: Latencies,
    /// `store.snapshot()` alone.
    pub snapshot: Latencies,
    /// From the start's return to the writer's end (periodic mode only).
    pub write: Latencies,
}

/// Runs `mode` against `store`, writing into `dir`, from the moment `start`
/// opens until `stop` is set (periodic) or every start is taken (starts).
/// A fork mode without a `forker` takes no backup.
pub fn run(
    store: &dyn Store,
    forker: Option<&dyn ForkBackup>,
    mode: Mode,
    priority: WriterPriority,
    dir: &Path,
    start: &Barrier,
    stop: &AtomicBool,
) -> BackupStats {
    if let (Mode::Fork(every), Some(forker)) = (mode, forker) {
        return run_forks(forker, every, &dir.join("bench.bck"), start, stop);
    }
    let mut stats = BackupStats::default();
    // One permit is enough: each backup is waited for before the next.
    let backups = Backups::new(1).with_writer_priority(priority);
    start.wait();
    let mut taken = 0u64;
    loop {
        let more = match mode {
            // Relaxed: a stop request carries no data (statistics leave by join).
            Mode::Every(_) => !stop.load(Ordering::Relaxed),
            Mode::Starts(count) => taken < count,
            Mode::Fork(_) => false,
        };
        if !more {
            break;
        }
        let began = Instant::now();
        let snapshot = store.snapshot();
        stats.snapshot.record(began.elapsed());
        let snapshot: Box<dyn Snapshot> = match mode {
            Mode::Starts(_) => Box::new(Discarded(snapshot)),
            Mode::Every(_) | Mode::Fork(_) => snapshot,
        };
        // Each backup gets a file of its own, as the server's do, and none
        // is removed until the run's directory is (after the timing):
        // removing one here would free its blocks on this thread, beside
        // the load (traced: about 2 ms of kernel time at 1M keys).
        let path = dir.join(format!("bench-{taken}.bck"));
        backups.start(snapshot, path.clone());
        let started = began.elapsed();
        stats.start.record(started);
        backups.wait_idle();
        if let Mode::Every(_) = mode {
            stats.write.record(began.elapsed() - started);
        }
        if path.exists() {
            stats.completed += 1;
        } else {
            stats.failed += 1;
        }
        taken += 1;
        if let Mode::Every(every) = mode {
            wait_until(began + every, stop);
        }
    }
    stats
}

/// Fork-based backups every `every` until `stop`: `start` records the
/// parent's stall (locks, `fork()`), `write` the child's life until it
/// exits; a child that fails or cannot be forked counts as failed.
fn run_forks(
    forker: &dyn ForkBackup,
    every: Duration,
    path: &Path,
    start: &Barrier,
    stop: &AtomicBool,
) -> BackupStats {
    let mut stats = BackupStats::default();
    start.wait();
    // Relaxed: as in `run`.
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        let child = forker.fork_backup(path);
        let started = began.elapsed();
        stats.start.record(started);
        let exited = child.and_then(|pid| nix::sys::wait::waitpid(pid, None));
        stats.write.record(began.elapsed() - started);
        match exited {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) if std::fs::remove_file(path).is_ok() => {
                stats.completed += 1
            }
            _ => stats.failed += 1,
        }
        wait_until(began + every, stop);
    }
    stats
}

/// A snapshot whose backup is an empty file: the start path is exercised
/// in full, the store's contents are dropped on the writer thread unread.
struct Discarded(Box<dyn Snapshot>);

impl Snapshot for Discarded {
    fn into_sorted_pairs(self: Box<Self>) -> Vec<(Key, Value)> {
        drop(self.0);
        Vec::new()
    }
}

/// Sleeps until `deadline`, or until `stop` is set.
fn wait_until(deadline: Instant, stop: &AtomicBool) {
    loop {
        // Relaxed: as in `run`.
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        thread::sleep((deadline - now).min(STOP_POLL));
    }
}
