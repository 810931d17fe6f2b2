//! `kvs-bench`: the load generator behind the paper's measurements.
//!
//! * [`args`]: the command line.
//! * [`mix`]: the `READ:WRITE` command mix.
//! * [`workload`]: keys, values, random draws, preloading.
//! * [`load`]: the worker threads and their per-thread statistics.
//! * [`latency`]: HDR histograms, one per thread, merged at the end.
//! * [`backups`]: continuous backups beside the load.
//! * [`notify`]: the server's notification path, through real FIFOs.
//! * [`fork`]: the `fork()` pause, for comparison with snapshots.
//! * [`rss`]: peak resident memory.
//! * [`progress`]: the progress bar.
//! * [`report`]: the JSON record a run prints.
//! * [`results`]: reading `results/*.jsonl` back into tables.
//!
//! A run preloads the store, starts every thread behind one barrier, lets
//! the load run for the requested time, stops it with a flag, and only then
//! merges what each thread measured, so the timed loop shares nothing but
//! the store itself.

pub mod args;
pub mod backups;
pub mod fork;
pub mod latency;
pub mod load;
pub mod mix;
pub mod notify;
pub mod progress;
pub mod report;
pub mod results;
pub mod rss;
pub mod workload;

use crate::store::lockfree::LockFreeStore;
use crate::store::{Engine, Store};
use anyhow::Context;
use args::Args;
use backups::BackupStats;
use latency::Latencies;
use load::{Sink, Worker, WorkerStats};
use report::{ForkReport, LoadReport, Report};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Runs what `args` asks for and returns its report.
pub fn run(args: &Args) -> anyhow::Result<Report> {
    args.validate().map_err(anyhow::Error::msg)?;
    if args.fork_pause {
        run_fork_pause(args).map(Report::Fork)
    } else {
        run_load(args).map(|report| Report::Load(Box::new(report)))
    }
}

/// The store under test, plus the lock-free engine's own handle (for its
/// statistics) when that is the engine.
struct Opened {
    store: Arc<dyn Store>,
    lockfree: Option<Arc<LockFreeStore>>,
}

fn open(engine: Engine) -> Opened {
    match engine {
        Engine::LockFree => {
            let lockfree = Arc::new(LockFreeStore::new());
            Opened {
                store: Arc::clone(&lockfree) as Arc<dyn Store>,
                lockfree: Some(lockfree),
            }
        }
        Engine::Mutex => Opened {
            store: engine.open(),
            lockfree: None,
        },
    }
}

fn run_fork_pause(args: &Args) -> anyhow::Result<ForkReport> {
    let opened = open(args.store);
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
    workers: WorkerStats,
    backups: BackupStats,
    notify: Option<notify::NotifyStats>,
}

fn run_load(args: &Args) -> anyhow::Result<LoadReport> {
    let opened = open(args.store);
    let keys: Arc<[crate::token::Token]> = workload::key_table(args.keys.get()).into();
    workload::preload(&*opened.store, &keys, usize::from(args.value_bytes));
    let measured = measure(args, &opened.store, &keys)?;
    let live_versions = opened.lockfree.as_ref().map(|s| s.live_versions() as u64);
    Ok(build_report(
        args,
        &measured,
        live_versions,
        rss::peak_rss_kib(),
    ))
}

/// Starts the rig (if any), the workers and the backup thread; runs the
/// load for the requested time; stops and joins everything.
fn measure(
    args: &Args,
    store: &Arc<dyn Store>,
    keys: &Arc<[crate::token::Token]>,
) -> anyhow::Result<Measured> {
    let threads = args.threads.get();
    let epoch = Instant::now();
    let (rig, ports) = if args.notify > 0 {
        let (rig, ports) = notify::Rig::start(
            Arc::clone(store),
            keys,
            args.notify,
            threads,
            args.ring_capacity.get(),
            epoch,
        )?;
        (Some(rig), ports)
    } else {
        (None, Vec::new())
    };
    let mut ports = ports.into_iter();
    let workers: Vec<Worker> = (0..threads)
        .map(|index| Worker {
            store: Arc::clone(store),
            sink: match ports.next() {
                Some(port) => Sink::Port {
                    port: Box::new(port),
                    epoch,
                },
                None => Sink::Store,
            },
            keys: Arc::clone(keys),
            mix: args.mix,
            value_bytes: usize::from(args.value_bytes),
            rng: workload::Rng::new(args.seed, index as u64),
            pace: pace(args.rate, threads),
        })
        .collect();
    let backup_every =
        (args.backup_every_ms > 0).then(|| Duration::from_millis(args.backup_every_ms));
    let backup_dir = tempfile::Builder::new()
        .prefix("kvs-bench-backup-")
        .tempdir()
        .context("creating a directory for backups")?;
    let stop = AtomicBool::new(false);
    let start = Barrier::new(threads + 1 + usize::from(backup_every.is_some()));
    let duration = Duration::from_millis(args.duration_ms);
    let (elapsed, workers, backups) = thread::scope(|scope| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|worker| {
                let (start, stop) = (&start, &stop);
                scope.spawn(move || worker.run(start, stop))
            })
            .collect();
        let backup = backup_every.map(|every| {
            let (start, stop, dir) = (&start, &stop, backup_dir.path());
            scope.spawn(move || backups::run(&**store, every, dir, start, stop))
        });
        start.wait();
        let began = Instant::now();
        progress::wait(began, duration, args.store.name());
        // Relaxed: the flag carries no data; results come back by join.
        stop.store(true, Ordering::Relaxed);
        let elapsed = began.elapsed();
        let mut total = WorkerStats::default();
        for handle in handles {
            total.merge(&handle.join().expect("a load thread panicked"));
        }
        let backups = backup
            .map(|h| h.join().expect("the backup thread panicked"))
            .unwrap_or_default();
        (elapsed, total, backups)
    });
    let notify = match rig {
        Some(rig) => Some(rig.finish(workers.keys_written * args.notify as u64)?),
        None => None,
    };
    Ok(Measured {
        elapsed,
        workers,
        backups,
        notify,
    })
}

/// The time between one thread's commands that makes `threads` threads
/// issue `rate` commands per second together (`None`: unpaced).
fn pace(rate: u64, threads: usize) -> Option<Duration> {
    (rate > 0).then(|| Duration::from_secs_f64(threads as f64 / rate as f64))
}

fn build_report(
    args: &Args,
    measured: &Measured,
    live_versions: Option<u64>,
    peak_rss_kib: Option<u64>,
) -> LoadReport {
    let Measured {
        elapsed,
        workers,
        backups,
        notify,
    } = measured;
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let keys = args.keys.get();
    // Whole microseconds, shown in milliseconds.
    let ms = |l: &Latencies, q: f64| l.quantile_us(q).map(|us| us.round() / 1000.0);
    LoadReport {
        mode: "load".into(),
        store: args.store.name().into(),
        threads: args.threads.get(),
        keys,
        mix: args.mix.to_string(),
        value_bytes: usize::from(args.value_bytes),
        duration_ms: args.duration_ms,
        backup_every_ms: args.backup_every_ms,
        notify: args.notify,
        seed: args.seed,
        rate: args.rate,
        ops: workers.ops,
        ops_per_sec: (workers.ops as f64 / seconds).round(),
        reads: workers.reads.count(),
        writes: workers.writes.count(),
        read_p50_us: workers.reads.quantile_us(0.5),
        read_p99_us: workers.reads.quantile_us(0.99),
        write_p50_us: workers.writes.quantile_us(0.5),
        write_p99_us: workers.writes.quantile_us(0.99),
        write_p999_us: workers.writes.quantile_us(0.999),
        write_p9999_us: workers.writes.quantile_us(0.9999),
        write_max_us: workers.writes.max_us(),
        backups: backups.completed,
        backup_start_p50_us: backups.start.quantile_us(0.5),
        backup_start_max_us: backups.start.max_us(),
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
    }
}
