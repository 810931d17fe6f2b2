//! The project's performance targets (issue 6), checked against the
//! medians of the measured runs, so the paper states met or missed with the
//! figure rather than an impression.

use super::Results;
use kvs::bench::results::{format_number, number, summarize, Record};
use serde_json::Value;
use std::fmt::Write as _;

/// The median of `field` over the runs of `engine` whose fields equal
/// `filter`.
fn median(records: &[Record], engine: &str, filter: &[(&str, Value)], field: &str) -> Option<f64> {
    let values: Vec<f64> = records
        .iter()
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

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Target 1: at 2 threads lock-free is at least as fast as mutex on every
/// mix, and faster on 90:10.
fn throughput(records: &[Record], out: &mut String) {
    let _ = writeln!(
        out,
        "### Target: at 2 threads, lock-free ≥ mutex on every mix, > on 90:10\n\n\
         | mix | keys | lockfree ops/s | mutex ops/s | lockfree / mutex | verdict |\n\
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
            let r = ratio(lf, mx);
            let strict = mix.as_str() == Some("90:10");
            let ok = r.map(|r| if strict { r > 1.0 } else { r >= 1.0 });
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                mix.as_str().unwrap_or("?"),
                keys,
                shown(lf),
                shown(mx),
                r.map_or("-".into(), |r| format!("{r:.2}")),
                verdict(ok)
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
         | keys | threads | lockfree p99.9 µs (off → on) | × | mutex p99.9 µs (off → on) | × | verdict |\n\
         |---|---|---|---:|---|---:|---|"
    );
    for keys in values_of(records, "keys") {
        for threads in values_of(records, "threads") {
            let at = |engine: &str, every: u64| {
                let filter = [
                    ("keys", keys.clone()),
                    ("threads", threads.clone()),
                    ("backup_every_ms", Value::from(every)),
                ];
                median(records, engine, &filter, "write_p999_us")
            };
            let (lf_off, lf_on) = (at("lockfree", 0), at("lockfree", 1));
            let (mx_off, mx_on) = (at("mutex", 0), at("mutex", 1));
            let (lf_x, mx_x) = (ratio(lf_on, lf_off), ratio(mx_on, mx_off));
            let _ = writeln!(
                out,
                "| {keys} | {threads} | {} → {} | {} | {} → {} | {} | {} |",
                shown(lf_off),
                shown(lf_on),
                lf_x.map_or("-".into(), |r| format!("{r:.2}")),
                shown(mx_off),
                shown(mx_on),
                mx_x.map_or("-".into(), |r| format!("{r:.2}")),
                verdict(lf_x.map(|r| r <= 2.0))
            );
        }
    }
    out.push('\n');
}

/// Target 3: a backup starts in under 10 µs at the largest store measured.
fn backup_start(records: &[Record], out: &mut String) {
    let Some(largest) = values_of(records, "keys").pop() else {
        return;
    };
    let filter = [("keys", largest.clone())];
    let p50 = median(records, "lockfree", &filter, "backup_start_p50_us");
    let max = median(records, "lockfree", &filter, "backup_start_max_us");
    let mutex = median(records, "mutex", &filter, "backup_start_p50_us");
    let _ = writeln!(
        out,
        "### Target: backup start < 10 µs at {largest} keys\n\n\
         lock-free: median {} µs, worst (median over runs of each run's max) {} µs, \
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
         | engine | writes/s, 0 subscribers | writes/s, 1 subscriber | ratio | verdict |\n\
         |---|---:|---:|---:|---|"
    );
    for engine in ["lockfree", "mutex"] {
        let at = |subscribers: u64| {
            let filter = [
                ("rate", Value::from(0)),
                ("notify", Value::from(subscribers)),
            ];
            median(records, engine, &filter, "ops_per_sec")
        };
        let (base, one) = (at(0), at(1));
        let r = ratio(one, base);
        let _ = writeln!(
            out,
            "| {engine} | {} | {} | {} | {} |",
            shown(base),
            shown(one),
            r.map_or("-".into(), |r| format!("{r:.2}")),
            verdict(r.map(|r| r >= 0.8))
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
