//! Continuous backups during the load, as BACKUP takes them: a snapshot on
//! the calling thread, then the whole store written to a file.
//!
//! Two costs are recorded separately because they hurt differently: the
//! snapshot start is paid by the thread that issues BACKUP (a job worker in
//! the server), while the write runs beside the workers and only competes
//! with them for cores, memory bandwidth and, for the mutex engine, locks.

use super::latency::Latencies;
use crate::backup::write_backup;
use crate::store::Store;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// How often a waiting backup thread looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(5);

/// What the backup thread measured.
#[derive(Debug, Default)]
pub struct BackupStats {
    /// Backups completed.
    pub completed: u64,
    /// Backups whose file could not be written.
    pub failed: u64,
    /// Time spent in `store.snapshot()`.
    pub start: Latencies,
    /// Time to write the snapshot's file.
    pub write: Latencies,
}

/// Backs `store` up into `dir` every `every` from the moment `start` opens
/// until `stop` is set, deleting each file once written (only its cost
/// matters here).
pub fn run(
    store: &dyn Store,
    every: Duration,
    dir: &Path,
    start: &Barrier,
    stop: &AtomicBool,
) -> BackupStats {
    let mut stats = BackupStats::default();
    let path = dir.join("bench.bck");
    start.wait();
    // Relaxed: a stop request carries no data (statistics leave by join).
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        let snapshot = store.snapshot();
        stats.start.record(began.elapsed());
        let writing = Instant::now();
        match write_backup(snapshot, &path) {
            Ok(()) => {
                stats.write.record(writing.elapsed());
                stats.completed += 1;
            }
            Err(error) => {
                tracing::warn!(%error, "benchmark backup failed");
                stats.failed += 1;
            }
        }
        let _ = std::fs::remove_file(&path);
        wait_until(began + every, stop);
    }
    stats
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
