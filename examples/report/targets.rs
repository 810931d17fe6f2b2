//! The project's performance targets (issue 14's numbering), checked
//! against the measured runs, so the paper states each verdict with its
//! figure rather than an impression. Each target becomes one or more rows
//! of one table: the configuration, the two sides compared with their
//! medians, the median of the runs' paired ratios (paired by seed) with its
//! bootstrap 95 % interval, the goal, and the verdict. A target is met or
//! missed only when the whole interval is on one side of it, undecided
//! otherwise. Below `stats::MIN_PAIRS` pairs no interval decides, and the
//! verdict is the sign reading the paper states: met or missed when every
//! pair is on one side (`paper::query::paired_verdict`).
//!
//! Nothing here is typed in: a configuration with no runs yields no row, a
//! side with no runs yields `no data`.

use super::paper::query::paired_verdict;
use super::Results;
use kvs::bench::results::{format_number, number, summarize, Record};
use kvs::bench::stats::{self, Goal, Interval, Verdict};
use serde_json::Value;
use std::fmt::Write as _;

/// A filter: field values a run must have.
type Filter = Vec<(&'static str, Value)>;

/// The median of `field` over the valid runs matching `filter`.
fn median(records: &[Record], filter: &[(&str, Value)], field: &str) -> Option<f64> {
    let values: Vec<f64> = matching(records, filter)
        .filter_map(|r| number(r, field))
        .collect();
    summarize(&values).map(|s| s.median)
}

/// The valid runs matching `filter`.
fn matching<'a>(
    records: &'a [Record],
    filter: &'a [(&str, Value)],
) -> impl Iterator<Item = &'a Record> {
    records
        .iter()
        .filter(|r| stats::is_valid(r))
        .filter(move |r| filter.iter().all(|(f, v)| r.get(*f) == Some(v)))
}

/// The distinct values of `field` among the runs matching `filter`,
/// ascending.
fn values_of(records: &[Record], filter: &[(&str, Value)], field: &str) -> Vec<Value> {
    let mut values: Vec<Value> = Vec::new();
    for record in matching(records, filter) {
        if let Some(value) = record.get(field) {
            if !values.contains(value) {
                values.push(value.clone());
            }
        }
    }
    values.sort_by(|a, b| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => (read_share(a), a.to_string()).cmp(&(read_share(b), b.to_string())),
    });
    values
}

/// Sorts a `READ:WRITE` mix read-heaviest first (`100:0`, `90:10`, `50:50`),
/// as the tables do; 0 for anything else.
fn read_share(value: &Value) -> i64 {
    value
        .as_str()
        .and_then(|text| text.split_once(':'))
        .and_then(|(read, _)| read.parse::<i64>().ok())
        .map_or(0, |read| -read)
}

fn shown(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), format_number)
}

/// A key count as the paper writes it: `1k`, `100k`, `1M`.
fn keys_text(keys: &Value) -> String {
    match keys.as_u64() {
        Some(n) if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        Some(n) if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        _ => keys.to_string(),
    }
}

/// `n threads`, or `1 thread`.
fn threads_text(threads: &Value) -> String {
    match threads.as_u64() {
        Some(1) => "1 thread".into(),
        _ => format!("{threads} threads"),
    }
}

/// One side of a comparison: what the table calls it, and its runs.
struct Side {
    label: String,
    filter: Filter,
}

fn side(label: impl Into<String>, filter: Filter) -> Side {
    Side {
        label: label.into(),
        filter,
    }
}

/// One row of the targets table.
struct Row {
    target: &'static str,
    configuration: String,
    /// `a / b` of `field`, in words.
    compared: String,
    /// Each side's median of `field`, with its unit.
    medians: String,
    interval: Option<Interval>,
    goal: Goal,
    verdict: Verdict,
}

/// The measured quantity of a comparison: a field and its unit.
struct Measure {
    field: &'static str,
    unit: &'static str,
}

const WALL: Measure = Measure {
    field: "wall_ms",
    unit: "ms",
};
const OPS: Measure = Measure {
    field: "ops_per_sec",
    unit: "ops/s",
};
const WRITE_P999: Measure = Measure {
    field: "write_p999_us",
    unit: "µs",
};
const RSS: Measure = Measure {
    field: "peak_rss_kib",
    unit: "KiB",
};

/// The row comparing `a` with `b` on `measure` against `goal` (the ratio
/// is a / b, paired by seed; the bootstrap is seeded from the data, so a
/// report is reproducible).
fn compare(
    target: &'static str,
    configuration: String,
    records: &[Record],
    (a, b): (Side, Side),
    measure: &Measure,
    goal: Goal,
) -> Row {
    let ratios = stats::paired_ratios(records, &a.filter, &b.filter, measure.field);
    let seed = ratios.len() as u64 ^ measure.field.len() as u64;
    let (median_a, median_b) = (
        median(records, &a.filter, measure.field),
        median(records, &b.filter, measure.field),
    );
    Row {
        target,
        configuration,
        compared: format!("{} / {}, {}", a.label, b.label, measure.field),
        medians: format!(
            "{} vs {} {}",
            shown(median_a),
            shown(median_b),
            measure.unit
        ),
        interval: stats::bootstrap_median(&ratios, seed),
        goal,
        verdict: paired_verdict(&ratios, measure.field, goal),
    }
}

/// `base` with `extra` added.
fn with(base: &Filter, extra: &[(&'static str, Value)]) -> Filter {
    let mut all = base.clone();
    all.extend(extra.iter().cloned());
    all
}

/// Target 1, job files (experiment `jobs`): at 2 threads lock-free wall
/// time ≤ mutex's; 2 threads faster than 1 for both engines; kvs at 2
/// threads ≥ 30× faster than the C yardstick.
fn jobs(records: &[Record]) -> Vec<Row> {
    let mut rows = Vec::new();
    for keys in values_of(records, &[], "keys") {
        let at = |store: &str, threads: u64| -> Filter {
            vec![
                ("store", Value::from(store)),
                ("threads", Value::from(threads)),
                ("keys", keys.clone()),
            ]
        };
        let config = |threads: &str| format!("{} keys, {threads}", keys_text(&keys));
        rows.push(compare(
            "1",
            config("2 threads"),
            records,
            (
                side("lockfree", at("lockfree", 2)),
                side("mutex", at("mutex", 2)),
            ),
            &WALL,
            Goal::AtMost(1.0),
        ));
        for engine in ["lockfree", "mutex"] {
            rows.push(compare(
                "1",
                config(&format!("{engine}, 2 threads vs 1")),
                records,
                (
                    side("2 threads", at(engine, 2)),
                    side("1 thread", at(engine, 1)),
                ),
                &WALL,
                Goal::AtMost(1.0),
            ));
        }
        for engine in ["lockfree", "mutex"] {
            rows.push(compare(
                "1",
                config(&format!("{engine} vs the C yardstick, 2 threads")),
                records,
                (
                    side("yardstick", at("yardstick", 2)),
                    side(engine, at(engine, 2)),
                ),
                &WALL,
                Goal::AtLeast(30.0),
            ));
        }
    }
    rows
}

/// `(lockfree, mutex)` sides of one configuration.
fn engines(filter: &Filter) -> (Side, Side) {
    (
        side("lockfree", stats::with_store("lockfree", filter)),
        side("mutex", stats::with_store("mutex", filter)),
    )
}

/// Target 3, kvs-bench at 2 threads (experiment `throughput`): lock-free
/// ≥ mutex throughput on 100:0 and 90:10, ≥ 0.9× on 50:50.
fn throughput(records: &[Record]) -> Vec<Row> {
    let two = [("threads", Value::from(2))];
    let mut rows = Vec::new();
    for mix in values_of(records, &two, "mix") {
        let goal = if mix == "50:50" { 0.9 } else { 1.0 };
        for keys in values_of(records, &two, "keys") {
            let filter = vec![
                ("threads", Value::from(2)),
                ("mix", mix.clone()),
                ("keys", keys.clone()),
            ];
            rows.push(compare(
                "3",
                format!(
                    "2 threads, {}, {} keys",
                    mix.as_str().unwrap_or("?"),
                    keys_text(&keys)
                ),
                records,
                engines(&filter),
                &OPS,
                Goal::AtLeast(goal),
            ));
        }
    }
    rows
}

/// Target 4, oversubscription (experiment `oversub`): lock-free ≥ 1.5×
/// mutex throughput, and write p99.9 ≤ 1/10 of mutex's.
fn oversubscription(records: &[Record]) -> Vec<Row> {
    let mut rows = Vec::new();
    for threads in values_of(records, &[], "threads") {
        for keys in values_of(records, &[("threads", threads.clone())], "keys") {
            let filter = vec![("threads", threads.clone()), ("keys", keys.clone())];
            let config = format!(
                "{} on 2 cores, {} keys",
                threads_text(&threads),
                keys_text(&keys)
            );
            rows.push(compare(
                "4",
                config.clone(),
                records,
                engines(&filter),
                &OPS,
                Goal::AtLeast(1.5),
            ));
            rows.push(compare(
                "4",
                config,
                records,
                engines(&filter),
                &WRITE_P999,
                Goal::AtMost(0.1),
            ));
        }
    }
    rows
}

/// Target 5, backups (experiment `latency`): the lock-free write p99.9 with
/// backups ≤ 2× its own without, for each backup period measured (the
/// target's is 10 ms; back to back, `backup_every_ms` 1, is stricter).
fn backups(records: &[Record]) -> Vec<Row> {
    let mut rows = Vec::new();
    let lockfree = [("store", Value::from("lockfree"))];
    for every in values_of(records, &lockfree, "backup_every_ms") {
        let period = match every.as_u64() {
            Some(0) | None => continue,
            Some(1) => "back to back".to_string(),
            Some(ms) => format!("every {ms} ms"),
        };
        for keys in values_of(records, &lockfree, "keys") {
            for threads in values_of(records, &lockfree, "threads") {
                let base: Filter = vec![
                    ("store", Value::from("lockfree")),
                    ("keys", keys.clone()),
                    ("threads", threads.clone()),
                ];
                rows.push(compare(
                    "5",
                    format!(
                        "lockfree, {} keys, {}, backups {period}",
                        keys_text(&keys),
                        threads_text(&threads)
                    ),
                    records,
                    (
                        side(
                            "backups",
                            with(&base, &[("backup_every_ms", every.clone())]),
                        ),
                        side("none", with(&base, &[("backup_every_ms", Value::from(0))])),
                    ),
                    &WRITE_P999,
                    Goal::AtMost(2.0),
                ));
            }
        }
    }
    rows
}

/// Target 6, notifications (experiment `notify`, unpaced runs): write
/// throughput with one subscriber on every key ≥ 80 % of none.
fn notify_cost(records: &[Record]) -> Vec<Row> {
    ["lockfree", "mutex"]
        .into_iter()
        .map(|engine| {
            let at = |subscribers: u64| -> Filter {
                vec![
                    ("store", Value::from(engine)),
                    ("rate", Value::from(0)),
                    ("notify", Value::from(subscribers)),
                ]
            };
            compare(
                "6",
                format!("{engine}, unpaced writes"),
                records,
                (side("1 subscriber", at(1)), side("none", at(0))),
                &OPS,
                Goal::AtLeast(0.8),
            )
        })
        .collect()
}

/// Target 7, memory (experiment `memory`): lock-free peak RSS at the
/// largest store ≤ 1.5× mutex's, in every configuration measured.
fn memory(records: &[Record]) -> Vec<Row> {
    let Some(keys) = values_of(records, &[], "keys").pop() else {
        return Vec::new();
    };
    let at_size = [("keys", keys.clone())];
    let mut rows = Vec::new();
    for mix in values_of(records, &at_size, "mix") {
        for every in values_of(records, &at_size, "backup_every_ms") {
            let filter = vec![
                ("keys", keys.clone()),
                ("mix", mix.clone()),
                ("backup_every_ms", every.clone()),
            ];
            let backups = match every.as_u64() {
                Some(0) => "no backups",
                Some(1) => "back-to-back backups",
                _ => "backups",
            };
            rows.push(compare(
                "7",
                format!(
                    "{} keys, {}, {backups}",
                    keys_text(&keys),
                    mix.as_str().unwrap_or("?")
                ),
                records,
                engines(&filter),
                &RSS,
                Goal::AtMost(1.5),
            ));
        }
    }
    rows
}

fn goal_text(goal: Goal) -> String {
    match goal {
        Goal::AtLeast(target) => format!("≥ {target}"),
        Goal::AtMost(target) => format!("≤ {target}"),
    }
}

/// A ratio cell: `median [low, high] (n pairs)`.
fn ratio_cell(interval: Option<Interval>) -> String {
    interval.map_or_else(
        || "-".into(),
        |i| {
            format!(
                "{:.3} [{:.3}, {:.3}] ({})",
                i.median, i.low, i.high, i.count
            )
        },
    )
}

fn rows_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| target | configuration | ratio of | medians | ratio, paired [95 % CI] (pairs) | goal | verdict |\n\
         |---|---|---|---:|---:|---|---|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.target,
            row.configuration,
            row.compared,
            row.medians,
            ratio_cell(row.interval),
            goal_text(row.goal),
            row.verdict.word()
        );
    }
    out
}

/// The largest `field` over the valid runs matching `filter`.
fn largest_of(records: &[Record], filter: &[(&str, Value)], field: &str) -> Option<f64> {
    matching(records, filter)
        .filter_map(|r| number(r, field))
        .reduce(f64::max)
}

/// The paper's own target: a backup starts in under 10 µs at the largest
/// store measured, judged on `experiment`'s runs.
fn backup_start(experiment: &str, records: &[Record], out: &mut String) {
    let Some(largest) = values_of(records, &[], "keys").pop() else {
        return;
    };
    let at = |engine: &str| vec![("store", Value::from(engine)), ("keys", largest.clone())];
    let p50 = median(records, &at("lockfree"), "backup_start_p50_us");
    let max = largest_of(records, &at("lockfree"), "backup_start_max_us");
    let mutex = median(records, &at("mutex"), "backup_start_p50_us");
    let verdict = match max {
        Some(m) if m < 10.0 => "met",
        Some(_) => "**missed**",
        None => "no data",
    };
    let _ = writeln!(
        out,
        "### Target: backup start < 10 µs at {largest} keys (experiment {experiment})\n\n\
         lock-free: median over runs of each run's median {} µs, worst over all runs {} µs, \
         mutex median {} µs — {verdict}.\n",
        shown(p50),
        shown(max),
        shown(mutex),
    );
}

/// Each target's rows, from the experiment that measures it.
type TargetRows = fn(&[Record]) -> Vec<Row>;

const TARGETS: [(&str, TargetRows); 6] = [
    ("jobs", jobs),
    ("throughput", throughput),
    ("oversub", oversubscription),
    ("latency", backups),
    ("notify", notify_cost),
    ("memory", memory),
];

/// The targets section of `tables.md`.
pub fn render(results: &Results) -> String {
    let mut out = String::from(
        "## Targets\n\n\
         Issue 14's targets, each ratio the median of the runs' paired ratios (paired by seed) \
         with its bootstrap 95 % interval; a verdict is met or missed only when the whole \
         interval is on one side of the goal. Target 2 (instructions per command) is counted \
         by `benches/callgrind.sh`, not timed (`results/callgrind.txt`).\n\n",
    );
    let rows: Vec<Row> = TARGETS
        .iter()
        .filter_map(|(experiment, rows)| results.get(*experiment).map(|records| rows(records)))
        .flatten()
        .collect();
    if !rows.is_empty() {
        out.push_str(&rows_table(&rows));
        out.push('\n');
    }
    // The experiment made for it (thousands of starts per run) when the
    // results hold it, otherwise the periodic backups' few starts.
    if let Some((experiment, records)) = ["backupstart", "backup"]
        .into_iter()
        .find_map(|name| results.get(name).map(|records| (name, records)))
    {
        backup_start(experiment, records, &mut out);
    }
    out
}

#[cfg(test)]
mod tests;
