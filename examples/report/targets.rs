//! The project's performance targets, checked against the measured runs,
//! so the paper states each verdict with its figure rather than an
//! impression. A ratio between two engines (or with and without backups) is
//! the median of the runs' paired ratios (paired by seed), with its
//! bootstrap 95 % interval; a target is met or missed only when the whole
//! interval is on one side of it, undecided otherwise. Below
//! `stats::MIN_PAIRS` pairs no interval decides, and the verdict is the
//! sign reading the paper states: met or missed when every pair is on one
//! side (`paper::query::paired_verdict`).

use super::paper::query::paired_verdict;
use super::Results;
use kvs::bench::results::{format_number, number, summarize, Record};
use kvs::bench::stats::{self, Goal, Interval, Verdict};
use serde_json::Value;
use std::fmt::Write as _;

/// The median of `field` over the runs of `engine` whose fields equal
/// `filter`.
fn median(records: &[Record], engine: &str, filter: &[(&str, Value)], field: &str) -> Option<f64> {
    let values: Vec<f64> = records
        .iter()
        .filter(|r| stats::is_valid(r))
        .filter(|r| r.get("store").and_then(Value::as_str) == Some(engine))
        .filter(|r| filter.iter().all(|(f, v)| r.get(*f) == Some(v)))
        .filter_map(|r| number(r, field))
        .collect();
    summarize(&values).map(|s| s.median)
}

/// The distinct values of `field`, ascending.
fn values_of(records: &[Record], field: &str) -> Vec<Value> {
    let mut values: Vec<Value> = Vec::new();
    for record in records {
        if let Some(value) = record.get(field) {
            if !values.contains(value) {
                values.push(value.clone());
            }
        }
    }
    values.sort_by(|a, b| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.to_string().cmp(&b.to_string()),
    });
    values
}

fn shown(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), format_number)
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "no data",
    }
}

/// A paired ratio with its interval, and a target's verdict on it.
struct Judged {
    interval: Option<Interval>,
    verdict: Verdict,
}

/// The paired ratio of `field` between filters `a` and `b`, with its
/// interval (the bootstrap is seeded from the data, so a report is
/// reproducible) and the verdict on `goal` by the rule the paper states
/// (`paper::query::paired_verdict`).
fn paired(
    records: &[Record],
    a: &[(&str, Value)],
    b: &[(&str, Value)],
    field: &str,
    goal: Goal,
) -> Judged {
    let ratios = stats::paired_ratios(records, a, b, field);
    let seed = ratios.len() as u64 ^ field.len() as u64;
    Judged {
        interval: stats::bootstrap_median(&ratios, seed),
        verdict: paired_verdict(&ratios, field, goal),
    }
}

/// A ratio cell: `median [low, high] (n pairs)`.
fn ratio_cell(interval: Option<Interval>) -> String {
    interval.map_or_else(
        || "-".into(),
        |i| {
            format!(
                "{:.2} [{:.2}, {:.2}] ({})",
                i.median, i.low, i.high, i.count
            )
        },
    )
}

/// Target 1: at 2 threads lock-free is at least as fast as mutex on every
/// mix.
fn throughput(records: &[Record], out: &mut String) {
    let _ = writeln!(
        out,
        "### Target: at 2 threads, lock-free ≥ mutex on every mix\n\n\
         | mix | keys | lockfree ops/s | mutex ops/s | lockfree / mutex, paired [95 % CI] (pairs) | verdict |\n\
         |---|---|---:|---:|---:|---|"
    );
    for mix in values_of(records, "mix") {
        for keys in values_of(records, "keys") {
            let filter = [
                ("threads", Value::from(2)),
                ("mix", mix.clone()),
                ("keys", keys.clone()),
            ];
            let lf = median(records, "lockfree", &filter, "ops_per_sec");
            let mx = median(records, "mutex", &filter, "ops_per_sec");
            let r = paired(
                records,
                &stats::with_store("lockfree", &filter),
                &stats::with_store("mutex", &filter),
                "ops_per_sec",
                Goal::AtLeast(1.0),
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                mix.as_str().unwrap_or("?"),
                keys,
                shown(lf),
                shown(mx),
                ratio_cell(r.interval),
                r.verdict.word()
            );
        }
    }
    out.push('\n');
}

/// Target 2: with continuous backups the lock-free write p99.9 stays within
/// 2x of its own no-backup p99.9 (and the mutex engine's grows with size).
fn backups_hurt(records: &[Record], out: &mut String) {
    let _ = writeln!(
        out,
        "### Target: with backups, lock-free write p99.9 ≤ 2× its no-backup p99.9\n\n\
         | keys | threads | lockfree p99.9 µs (off → on) | on / off, paired [95 % CI] | mutex p99.9 µs (off → on) | on / off, paired [95 % CI] | verdict |\n\
         |---|---|---|---:|---|---:|---|"
    );
    for keys in values_of(records, "keys") {
        for threads in values_of(records, "threads") {
            let filter = |every: u64| {
                vec![
                    ("keys", keys.clone()),
                    ("threads", threads.clone()),
                    ("backup_every_ms", Value::from(every)),
                ]
            };
            let at =
                |engine: &str, every: u64| median(records, engine, &filter(every), "write_p999_us");
            let growth = |engine: &str| {
                paired(
                    records,
                    &stats::with_store(engine, &filter(1)),
                    &stats::with_store(engine, &filter(0)),
                    "write_p999_us",
                    Goal::AtMost(2.0),
                )
            };
            let (lf_off, lf_on) = (at("lockfree", 0), at("lockfree", 1));
            let (mx_off, mx_on) = (at("mutex", 0), at("mutex", 1));
            let (lf_x, mx_x) = (growth("lockfree"), growth("mutex"));
            let _ = writeln!(
                out,
                "| {keys} | {threads} | {} → {} | {} | {} → {} | {} | {} |",
                shown(lf_off),
                shown(lf_on),
                ratio_cell(lf_x.interval),
                shown(mx_off),
                shown(mx_on),
                ratio_cell(mx_x.interval),
                lf_x.verdict.word()
            );
        }
    }
    out.push('\n');
}

/// The largest `field` over the valid runs of `engine` matching `filter`.
fn largest_of(
    records: &[Record],
    engine: &str,
    filter: &[(&str, Value)],
    field: &str,
) -> Option<f64> {
    records
        .iter()
        .filter(|r| stats::is_valid(r))
        .filter(|r| r.get("store").and_then(Value::as_str) == Some(engine))
        .filter(|r| filter.iter().all(|(f, v)| r.get(*f) == Some(v)))
        .filter_map(|r| number(r, field))
        .reduce(f64::max)
}

/// Target 3: a backup starts in under 10 µs at the largest store measured.
fn backup_start(records: &[Record], out: &mut String) {
    let Some(largest) = values_of(records, "keys").pop() else {
        return;
    };
    let filter = [("keys", largest.clone())];
    let p50 = median(records, "lockfree", &filter, "backup_start_p50_us");
    let max = largest_of(records, "lockfree", &filter, "backup_start_max_us");
    let mutex = median(records, "mutex", &filter, "backup_start_p50_us");
    let _ = writeln!(
        out,
        "### Target: backup start < 10 µs at {largest} keys\n\n\
         lock-free: median over runs of each run's median {} µs, worst over all runs {} µs, \
         mutex median {} µs — {}.\n",
        shown(p50),
        shown(max),
        shown(mutex),
        verdict(max.map(|m| m < 10.0))
    );
}

/// Target 4: with one subscriber on every key (write-only, unpaced), write
/// throughput within 20% of the run without subscribers.
fn notify_cost(records: &[Record], out: &mut String) {
    let _ = writeln!(
        out,
        "### Target: --notify 1 write throughput ≥ 80% of no subscribers (unpaced)\n\n\
         | engine | writes/s, 0 subscribers | writes/s, 1 subscriber | 1 / 0, paired [95 % CI] | verdict |\n\
         |---|---:|---:|---:|---|"
    );
    for engine in ["lockfree", "mutex"] {
        let filter = |subscribers: u64| {
            vec![
                ("store", Value::from(engine)),
                ("rate", Value::from(0)),
                ("notify", Value::from(subscribers)),
            ]
        };
        let at =
            |subscribers: u64| median(records, engine, &filter(subscribers)[1..], "ops_per_sec");
        let (base, one) = (at(0), at(1));
        let r = paired(
            records,
            &filter(1),
            &filter(0),
            "ops_per_sec",
            Goal::AtLeast(0.8),
        );
        let _ = writeln!(
            out,
            "| {engine} | {} | {} | {} | {} |",
            shown(base),
            shown(one),
            ratio_cell(r.interval),
            r.verdict.word()
        );
    }
    out.push('\n');
}

/// The targets section of `tables.md`.
pub fn render(results: &Results) -> String {
    let mut out = String::from("## Targets\n\n");
    if let Some(records) = results.get("throughput") {
        throughput(records, &mut out);
    }
    if let Some(records) = results.get("latency") {
        backups_hurt(records, &mut out);
    }
    if let Some(records) = results.get("backup") {
        backup_start(records, &mut out);
    }
    if let Some(records) = results.get("notify") {
        notify_cost(records, &mut out);
    }
    out
}
