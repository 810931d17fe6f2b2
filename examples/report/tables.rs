//! The paper's tables, declared as data over the results files.

use super::Results;
use kvs::bench::results::{format_number, markdown_table, text, Metric, Record, TableSpec};
use std::fmt::Write as _;
use std::path::Path;

const fn metric(field: &'static str, label: &'static str) -> Metric {
    Metric { field, label }
}

/// The columns of the closed-loop write-latency tables (`latency`,
/// `backupcost` and `hog`).
fn write_latency_metrics() -> Vec<Metric> {
    vec![
        metric("write_p50_us", "p50"),
        metric("write_p99_us", "p99"),
        metric("write_p999_us", "p99.9"),
        metric("write_p9999_us", "p99.99"),
        metric("write_max_us", "max"),
        metric("backups", "backups"),
    ]
}

/// The tables of each experiment, in the paper's order.
fn specs() -> Vec<(&'static str, TableSpec)> {
    vec![
        (
            "jobs",
            TableSpec {
                title: "Job files: 2 files of the course's mixed workload (lines_per_file lines each), wall time of the whole run (ms) and commands per second; yardstick is the C reference (benches/yardstick/, one read(2) per byte)".into(),
                rows: vec!["keys", "threads", "lines_per_file"],
                metrics: vec![
                    metric("wall_ms", "wall ms"),
                    metric("commands_per_sec", "commands/s"),
                ],
            },
        ),
        (
            "throughput",
            TableSpec {
                title: "Experiment 1: throughput (commands/s) by threads, mix and keys".into(),
                rows: vec!["threads", "mix", "keys"],
                metrics: vec![
                    metric("ops_per_sec", "ops/s"),
                    metric("ops_per_cpu_sec", "ops/CPU-s"),
                ],
            },
        ),
        (
            "throughput",
            TableSpec {
                title: "Experiment 1: tail latency of the same runs (µs)".into(),
                rows: vec!["threads", "mix", "keys"],
                metrics: vec![
                    metric("read_p99_us", "read p99"),
                    metric("write_p99_us", "write p99"),
                ],
            },
        ),
        (
            "latency",
            TableSpec {
                title: "Experiment 2: write latency (µs), mix 50:50, without backups (backup_every_ms 0), with back-to-back backups (1) and with one every 10 ms (10)".into(),
                rows: vec!["keys", "threads", "backup_every_ms"],
                metrics: write_latency_metrics(),
            },
        ),
        (
            "backup",
            TableSpec {
                title: "Experiment 3: backups every 100 ms, start (BACKUP to the next command; µs) and file-writing time (ms) by store size".into(),
                rows: vec!["keys"],
                metrics: vec![
                    metric("backup_snapshot_p50_us", "snapshot p50 µs"),
                    metric("backup_start_p50_us", "start p50 µs"),
                    metric("backup_start_max_us", "start max µs"),
                    metric("backup_write_ms_p50", "write ms"),
                ],
            },
        ),
        (
            "openloop",
            TableSpec {
                title: "Experiment 2b: open loop, 2 threads, 90:10, offered load as a share of each engine's own capacity (latency from each command's due time, µs)".into(),
                rows: vec!["keys", "backup_every_ms", "label"],
                metrics: vec![
                    metric("rate", "offered/s"),
                    metric("achieved_rate", "achieved/s"),
                    metric("read_p99_us", "read p99"),
                    metric("read_p999_us", "read p99.9"),
                    metric("write_p50_us", "write p50"),
                    metric("write_p99_us", "write p99"),
                    metric("write_p999_us", "write p99.9"),
                    metric("write_p9999_us", "write p99.99"),
                    metric("write_max_us", "write max"),
                ],
            },
        ),
        (
            "oversub",
            TableSpec {
                title: "Oversubscription: more load threads than the 2 cores, 90:10".into(),
                rows: vec!["threads", "keys"],
                metrics: vec![
                    metric("ops_per_sec", "ops/s"),
                    metric("read_p999_us", "read p99.9 µs"),
                    metric("write_p999_us", "write p99.9 µs"),
                    metric("write_max_us", "write max µs"),
                ],
            },
        ),
        (
            "preempt",
            TableSpec {
                title: "Oversubscription with --count-switches: writes their own thread's switch delayed".into(),
                rows: vec!["threads", "keys"],
                metrics: vec![
                    metric("writes", "writes"),
                    metric("writes_preempted", "preempted"),
                    metric("writes_blocked", "blocked"),
                    metric("write_p999_us", "write p99.9 µs"),
                    metric("ran_throughout_write_p999_us", "the rest: p99.9 µs"),
                    metric("ran_throughout_write_max_us", "the rest: max µs"),
                    metric("pending_waits", "pending waits"),
                ],
            },
        ),
        (
            "backupstart",
            TableSpec {
                title: "Experiment 3b: backup start, from BACKUP to the job's next command (µs; per-run percentiles, medians over runs)".into(),
                rows: vec!["keys"],
                metrics: vec![
                    metric("backup_start_samples", "samples/run"),
                    metric("backup_start_p50_us", "start p50"),
                    metric("backup_start_p99_us", "start p99"),
                    metric("backup_start_max_us", "start max"),
                    metric("backup_snapshot_p50_us", "snapshot p50"),
                ],
            },
        ),
        (
            "forkbackup",
            TableSpec {
                title: "Experiment 3c: fork-based (backup_fork true, mutex) against snapshot backups, every 100 ms, 2 threads, 50:50".into(),
                rows: vec!["keys", "backup_fork"],
                metrics: vec![
                    metric("ops_per_sec", "ops/s"),
                    metric("write_p999_us", "write p99.9 µs"),
                    metric("write_max_us", "write max µs"),
                    metric("backup_start_max_us", "parent stall max µs"),
                    metric("backup_write_ms_p50", "write ms"),
                    metric("backup_child_peak_rss_kib", "child RSS KiB"),
                    metric("peak_rss_kib", "RSS KiB"),
                ],
            },
        ),
        (
            "shards",
            TableSpec {
                title: "Baseline tuning: the mutex engine's shard count and lock, 2 threads, 100k keys".into(),
                rows: vec!["lock", "mix", "shards"],
                metrics: vec![
                    metric("ops_per_sec", "ops/s"),
                    metric("ops_per_cpu_sec", "ops/CPU-s"),
                    metric("read_p99_us", "read p99 µs"),
                    metric("write_p99_us", "write p99 µs"),
                ],
            },
        ),
        (
            "fork",
            TableSpec {
                title: "Experiment 3 (reference): fork() pause (µs) of a process holding the store".into(),
                rows: vec!["keys"],
                metrics: vec![
                    metric("fork_pause_us", "fork µs"),
                    metric("peak_rss_kib", "RSS KiB"),
                ],
            },
        ),
        (
            "backupprio",
            TableSpec {
                title: "Backup writer priority: open loop at 200k commands/s, 1M keys, 2 threads, 90:10, a backup every 200 ms (backup_every_ms 0: none), load threads yielding or sleeping until each command is due".into(),
                rows: vec!["pause", "backup_every_ms", "backup_priority"],
                metrics: vec![
                    metric("write_p99_us", "write p99 µs"),
                    metric("write_p999_us", "write p99.9 µs"),
                    metric("write_p9999_us", "write p99.99 µs"),
                    metric("backups", "backups"),
                    metric("backup_write_ms_p50", "file ms"),
                ],
            },
        ),
        (
            "notify",
            TableSpec {
                title: "Experiment 4: notifications, 2 threads, write-only, 10k keys (rate 0: unpaced)".into(),
                rows: vec!["rate", "notify"],
                metrics: vec![
                    metric("ops_per_sec", "writes/s"),
                    metric("notify_per_sec", "notes/s"),
                    metric("notify_p50_us", "p50 µs"),
                    metric("notify_p99_us", "p99 µs"),
                    metric("notify_sessions_ended", "ended"),
                ],
            },
        ),
        (
            "nofree",
            TableSpec {
                title: "No-free ablation: the lock-free engine's normal build (label current) against `--features ablation-no-free` (label no-free), which never frees pruned versions".into(),
                rows: vec!["threads", "keys", "mix", "label"],
                metrics: vec![
                    metric("ops_per_sec", "ops/s"),
                    metric("write_p99_us", "write p99 µs"),
                    metric("write_p999_us", "write p99.9 µs"),
                    metric("write_p9999_us", "write p99.99 µs"),
                    metric("live_versions_per_key", "versions/key"),
                ],
            },
        ),
        (
            "allocator",
            TableSpec {
                title: "The global allocator: kvs-bench as shipped (label mimalloc, without transparent huge pages), with MIMALLOC_ALLOW_THP=1 (label mimalloc-thp) and built with `--features system-allocator` (label system, the C library's malloc), 2 threads; notify 8: the notification rig's paced runs (50k writes/s)".into(),
                rows: vec!["keys", "mix", "notify", "label"],
                metrics: vec![
                    metric("ops_per_sec", "ops/s"),
                    metric("write_p99_us", "write p99 µs"),
                    metric("write_p999_us", "write p99.9 µs"),
                    metric("peak_rss_kib", "peak RSS KiB"),
                    metric("notify_p99_us", "notify p99 µs"),
                ],
            },
        ),
        (
            "allocjobs",
            TableSpec {
                title: "The global allocator on job files (experiment jobs' 2 files of 200k lines): `kvs` as shipped (label mimalloc, without transparent huge pages), with MIMALLOC_ALLOW_THP=1 (label mimalloc-thp) and built with `--features system-allocator` (label system), wall time of the whole run (ms)".into(),
                rows: vec!["keys", "threads", "label"],
                metrics: vec![
                    metric("wall_ms", "wall ms"),
                    metric("commands_per_sec", "commands/s"),
                ],
            },
        ),
        (
            "backupcost",
            TableSpec {
                title: "What a backup costs the lock-free writers: write latency (µs), mix 50:50, without backups (backup_every_ms 0) and with one every 10 ms, in the normal build (label current), the no-free build (label no-free) and with the backup writer at SCHED_IDLE (label idle)".into(),
                rows: vec!["keys", "threads", "label", "backup_every_ms"],
                metrics: write_latency_metrics(),
            },
        ),
        (
            "hog",
            TableSpec {
                title: "Target 5's control: write latency (µs), mix 50:50, without backups (label none), with one every 10 ms (backup), and with a thread in the backup's place that never touches the store, spinning (spin) or sweeping 256 MiB (stream), or that only holds snapshots open, unread and asleep (hold)".into(),
                rows: vec!["keys", "threads", "label"],
                metrics: [
                    write_latency_metrics(),
                    vec![metric("ops_per_sec", "commands/s")],
                ]
                .concat(),
            },
        ),
        (
            "memory",
            TableSpec {
                title: "Experiment 5: memory, 2 threads, without (0) and with (1) back-to-back backups".into(),
                rows: vec!["keys", "mix", "backup_every_ms"],
                metrics: vec![
                    metric("peak_rss_kib", "peak RSS KiB"),
                    metric("live_versions_per_key", "versions/key"),
                ],
            },
        ),
    ]
}

/// Every table whose experiment has results, after a short preface.
pub fn render(results: &Results, machine: &str, dir: &Path) -> String {
    let dir = dir.display();
    let mut out = format!(
        "# Measured results\n\n\
         Generated by `cargo run --release --example report {dir}` from `{dir}/*.jsonl` \
         (written by `benches/experiments.sh --out {dir}`). Each cell is the median of the runs \
         of that configuration, with the min–max spread in parentheses; `-` means \
         no sample (no writes in a 100:0 mix, no backup in a run without backups).\n\n",
    );
    if !machine.trim().is_empty() {
        out.push_str("Measured on:\n\n```\n");
        out.push_str(machine.trim_end());
        out.push_str("\n```\n\n");
    }
    for (experiment, spec) in specs() {
        if let Some(records) = results.get(experiment) {
            out.push_str(&markdown_table(&spec, records));
        }
    }
    if let Some(records) = results.get("micro") {
        out.push_str(&micro_tables(records));
    }
    out
}

/// The criterion micro-benchmarks (`benches/experiments.sh --only micro`):
/// the store operations by engine, then the ring and parser benchmarks,
/// which have no engine, one row each.
fn micro_tables(records: &[Record]) -> String {
    let (store_ops, others): (Vec<Record>, Vec<Record>) = records
        .iter()
        .cloned()
        .partition(|record| record.get("store").is_some());
    let mut out = String::new();
    if !store_ops.is_empty() {
        let spec = TableSpec {
            title: "Micro-benchmarks: one store operation (criterion median, ns; with 2 threads, one operation on each thread)".into(),
            rows: vec!["op", "keys", "threads"],
            metrics: vec![metric("median_ns", "median ns")],
        };
        out.push_str(&markdown_table(&spec, &store_ops));
    }
    if !others.is_empty() {
        out.push_str("### Micro-benchmarks: the ring and the parser (criterion median)\n\n");
        out.push_str("| bench | median ns |\n|---|---:|\n");
        for record in &others {
            let median = record.get("median_ns").and_then(|v| v.as_f64());
            let _ = writeln!(
                out,
                "| {} | {} |",
                text(record, "bench"),
                median.map_or_else(|| "-".into(), format_number)
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::micro_tables;
    use kvs::bench::results::parse_jsonl;

    #[test]
    fn micro_benchmarks_without_an_engine_get_their_own_rows() {
        let records = parse_jsonl(
            r#"{"bench":"read/1k/1t/lockfree","median_ns":76.2,"op":"read","keys":1000,"threads":1,"store":"lockfree"}
{"bench":"read/1k/1t/mutex","median_ns":33.0,"op":"read","keys":1000,"threads":1,"store":"mutex"}
{"bench":"ring/same_thread_push_pop","median_ns":9.21}"#,
        )
        .unwrap();
        let text = micro_tables(&records);
        assert!(
            text.contains("| read | 1000 | 1 | 76.2 | 33 | 1 |"),
            "{text}"
        );
        assert!(
            text.contains("| ring/same_thread_push_pop | 9.21 |"),
            "{text}"
        );
        assert!(!text.contains("| - | - | - |"), "{text}");
    }
}
