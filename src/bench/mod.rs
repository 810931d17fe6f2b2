//! `kvs-bench`: the load generator behind the paper's measurements.
//!
//! * [`args`]: the command line.
//! * [`engines`]: the engines measured (the server's two, and two more).
//! * [`schedule`]: the open-loop schedule of `--rate`.
//! * [`histlog`]: full histograms saved beside the JSON records.
//! * [`mix`]: the `READ:WRITE` command mix.
//! * [`workload`]: keys, values, random draws, preloading.
//! * [`jobfile`]: the course's mixed workload as a job file.
//! * [`load`]: the worker threads and their per-thread statistics.
//! * [`latency`]: HDR histograms, one per thread, merged at the end.
//! * [`backups`]: continuous backups beside the load.
//! * [`hog`]: a busy thread in the backups' place, as their control.
//! * [`notify`]: the server's notification path, through real FIFOs.
//! * [`fork`]: the `fork()` pause, for comparison with snapshots.
//! * [`rss`]: peak resident memory.
//! * [`progress`]: the progress bar.
//! * [`report`]: the JSON record a run prints.
//! * [`results`]: reading `results/*.jsonl` back into tables.
//! * [`stats`]: paired ratios, bootstrap intervals, verdicts.
//! * [`switches`]: which writes their own thread's preemption delayed.
//!
//! A run preloads the store, starts every thread behind one barrier, lets
//! the load run for the requested time, stops it with a flag, and only then
//! merges what each thread measured, so the timed loop shares nothing but
//! the store itself.

pub mod args;
pub mod backups;
pub mod engines;
pub mod fork;
pub mod histlog;
pub mod hog;
pub mod jobfile;
pub mod latency;
pub mod load;
pub mod mix;
pub mod notify;
pub mod progress;
pub mod report;
pub mod results;
pub mod rss;
pub mod schedule;
pub mod stats;
pub mod switches;
pub mod workload;

use crate::notify::writer::Wire;
use anyhow::Context;
use args::{Args, ValidArgs};
use backups::BackupStats;
use engines::Opened;
use latency::Latencies;
use load::{Sink, Worker, WorkerStats};
use report::{ForkReport, LoadReport, Report};
use schedule::Schedule;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Runs what `args` asks for and returns its report. With `--notify`,
/// the notification rig's pipe writers speak `W` (see [`notify`]).
pub fn run<W: Wire>(args: &ValidArgs) -> anyhow::Result<Report> {
    if args.fork_pause {
        run_fork_pause(args).map(Report::Fork)
    } else {
        run_load::<W>(args).map(|report| Report::Load(Box::new(report)))
    }
}

fn open(args: &Args) -> Opened {
    engines::open(args.store, args.shards.map(|s| s.get()), args.lock)
}

fn run_fork_pause(args: &Args) -> anyhow::Result<ForkReport> {
    let opened = open(args);
    let keys = workload::key_table(args.keys.get());
    workload::preload(&*opened.store, &keys, usize::from(args.value_bytes));
    let pauses = fork::time_forks(args.fork_runs.get()).context("fork")?;
    let us = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e6);
    let median = fork::median(&pauses);
    Ok(ForkReport {
        mode: "fork".into(),
        store: args.store.name().into(),
        keys: keys.len(),
        value_bytes: usize::from(args.value_bytes),
        fork_runs: pauses.len(),
        fork_pause_us: us(median.as_ref()),
        fork_pause_min_us: us(pauses.iter().min()),
        fork_pause_max_us: us(pauses.iter().max()),
        peak_rss_kib: rss::peak_rss_kib(),
    })
}

/// Everything the threads of one load run produced.
struct Measured {
    elapsed: Duration,
    /// CPU time of the whole process over the timed load.
    cpu: Option<Duration>,
    workers: WorkerStats,
    backups: BackupStats,
    /// The hog's rounds, with `--hog`.
    hog_rounds: Option<u64>,
    notify: Option<notify::NotifyStats>,
}

fn run_load<W: Wire>(args: &Args) -> anyhow::Result<LoadReport> {
    let opened = open(args);
    let keys: Arc<[crate::token::Token]> = workload::key_table(args.keys.get()).into();
    workload::preload(&*opened.store, &keys, usize::from(args.value_bytes));
    let measured = measure::<W>(args, &opened, &keys)?;
    let lockfree = opened.lockfree.as_ref();
    let live_versions = lockfree.map(|s| s.live_versions() as u64);
    let mut report = build_report(args, &measured, live_versions, rss::peak_rss_kib());
    report.helps = lockfree.map(|s| s.helps());
    report.aborts = lockfree.map(|s| s.aborts());
    if args.count_switches {
        report.pending_waits = lockfree.map(|s| s.pending_waits());
    }
    if let Some(path) = &args.hdr_log {
        save_histograms(path, &report.run_id, &measured)
            .with_context(|| format!("appending histograms to {}", path.display()))?;
    }
    Ok(report)
}

fn save_histograms(
    path: &std::path::Path,
    run_id: &str,
    measured: &Measured,
) -> std::io::Result<()> {
    histlog::append(
        path,
        run_id,
        measured.elapsed,
        &[
            ("read", &measured.workers.reads),
            ("write", &measured.workers.writes),
            ("backup_start", &measured.backups.start),
            ("backup_snapshot", &measured.backups.snapshot),
            ("backup_write", &measured.backups.write),
        ],
    )
}

/// A name for one run, unique across runs: engine, seed, and the wall clock
/// and process it ran at.
fn run_id(args: &Args) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-s{}-{:x}-{}",
        args.store.name(),
        args.seed,
        nanos,
        std::process::id()
    )
}

/// Starts the rig (if any), the workers and the backup thread; runs the
/// load for the requested time; stops and joins everything.
fn measure<W: Wire>(
    args: &Args,
    opened: &Opened,
    keys: &Arc<[crate::token::Token]>,
) -> anyhow::Result<Measured> {
    let epoch = Instant::now();
    let (rig, ports) = if args.notify > 0 {
        let (rig, ports) = notify::Rig::start::<W>(
            Arc::clone(&opened.store),
            keys,
            args.notify,
            args.threads.get(),
            args.ring_capacity.get(),
            epoch,
        )?;
        (Some(rig), ports)
    } else {
        (None, Vec::new())
    };
    let sinks = ports.into_iter().map(|port| Sink::Port {
        port: Box::new(port),
        epoch,
    });
    // One instant for every worker, so that they all end the warm-up at
    // once, and the timed load begins then.
    let record_from =
        (args.warmup_ms > 0).then(|| Instant::now() + Duration::from_millis(args.warmup_ms));
    let workers = workers(args, &opened.store, keys, sinks, record_from);
    let backup_dir = tempfile::Builder::new()
        .prefix("kvs-bench-backup-")
        .tempdir()
        .context("creating a directory for backups")?;
    let timed = run_timed(args, opened, workers, record_from, backup_dir.path());
    let notify = match rig {
        Some(rig) => Some(rig.finish(timed.workers.keys_written * args.notify as u64)?),
        None => None,
    };
    Ok(Measured {
        elapsed: timed.elapsed,
        cpu: timed.cpu,
        workers: timed.workers,
        backups: timed.backups,
        hog_rounds: timed.hog_rounds,
        notify,
    })
}

/// One load thread per `--threads`, each recording from `record_from` (the
/// end of the warm-up, if any); the first ones publish through `sinks` (the
/// rig's worker ports, with `--notify`), the others write to the store.
fn workers(
    args: &Args,
    store: &Arc<dyn crate::store::Store>,
    keys: &Arc<[crate::token::Token]>,
    mut sinks: impl Iterator<Item = Sink>,
    record_from: Option<Instant>,
) -> Vec<Worker> {
    let threads = args.threads.get();
    (0..threads)
        .map(|index| Worker {
            store: Arc::clone(store),
            sink: sinks.next().unwrap_or(Sink::Store),
            keys: Arc::clone(keys),
            mix: args.mix,
            value_bytes: usize::from(args.value_bytes),
            rng: workload::Rng::new(args.seed, index as u64),
            schedule: (args.rate > 0).then(|| Schedule::new(args.rate, threads, index)),
            pause: args.pause,
            count_switches: args.count_switches,
            record_from,
        })
        .collect()
}

/// Which backups run beside the load, if any.
fn backup_mode(args: &Args) -> Option<backups::Mode> {
    match (args.backup_starts, args.backup_every_ms) {
        (Some(count), _) => Some(backups::Mode::Starts(count.get())),
        (None, 0) => None,
        (None, ms) if args.backup_fork => Some(backups::Mode::Fork(Duration::from_millis(ms))),
        (None, ms) => Some(backups::Mode::Every(Duration::from_millis(ms))),
    }
}

/// What the timed part of a load run measured.
struct Timed {
    elapsed: Duration,
    cpu: Option<Duration>,
    workers: WorkerStats,
    backups: BackupStats,
    hog_rounds: Option<u64>,
}

/// Releases the workers and the backup thread together, waits out the
/// warm-up (which the workers end at `record_from`) and the load, then
/// stops and joins them all.
fn run_timed(
    args: &Args,
    opened: &Opened,
    workers: Vec<Worker>,
    record_from: Option<Instant>,
    backup_dir: &Path,
) -> Timed {
    let (store, forker) = (&opened.store, opened.forker.as_deref());
    let backup_mode = backup_mode(args);
    let stop = AtomicBool::new(false);
    let start = Barrier::new(
        workers.len() + 1 + usize::from(backup_mode.is_some()) + usize::from(args.hog.is_some()),
    );
    thread::scope(|scope| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|worker| {
                let (start, stop) = (&start, &stop);
                scope.spawn(move || worker.run(start, stop))
            })
            .collect();
        let mut backup = backup_mode.map(|mode| {
            let (start, stop) = (&start, &stop);
            let priority = args.backup_priority;
            scope.spawn(move || {
                backups::run(&**store, forker, mode, priority, backup_dir, start, stop)
            })
        });
        let hog = args.hog.map(|hog| {
            let (start, stop) = (&start, &stop);
            scope.spawn(move || hog::run(hog, &**store, start, stop))
        });
        start.wait();
        let (began, cpu_before) = wait_out_the_load(args, record_from);
        // Starts mode: the load goes on until every start is taken.
        let starts_done = match backup_mode {
            Some(backups::Mode::Starts(_)) => backup.take().map(|h| h.join()),
            _ => None,
        };
        // Relaxed: the flag carries no data; results come back by join.
        stop.store(true, Ordering::Relaxed);
        let elapsed = began.elapsed();
        let mut workers = WorkerStats::default();
        for handle in handles {
            workers.merge(&handle.join().expect("a load thread panicked"));
        }
        let cpu = rss::cpu_time()
            .zip(cpu_before)
            .map(|(after, before)| after.saturating_sub(before));
        Timed {
            elapsed,
            cpu,
            workers,
            backups: backup_stats(starts_done, backup),
            hog_rounds: hog.map(|h| h.join().expect("the hog panicked")),
        }
    })
}

/// The backup thread's statistics: joined from its handle, or as starts
/// mode already joined it during the load (none without backups).
fn backup_stats(
    joined: Option<thread::Result<BackupStats>>,
    handle: Option<thread::ScopedJoinHandle<'_, BackupStats>>,
) -> BackupStats {
    match (joined, handle) {
        (Some(joined), _) => joined,
        (None, Some(handle)) => handle.join(),
        (None, None) => Ok(BackupStats::default()),
    }
    .expect("the backup thread panicked")
}

/// Waits out the workers' warm-up (which they all end at `record_from`),
/// then the timed load; returns when the timed load began and the
/// process's CPU time then.
fn wait_out_the_load(args: &Args, record_from: Option<Instant>) -> (Instant, Option<Duration>) {
    if let Some(from) = record_from {
        thread::sleep(from.saturating_duration_since(Instant::now()));
    }
    let began = Instant::now();
    let cpu_before = rss::cpu_time();
    progress::wait(
        began,
        Duration::from_millis(args.duration_ms),
        args.store.name(),
    );
    (began, cpu_before)
}

fn build_report(
    args: &Args,
    measured: &Measured,
    live_versions: Option<u64>,
    peak_rss_kib: Option<u64>,
) -> LoadReport {
    let Measured {
        elapsed,
        cpu,
        workers,
        backups,
        hog_rounds,
        notify,
    } = measured;
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let keys = args.keys.get();
    // Whole microseconds, shown in milliseconds.
    let ms = |l: &Latencies, q: f64| l.quantile_us(q).map(|us| us.round() / 1000.0);
    LoadReport {
        mode: "load".into(),
        run_id: run_id(args),
        store: args.store.name().into(),
        shards: args.shards.map(|s| s.get()),
        lock: matches!(args.store, engines::StoreKind::Mutex).then(|| args.lock.name().into()),
        label: args.label.clone(),
        threads: args.threads.get(),
        keys,
        mix: args.mix.to_string(),
        value_bytes: usize::from(args.value_bytes),
        duration_ms: args.duration_ms,
        warmup_ms: (args.warmup_ms > 0).then_some(args.warmup_ms),
        backup_every_ms: args.backup_every_ms,
        notify: args.notify,
        seed: args.seed,
        rate: args.rate,
        open_loop: args.rate > 0,
        pause: (args.rate > 0).then_some(args.pause),
        achieved_rate: (workers.ops as f64 / seconds).round(),
        overdue: (args.rate > 0).then_some(workers.overdue),
        ops: workers.ops,
        ops_per_sec: (workers.ops as f64 / seconds).round(),
        backup_fork: args.backup_fork,
        backup_priority: backup_mode(args).is_some().then_some(args.backup_priority),
        hog: args.hog,
        hog_rounds: *hog_rounds,
        backup_child_peak_rss_kib: args.backup_fork.then(rss::children_peak_rss_kib).flatten(),
        cpu_seconds: cpu.map(|c| c.as_secs_f64()),
        ops_per_cpu_sec: cpu
            .filter(|c| !c.is_zero())
            .map(|c| (workers.ops as f64 / c.as_secs_f64()).round()),
        reads: workers.reads.count(),
        writes: workers.writes.count(),
        read_p50_us: workers.reads.quantile_us(0.5),
        read_p99_us: workers.reads.quantile_us(0.99),
        read_p999_us: workers.reads.quantile_us(0.999),
        read_p9999_us: workers.reads.quantile_us(0.9999),
        read_max_us: workers.reads.max_us(),
        write_p50_us: workers.writes.quantile_us(0.5),
        write_p99_us: workers.writes.quantile_us(0.99),
        write_p999_us: workers.writes.quantile_us(0.999),
        write_p9999_us: workers.writes.quantile_us(0.9999),
        write_max_us: workers.writes.max_us(),
        backups: backups.completed,
        backup_start_samples: backups.start.count(),
        backup_start_p50_us: backups.start.quantile_us(0.5),
        backup_start_p99_us: backups.start.quantile_us(0.99),
        backup_start_max_us: backups.start.max_us(),
        backup_snapshot_p50_us: backups.snapshot.quantile_us(0.5),
        backup_snapshot_max_us: backups.snapshot.max_us(),
        backup_write_ms_p50: ms(&backups.write, 0.5),
        peak_rss_kib,
        live_versions,
        live_versions_per_key: live_versions.map(|live| live as f64 / keys as f64),
        notify_per_sec: notify
            .as_ref()
            .map(|n| (n.delivered as f64 / seconds).round()),
        notify_p50_us: notify.as_ref().and_then(|n| n.latency.quantile_us(0.5)),
        notify_p99_us: notify.as_ref().and_then(|n| n.latency.quantile_us(0.99)),
        notify_delivered: notify.as_ref().map(|n| n.delivered),
        notify_expected: notify
            .as_ref()
            .map(|_| workers.keys_written * args.notify as u64),
        notify_sessions_ended: notify.as_ref().map(|n| n.sessions_ended),
        writes_preempted: workers.switches.as_ref().map(|s| s.preempted),
        writes_blocked: workers.switches.as_ref().map(|s| s.blocked),
        ran_throughout_write_p999_us: workers
            .switches
            .as_ref()
            .and_then(|s| s.ran_throughout.quantile_us(0.999)),
        ran_throughout_write_max_us: workers
            .switches
            .as_ref()
            .and_then(|s| s.ran_throughout.max_us()),
        pending_waits: None,
        helps: None,
        aborts: None,
    }
}
