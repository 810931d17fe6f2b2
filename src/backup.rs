//! Backups: point-in-time copies of the store written to `X-n.bck` files off
//! the job thread, at most `max_backups` at a time.
//!
//! A `BACKUP` command takes a [`Snapshot`] on the job thread (for the
//! lock-free engine that is O(1)), asks the [`BackupLimiter`] for a permit,
//! and hands both to a writer thread. The job goes on at once unless
//! `max_backups` writers are already running, in which case it waits for one
//! to finish. A file is written under a temporary name and renamed into place
//! when complete, so nobody ever sees half a backup.
//!
//! A writer thread may run at a lower scheduling priority
//! ([`Backups::with_writer_priority`]): it then leaves the cores to the job
//! workers, at the price of backups that take longer while they are busy.

use crate::format::{write_show_lines, BACKUP_FAILED};
use crate::store::Snapshot;
use crate::sync::{self, Arc, Condvar, Mutex, MutexGuard};
use crate::sync::{fence, AtomicUsize, Ordering};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A counting semaphore for backups in flight, with a lock-free fast path.
///
/// Invariant: at most `max` permits exist at any time. A permit is taken with
/// one CAS when a slot is free; only a caller that must wait (the limit is
/// reached, or [`wait_idle`](Self::wait_idle) with backups still running)
/// takes the mutex and sleeps on the condition variable.
///
/// No lost wake-up (the classic store-buffering hazard). A sleeper, holding
/// the mutex, announces itself in `sleepers`, issues a `SeqCst` fence, then
/// reads `in_flight`; a releaser lowers `in_flight`, issues a `SeqCst` fence,
/// then reads `sleepers`. The two fences are ordered in the single total
/// order of `SeqCst` operations: if the sleeper's comes first, the releaser's
/// read sees the announcement and wakes it (taking the mutex first, so the
/// wake cannot fall in the gap between the sleeper's check and its wait); if
/// the releaser's comes first, the sleeper's read sees the lowered count and
/// it does not sleep. Without the fences both reads may return stale values
/// and the sleeper waits forever.
#[derive(Debug)]
pub struct BackupLimiter {
    max: usize,
    in_flight: AtomicUsize,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    changed: Condvar,
}

/// The right to run one backup; dropping it frees the slot.
#[derive(Debug)]
pub struct BackupPermit {
    limiter: Arc<BackupLimiter>,
}

impl BackupLimiter {
    /// A limiter that lets `max` backups (at least one) run at once.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            in_flight: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            changed: Condvar::new(),
        }
    }

    /// How many permits are held now (a momentary reading).
    pub fn in_flight(&self) -> usize {
        // Relaxed: a statistic; nothing is concluded from it about other data.
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Takes a permit, waiting while `max` are held. (An associated
    /// function, since loom's `Arc` cannot be a method receiver.)
    pub fn acquire(limiter: &Arc<Self>) -> BackupPermit {
        // Relaxed: only a first guess for the CAS, which validates it.
        let guess = limiter.in_flight.load(Ordering::Relaxed);
        if !limiter.try_take(guess) {
            limiter.sleep_until(|limiter| limiter.try_take(limiter.latest_in_flight()));
        }
        BackupPermit {
            limiter: Arc::clone(limiter),
        }
    }

    /// Waits until no permit is held.
    pub fn wait_idle(&self) {
        self.sleep_until(|limiter| limiter.latest_in_flight() == 0);
    }

    /// Raises `in_flight` if it is below `max`, starting from `current`.
    fn try_take(&self, mut current: usize) -> bool {
        while current < self.max {
            // Acquire on success: pairs with the releasing RMW of the permit
            // whose slot this one reuses (the backup's file is complete).
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
        false
    }

    /// `in_flight` as the sleeper's side of the type's no-lost-wake-up
    /// argument reads it: after a `SeqCst` fence that follows the caller's
    /// announcement in `sleepers`.
    fn latest_in_flight(&self) -> usize {
        // SeqCst fence: orders the announcement before this read against the
        // releaser's fence between its decrement and its read of `sleepers`.
        fence(Ordering::SeqCst);
        // Relaxed: the fence above orders it; a successful take revalidates
        // the count with an Acquire CAS.
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Sleeps on the condition variable until `ready` holds.
    fn sleep_until(&self, mut ready: impl FnMut(&Self) -> bool) {
        let mut guard = self.lock_state();
        // Relaxed: the SeqCst fence in `latest_in_flight`, which every
        // `ready` check runs after this, orders it against the releaser's.
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        while !ready(self) {
            guard = sync::wait(&self.changed, guard);
        }
        // Relaxed: leaving needs no ordering; a releaser that still counts
        // this thread only sends one unneeded wake-up.
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
        drop(guard);
    }

    fn release(&self) {
        // Release: publishes the finished backup to the Acquire CAS of the
        // next permit holder.
        self.in_flight.fetch_sub(1, Ordering::Release);
        // SeqCst fence: pairs with the sleeper's fence in `latest_in_flight`
        // (type doc), so this read or the sleeper's sees the other's write.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            // Taking the lock orders this wake after a sleeper's check and
            // before (or during) its wait, never in the gap between them.
            let _guard = self.lock_state();
            self.changed.notify_all();
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, ()> {
        // The mutex guards no data, so a poisoned one is still usable.
        sync::lock(&self.lock)
    }
}

impl Drop for BackupPermit {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

/// Starts backups on writer threads, bounded by a shared [`BackupLimiter`].
#[derive(Debug, Clone)]
pub struct Backups {
    limiter: Arc<BackupLimiter>,
    writer_priority: WriterPriority,
}

/// The scheduling priority of backup writer threads.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum WriterPriority {
    /// The process's own priority: writers share the cores equally with
    /// the job workers.
    Normal,
    /// Nice value 19, the lowest of the normal policy: a writer gets a small
    /// share of a core the workers want, but still runs out the slice it
    /// started when a worker wakes.
    Low,
    /// Linux's `SCHED_IDLE` policy: a worker that wakes takes the core from
    /// a writer at once, and a writer runs mostly when the workers leave a
    /// core idle (a blocked `BACKUP` waiting for a permit leaves one).
    Idle,
}

impl Backups {
    /// A backup service that runs at most `max_in_flight` writers at once,
    /// at the process's own priority.
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            limiter: Arc::new(BackupLimiter::new(max_in_flight)),
            writer_priority: WriterPriority::Normal,
        }
    }

    /// The same service with its writer threads at `priority`.
    pub fn with_writer_priority(self, priority: WriterPriority) -> Self {
        Self {
            writer_priority: priority,
            ..self
        }
    }

    /// Writes `snapshot` to `path` on a writer thread, once a slot is free.
    /// Failures are reported on stderr as the course server does.
    pub fn start(&self, snapshot: Box<dyn Snapshot>, path: PathBuf) {
        let permit = BackupLimiter::acquire(&self.limiter);
        let priority = self.writer_priority;
        let spawned = std::thread::Builder::new()
            .name("backup".into())
            .spawn(move || {
                lower_this_thread(priority);
                if let Err(error) = write_backup(snapshot, &path) {
                    report_failure(&path, &error);
                }
                drop(permit);
            });
        if let Err(error) = spawned {
            report_failure(Path::new("backup thread"), &error);
        }
    }

    /// Waits until every started backup has finished.
    pub fn wait_idle(&self) {
        self.limiter.wait_idle();
    }
}

/// Puts the calling thread at `priority` (Linux schedules each thread on
/// its own). A failure only costs the latency it was meant to save: it is
/// logged and the backup goes on at the priority it has.
fn lower_this_thread(priority: WriterPriority) {
    let thread = nix::unistd::gettid().as_raw();
    let status = match priority {
        WriterPriority::Normal => return,
        // SAFETY: setpriority reads its three integer arguments and nothing else.
        WriterPriority::Low => unsafe {
            libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, LOWEST_NICE)
        },
        WriterPriority::Idle => {
            let no_priority = libc::sched_param { sched_priority: 0 };
            // SAFETY: `no_priority` is a valid sched_param that outlives the
            // call, which only reads it.
            unsafe { libc::sched_setscheduler(thread, libc::SCHED_IDLE, &no_priority) }
        }
    };
    if status != 0 {
        let error = io::Error::last_os_error();
        tracing::warn!(%error, ?priority, "backup writer keeps its priority");
    }
}

/// The lowest priority of the normal policy.
const LOWEST_NICE: libc::c_int = 19;

fn report_failure(path: &Path, error: &io::Error) {
    crate::report(format_args!("{BACKUP_FAILED}"));
    tracing::warn!(path = %path.display(), %error, "backup failed");
}

/// Writes the snapshot in `SHOW` format to a temporary file beside `path`,
/// then renames it to `path`. On failure the temporary file is removed.
pub fn write_backup(snapshot: Box<dyn Snapshot>, path: &Path) -> io::Result<()> {
    let temporary = temporary_path(path);
    let result = write_file(snapshot, &temporary).and_then(|()| fs::rename(&temporary, path));
    if result.is_err() {
        // Best effort: the file may not exist if creating it was what failed.
        let _ = fs::remove_file(&temporary);
    }
    result
}

fn write_file(snapshot: Box<dyn Snapshot>, path: &Path) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, PacedFile(File::create(path)?));
    let pairs = snapshot.into_sorted_pairs();
    write_show_lines(&mut out, &pairs)?;
    crate::pace::release(pairs);
    out.into_inner().map_err(|e| e.into_error())?.0.sync_data()
}

/// A backup file that yields the processor after each write it takes (see
/// [`crate::pace`]): its buffer fills between two, a few tens of
/// microseconds of formatting.
struct PacedFile(File);

impl Write for PacedFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.0.write(bytes)?;
        sync::thread::yield_now();
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `dir/X-1.bck` is written as `dir/.X-1.bck.tmp`: same directory (so the
/// rename is atomic), hidden, and never ending in `.bck`.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::token::{Key, Value};
    use std::sync::mpsc::{channel, Sender};

    /// The calling thread's nice value and scheduling policy.
    fn own_priority() -> (i32, i32) {
        let thread = nix::unistd::gettid().as_raw();
        // SAFETY: getpriority and sched_getscheduler read their integer
        // arguments and nothing else.
        unsafe {
            (
                libc::getpriority(libc::PRIO_PROCESS, thread as libc::id_t),
                libc::sched_getscheduler(thread),
            )
        }
    }

    /// An empty snapshot that reports the priority of the thread that
    /// reads it: the backup's writer.
    struct ReportsPriority(Sender<(i32, i32)>);

    impl Snapshot for ReportsPriority {
        fn into_sorted_pairs(self: Box<Self>) -> Vec<(Key, Value)> {
            let _ = self.0.send(own_priority());
            Vec::new()
        }
    }

    fn writer_priority_of(backups: &Backups) -> (i32, i32) {
        let dir = tempfile::tempdir().unwrap();
        let (report, reported) = channel();
        backups.start(
            Box::new(ReportsPriority(report)),
            dir.path().join("x-1.bck"),
        );
        backups.wait_idle();
        assert!(dir.path().join("x-1.bck").exists());
        reported.recv().unwrap()
    }

    #[test]
    fn writers_run_at_the_priority_asked_and_only_they_do() {
        let (ours, policy) = own_priority();
        let at = |priority| writer_priority_of(&Backups::new(1).with_writer_priority(priority));
        assert_eq!(at(WriterPriority::Normal), (ours, policy));
        assert_eq!(at(WriterPriority::Low), (LOWEST_NICE, policy));
        assert_eq!(at(WriterPriority::Idle).1, libc::SCHED_IDLE);
        assert_eq!(
            own_priority(),
            (ours, policy),
            "the caller's own is unchanged"
        );
    }
}
