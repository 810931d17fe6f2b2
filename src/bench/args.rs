//! The `kvs-bench` command line.

use super::engines::{LockKind, StoreKind};
use super::mix::Mix;
use super::schedule::Pause;
use clap::Parser;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;

/// The most subscribers `--notify` accepts (each is a session slot with its
/// own pipe writer and reader thread).
pub const MAX_SUBSCRIBERS: usize = 64;

/// Drives the store (and, with `--notify`, the server's notification path)
/// with a timed mix of multi-key reads and writes, and reports throughput,
/// latency percentiles, backup costs and memory.
///
/// With `--fork-pause` it instead measures how long `fork()` stalls a
/// process holding the preloaded store (the cost a fork-based backup pays).
#[derive(Debug, Clone, Parser)]
#[command(name = "kvs-bench", version, about, long_about = None)]
pub struct Args {
    /// Store engine (`cow` and `flurry` exist only in this benchmark).
    #[arg(long, value_enum, default_value_t = StoreKind::LockFree)]
    pub store: StoreKind,

    /// Shards of the sharded engines (mutex, cow); default: the server's.
    #[arg(long, env = "KVS_BENCH_SHARDS")]
    pub shards: Option<NonZeroUsize>,

    /// Reader-writer lock of the mutex engine.
    #[arg(long, value_enum, default_value_t = LockKind::ParkingLot)]
    pub lock: LockKind,

    /// Threads issuing commands.
    #[arg(long, default_value_t = NonZeroUsize::new(1).expect("non-zero"))]
    pub threads: NonZeroUsize,

    /// Keys preloaded before timing starts; commands pick among them.
    #[arg(long, default_value_t = NonZeroUsize::new(10_000).expect("non-zero"))]
    pub keys: NonZeroUsize,

    /// Percent of reads and writes, READ:WRITE (each command touches 1 to 3
    /// random keys; a write sets them all at once).
    #[arg(long, default_value = "90:10")]
    pub mix: Mix,

    /// How long the timed load runs, in milliseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_ms: u64,

    /// Run the load this many milliseconds before timing it, measuring
    /// nothing meanwhile: the figures then describe the steady state
    /// rather than the first seconds, when the heap is still growing to
    /// the run's size. Load-only runs (no backups, no --notify).
    #[arg(long, default_value_t = 0)]
    pub warmup_ms: u64,

    /// Start a backup of the whole store every this many milliseconds, on a
    /// separate thread, as BACKUP does (0: no backups). A backup that takes
    /// longer is followed by the next at once.
    #[arg(long, default_value_t = 0)]
    pub backup_every_ms: u64,

    /// Scheduling priority of the backup writer threads, as `kvs
    /// --backup-priority` sets it.
    #[arg(long, value_enum, default_value_t = crate::backup::WriterPriority::Normal)]
    pub backup_priority: crate::backup::WriterPriority,

    /// Instead of backups, a thread beside the load for all of it: `spin`
    /// takes a core's time, `stream` also sweeps 256 MiB of memory (neither
    /// touches the store: the controls for a backup's cost), `hold` only
    /// holds snapshots open, 800 ms each, unread and asleep (what an open
    /// snapshot costs the writers; the mutex engine's snapshot is its
    /// locked copy, so there it is a copy every 800 ms).
    #[arg(long, value_enum)]
    pub hog: Option<super::hog::Hog>,

    /// Take the periodic backups by forking (mutex engine only): the
    /// parent read-locks every shard and forks, the child writes the file.
    #[arg(long)]
    pub backup_fork: bool,

    /// Instead of periodic backups, time this many backup starts back to
    /// back under the load (each writer discards the contents); the load
    /// runs until they are all taken, and at least --duration-ms.
    #[arg(long)]
    pub backup_starts: Option<NonZeroU64>,

    /// Length of every written value, in bytes (1 to 40; with --notify at
    /// least 16, as each value carries its send time).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=40))]
    pub value_bytes: u8,

    /// Seed of the command streams (each thread derives its own).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Subscribers on every key, each a session whose notifications go
    /// through a real FIFO to a reader thread (0: none).
    #[arg(long, default_value_t = 0)]
    pub notify: usize,

    /// With --notify: notifications each (worker, subscriber) ring holds, as
    /// the server's --ring-capacity.
    #[arg(long, default_value_t = NonZeroUsize::new(4096).expect("non-zero"))]
    pub ring_capacity: NonZeroUsize,

    /// Open loop: commands per second over all threads, each due at a
    /// fixed time and its latency counted from then (0: closed loop, as
    /// fast as possible, latency of the store call alone). A thread that
    /// falls behind issues its overdue commands at once, never skipping one.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,

    /// With --rate: how a load thread waits for its next command's due time
    /// (yield: stays runnable, yielding the core; sleep: leaves the core).
    #[arg(long, value_enum, default_value_t = Pause::Yield)]
    pub pause: Pause,

    /// Append the run's full latency histograms (HdrHistogram interval log,
    /// V2 compressed) to this file, tagged with the JSON's `run_id`.
    #[arg(long)]
    pub hdr_log: Option<PathBuf>,

    /// Free text copied into the JSON's `label` field, for the report to
    /// group runs by what the bench cannot know (say `load=50%` of a
    /// capacity measured beforehand).
    #[arg(long, default_value = "")]
    pub label: String,

    /// Diagnostic: class each write by whether its thread was switched out
    /// during it (two `getrusage` calls per write; perturbs the load, so
    /// compare only with runs made with it too). Reports the writes
    /// preempted and blocked, and the latency of those that ran throughout.
    #[arg(long)]
    pub count_switches: bool,

    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,

    /// Measure the fork() pause at this store size instead of running a load.
    #[arg(long)]
    pub fork_pause: bool,

    /// With --fork-pause: how many forks to time (the median is reported).
    #[arg(long, default_value_t = NonZeroUsize::new(7).expect("non-zero"))]
    pub fork_runs: NonZeroUsize,
}

/// Arguments whose flag combinations have been checked, once, by
/// [`Args::validate`]: the only arguments [`run`](super::run) takes.
#[derive(Debug, Clone)]
pub struct ValidArgs(Args);

impl std::ops::Deref for ValidArgs {
    type Target = Args;

    fn deref(&self) -> &Args {
        &self.0
    }
}

impl Args {
    /// Checks what clap cannot, the combinations of flags, and vouches for
    /// the arguments that pass.
    pub fn validate(self) -> Result<ValidArgs, String> {
        self.check_combinations()?;
        Ok(ValidArgs(self))
    }

    fn check_combinations(&self) -> Result<(), String> {
        if self.notify > MAX_SUBSCRIBERS {
            return Err(format!(
                "--notify {} is more than the {MAX_SUBSCRIBERS} subscribers supported",
                self.notify
            ));
        }
        if self.notify > 0 && usize::from(self.value_bytes) < super::workload::STAMP_DIGITS {
            return Err(format!(
                "--notify needs --value-bytes of at least {} (each value carries its send time)",
                super::workload::STAMP_DIGITS
            ));
        }
        if self.fork_pause
            && (self.notify > 0 || self.backup_every_ms > 0 || self.backup_starts.is_some())
        {
            return Err("--fork-pause runs no load: drop --notify and the backup flags".into());
        }
        if self.backup_fork && (self.backup_every_ms == 0 || self.store != StoreKind::Mutex) {
            return Err("--backup-fork needs --backup-every-ms and --store mutex".into());
        }
        if self.backup_starts.is_some() && self.backup_every_ms > 0 {
            return Err("--backup-starts and --backup-every-ms are two modes: pick one".into());
        }
        if self.hog.is_some()
            && (self.backup_every_ms > 0 || self.backup_starts.is_some() || self.fork_pause)
        {
            return Err(
                "--hog stands in for the backups: drop the backup flags and --fork-pause".into(),
            );
        }
        if self.warmup_ms > 0
            && (self.hog.is_some()
                || self.notify > 0
                || self.backup_every_ms > 0
                || self.backup_starts.is_some()
                || self.fork_pause)
        {
            return Err(
                "--warmup-ms is for load-only runs: drop --notify, --fork-pause and the backup flags"
                    .into(),
            );
        }
        if self.pause != Pause::Yield && self.rate == 0 {
            return Err("--pause is how an open-loop thread waits: it needs --rate".into());
        }
        Ok(())
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    fn parse(line: &[&str]) -> Result<ValidArgs, String> {
        let args = Args::try_parse_from(std::iter::once("kvs-bench").chain(line.iter().copied()))
            .map_err(|e| e.to_string())?;
        args.validate()
    }

    #[test]
    fn defaults_and_flags() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.store, StoreKind::LockFree);
        assert_eq!(args.mix.to_string(), "90:10");
        let args = parse(&["--store", "mutex", "--threads", "2", "--mix", "50:50"]).unwrap();
        assert_eq!((args.store, args.threads.get()), (StoreKind::Mutex, 2));
        let args = parse(&["--store", "cow", "--shards", "256", "--lock", "std"]).unwrap();
        assert_eq!(args.store, StoreKind::Cow);
        assert_eq!(
            (args.shards.map(|s| s.get()), args.lock),
            (Some(256), LockKind::Std)
        );
        let args = parse(&["--hog", "stream"]).unwrap();
        assert_eq!(args.hog, Some(crate::bench::hog::Hog::Stream));
    }

    #[test]
    fn refuses_bad_flags() {
        for bad in [
            &["--threads", "0"][..],
            &["--mix", "70:20"],
            &["--value-bytes", "41"],
            &["--duration-ms", "0"],
            &["--store", "btree"],
            &["--notify", "1", "--value-bytes", "8"],
            &["--notify", "65"],
            &["--fork-pause", "--notify", "1"],
            &["--backup-starts", "10", "--backup-every-ms", "5"],
            &["--shards", "0"],
            &["--backup-fork", "--backup-every-ms", "5"],
            &["--backup-fork", "--store", "mutex"],
            &["--pause", "sleep"],
            &["--pause", "nap", "--rate", "1000"],
            &["--warmup-ms", "500", "--backup-every-ms", "5"],
            &["--warmup-ms", "500", "--notify", "1"],
            &["--hog", "spin", "--backup-every-ms", "10"],
            &["--hog", "stream", "--fork-pause"],
            &["--hog", "stream", "--warmup-ms", "500"],
            &["--hog", "busy"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
