//! What a run reports: one flat record, printed as one JSON object (one line
//! of a `results/*.jsonl` file) or as a short summary for people.
//!
//! Flat on purpose: the report generator and any `jq` one-liner can pick a
//! field by name. A latency with no sample (no reads in a `0:100` mix, no
//! backup in a short run) is `null`, never a misleading 0.

use super::schedule::Pause;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The figures of one load run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Always `"load"`, to tell it from a [`ForkReport`] in a mixed file.
    pub mode: String,
    /// This run's name, unique; its histograms in the `--hdr-log` file are
    /// tagged with it.
    #[serde(default)]
    pub run_id: String,
    /// The engine.
    pub store: String,
    /// Shards asked for with `--shards` (`null`: the engine's default).
    #[serde(default)]
    pub shards: Option<usize>,
    /// The mutex engine's reader-writer lock (`null` for other engines).
    #[serde(default)]
    pub lock: Option<String>,
    /// The `--label` text (empty when none was given).
    #[serde(default)]
    pub label: String,
    /// Load threads.
    pub threads: usize,
    /// Preloaded keys.
    pub keys: usize,
    /// `READ:WRITE` percent.
    pub mix: String,
    /// Length of written values.
    pub value_bytes: usize,
    /// Timed duration asked for, in milliseconds.
    pub duration_ms: u64,
    /// Untimed load run before it (`--warmup-ms`; absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_ms: Option<u64>,
    /// Backup period (0: none).
    pub backup_every_ms: u64,
    /// Subscribers on every key (0: none).
    pub notify: usize,
    /// The seed.
    pub seed: u64,
    /// Commands per second asked for (0: closed loop).
    #[serde(default)]
    pub rate: u64,
    /// Whether commands followed an open-loop schedule (`--rate`), their
    /// latencies counted from their due times.
    #[serde(default)]
    pub open_loop: bool,
    /// Commands per second actually issued (below `rate` when the threads
    /// fell behind their schedule).
    #[serde(default)]
    pub achieved_rate: f64,
    /// Open loop: commands due by the end that never started (a backlog
    /// means the offered load exceeded what the store served).
    #[serde(default)]
    pub overdue: Option<u64>,
    /// Commands completed.
    pub ops: u64,
    /// Commands per second of measured wall time.
    pub ops_per_sec: f64,
    /// Open loop: how the load threads waited for their due times
    /// (`--pause`; runs before the option yielded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<Pause>,
    /// Whether the backups were fork-based (`--backup-fork`).
    #[serde(default)]
    pub backup_fork: bool,
    /// With backups: the writers' scheduling priority
    /// (`--backup-priority`; absent in runs made before the option, which
    /// ran at normal priority).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_priority: Option<crate::backup::WriterPriority>,
    /// The stand-in thread run instead of backups (`--hog`; absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hog: Option<super::hog::Hog>,
    /// With `--hog`: the rounds it made (buffer sweeps or spin rounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hog_rounds: Option<u64>,
    /// With `--backup-fork`: the largest peak resident set of a backup
    /// child, KiB (its private copies plus what it touched of the parent's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_child_peak_rss_kib: Option<u64>,
    /// CPU time the process used during the timed load (all threads), s.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// Commands per CPU-second: steadier than `ops_per_sec` on a machine
    /// shared with other work (it does not count time the threads were not
    /// running), though not the same thing (a thread parked on a lock costs
    /// wall time, not CPU time).
    #[serde(default)]
    pub ops_per_cpu_sec: Option<f64>,
    /// Read commands completed.
    pub reads: u64,
    /// Write commands completed.
    pub writes: u64,
    /// Read latency median, µs.
    pub read_p50_us: Option<f64>,
    /// Read latency 99th percentile, µs.
    pub read_p99_us: Option<f64>,
    /// Read latency 99.9th percentile, µs.
    #[serde(default)]
    pub read_p999_us: Option<f64>,
    /// Read latency 99.99th percentile, µs.
    #[serde(default)]
    pub read_p9999_us: Option<f64>,
    /// Longest read, µs.
    #[serde(default)]
    pub read_max_us: Option<f64>,
    /// Write latency median, µs.
    pub write_p50_us: Option<f64>,
    /// Write latency 99th percentile, µs.
    pub write_p99_us: Option<f64>,
    /// Write latency 99.9th percentile, µs.
    pub write_p999_us: Option<f64>,
    /// Write latency 99.99th percentile, µs: where stalls that hit only a
    /// few writes per backup (a lock held through a snapshot's copy) show.
    #[serde(default)]
    pub write_p9999_us: Option<f64>,
    /// Longest write, µs.
    pub write_max_us: Option<f64>,
    /// Backups completed.
    pub backups: u64,
    /// Backup starts timed.
    #[serde(default)]
    pub backup_start_samples: u64,
    /// Backup start (from `BACKUP` to the job's next command: snapshot,
    /// permit and writer thread start), median, µs.
    pub backup_start_p50_us: Option<f64>,
    /// Backup start, 99th percentile, µs.
    #[serde(default)]
    pub backup_start_p99_us: Option<f64>,
    /// Longest backup start, µs.
    pub backup_start_max_us: Option<f64>,
    /// `store.snapshot()` alone, median, µs.
    #[serde(default)]
    pub backup_snapshot_p50_us: Option<f64>,
    /// Longest `store.snapshot()`, µs.
    #[serde(default)]
    pub backup_snapshot_max_us: Option<f64>,
    /// Median time to write a backup file (periodic backups), ms.
    pub backup_write_ms_p50: Option<f64>,
    /// Peak resident memory of the process (`VmHWM`), KiB.
    pub peak_rss_kib: Option<u64>,
    /// Versions allocated and not yet freed, at the end (lock-free only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_versions: Option<u64>,
    /// `live_versions / keys` (lock-free only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_versions_per_key: Option<f64>,
    /// Links that met another command's ready pending version and
    /// committed it for its owner, preload included (lock-free only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helps: Option<u64>,
    /// Links that gave up waiting for another command's pending version
    /// that was not ready (its owner between two links) and aborted that
    /// command, which started again, preload included (lock-free only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborts: Option<u64>,
    /// With `--notify`: notifications delivered per second of load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_per_sec: Option<f64>,
    /// With `--notify`: commit-to-delivery median, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_p50_us: Option<f64>,
    /// With `--notify`: commit-to-delivery 99th percentile, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_p99_us: Option<f64>,
    /// With `--notify`: notifications delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_delivered: Option<u64>,
    /// With `--notify`: notifications the commits made (keys written times
    /// subscribers); more than `notify_delivered` only if a session ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_expected: Option<u64>,
    /// With `--notify`: sessions the server ended because their reader fell
    /// behind by a full ring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_sessions_ended: Option<u64>,
    /// With `--count-switches`: writes during which their thread was
    /// switched out while runnable (preempted, or yielded) and never
    /// blocked (see `bench::switches`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_preempted: Option<u64>,
    /// With `--count-switches`: writes during which their thread blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_blocked: Option<u64>,
    /// With `--count-switches`: write p99.9 of the writes during which
    /// their thread was never switched out, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_throughout_write_p999_us: Option<f64>,
    /// With `--count-switches`: the longest of those writes, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_throughout_write_max_us: Option<f64>,
    /// With `--count-switches`, lock-free only: links that waited for
    /// another command's pending version that was not ready yet (briefly:
    /// then they abort it, see `aborts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_waits: Option<u64>,
}

/// The figures of one `--fork-pause` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkReport {
    /// Always `"fork"`.
    pub mode: String,
    /// The engine holding the preloaded keys.
    pub store: String,
    /// Preloaded keys.
    pub keys: usize,
    /// Length of the preloaded values.
    pub value_bytes: usize,
    /// Forks timed.
    pub fork_runs: usize,
    /// Median pause of the parent in `fork()`, µs.
    pub fork_pause_us: f64,
    /// Shortest pause, µs.
    pub fork_pause_min_us: f64,
    /// Longest pause, µs.
    pub fork_pause_max_us: f64,
    /// Peak resident memory (`VmHWM`), KiB.
    pub peak_rss_kib: Option<u64>,
}

/// Either kind of report.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A load run.
    Load(Box<LoadReport>),
    /// A fork-pause run.
    Fork(ForkReport),
}

impl Report {
    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        let json = match self {
            Report::Load(report) => serde_json::to_string(report),
            Report::Fork(report) => serde_json::to_string(report),
        };
        json.expect("plain numbers and strings always serialize")
    }
}

/// A latency for people: `-` when absent.
struct Shown(Option<f64>);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(value) => write!(f, "{value:.1}"),
            None => f.write_str("-"),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Load(report) => report.fmt(f),
            Report::Fork(report) => report.fmt(f),
        }
    }
}

impl fmt::Display for LoadReport {
    /// Throughput and latencies, then a line for each optional part of the
    /// run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        writeln!(
            f,
            "{} store, {} threads, {} keys, mix {}: {} ops, {:.0} ops/s",
            r.store, r.threads, r.keys, r.mix, r.ops, r.ops_per_sec
        )?;
        writeln!(
            f,
            "read  µs: p50 {} p99 {}",
            Shown(r.read_p50_us),
            Shown(r.read_p99_us)
        )?;
        writeln!(
            f,
            "write µs: p50 {} p99 {} p99.9 {} max {}",
            Shown(r.write_p50_us),
            Shown(r.write_p99_us),
            Shown(r.write_p999_us),
            Shown(r.write_max_us)
        )?;
        self.fmt_optional_parts(f)
    }
}

impl LoadReport {
    /// The lines of the parts a run may have (open loop, backups,
    /// notifications, versions) and the memory line.
    fn fmt_optional_parts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        if r.open_loop {
            writeln!(
                f,
                "open loop: {} commands/s asked, {:.0} achieved, {} overdue at the end",
                r.rate,
                r.achieved_rate,
                r.overdue.unwrap_or(0)
            )?;
        }
        if r.backup_start_samples > 0 {
            writeln!(
                f,
                "backups: {}, start ({} samples) µs p50 {} max {}, write ms p50 {}",
                r.backups,
                r.backup_start_samples,
                Shown(r.backup_start_p50_us),
                Shown(r.backup_start_max_us),
                Shown(r.backup_write_ms_p50)
            )?;
        }
        if let (Some(hog), Some(rounds)) = (r.hog, r.hog_rounds) {
            writeln!(f, "hog: {hog:?}, {rounds} rounds")?;
        }
        if r.notify > 0 {
            writeln!(
                f,
                "notify: {} subscribers, {:.0}/s, µs p50 {} p99 {}, {} of {} delivered, {} sessions ended",
                r.notify,
                r.notify_per_sec.unwrap_or(0.0),
                Shown(r.notify_p50_us),
                Shown(r.notify_p99_us),
                r.notify_delivered.unwrap_or(0),
                r.notify_expected.unwrap_or(0),
                r.notify_sessions_ended.unwrap_or(0)
            )?;
        }
        if let (Some(preempted), Some(blocked)) = (r.writes_preempted, r.writes_blocked) {
            writeln!(
                f,
                "switches: {preempted} writes preempted, {blocked} blocked; the rest µs p99.9 {} max {}; {} pending waits",
                Shown(r.ran_throughout_write_p999_us),
                Shown(r.ran_throughout_write_max_us),
                Shown(r.pending_waits.map(|w| w as f64)),
            )?;
        }
        if let Some(live) = r.live_versions {
            writeln!(f, "live versions: {live}")?;
        }
        if let Some(helps) = r.helps {
            writeln!(f, "helped commits: {helps}")?;
        }
        if let Some(aborts) = r.aborts {
            writeln!(f, "aborted commands: {aborts}")?;
        }
        write!(f, "peak RSS: {} KiB", r.peak_rss_kib.unwrap_or(0))
    }
}

impl fmt::Display for ForkReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} store, {} keys: fork() pause median {:.1} µs (min {:.1}, max {:.1}) over {} forks; peak RSS {} KiB",
            self.store,
            self.keys,
            self.fork_pause_us,
            self.fork_pause_min_us,
            self.fork_pause_max_us,
            self.fork_runs,
            self.peak_rss_kib.unwrap_or(0)
        )
    }
}
