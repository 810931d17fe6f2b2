//! The targets table on small synthetic results: each target's rows, their
//! paired ratios and verdicts, and what is left out.

use super::render;
use crate::Results;
use kvs::bench::results::{parse_jsonl, Record};
use serde_json::{json, Value};

/// One run per seed 1..=6 of `fields`, with `field` = `value(seed)`.
fn runs(fields: Value, field: &str, value: impl Fn(u64) -> f64) -> Vec<Value> {
    (1..=6)
        .map(|seed| {
            let mut run = fields.clone();
            run["seed"] = json!(seed);
            run[field] = json!(value(seed));
            run
        })
        .collect()
}

fn records(runs: Vec<Vec<Value>>) -> Vec<Record> {
    let text: Vec<String> = runs.into_iter().flatten().map(|r| r.to_string()).collect();
    parse_jsonl(&text.join("\n")).unwrap()
}

/// The table row whose configuration and compared field are these.
fn row<'a>(table: &'a str, configuration: &str, field: &str) -> &'a str {
    let rows: Vec<&str> = table
        .lines()
        .filter(|line| line.contains(&format!("| {configuration} |")) && line.contains(field))
        .collect();
    assert_eq!(rows.len(), 1, "{configuration} {field} in\n{table}");
    rows[0]
}

/// Asserts that the row of `configuration` (and `field`) ends with `ending`
/// (its goal and verdict cells).
fn expect(table: &str, configuration: &str, field: &str, ending: &str) {
    let found = row(table, configuration, field);
    assert!(
        found.ends_with(ending),
        "{found}\n  should end with {ending}"
    );
}

fn results(experiment: &str, records: Vec<Record>) -> Results {
    let mut results = Results::new();
    results.insert(experiment.into(), records);
    results
}

#[test]
fn job_files_compare_engines_threads_and_the_yardstick() {
    let run = |store: &str, threads: u64, wall: f64| {
        runs(
            json!({"store": store, "threads": threads, "keys": 1000}),
            "wall_ms",
            move |seed| wall + seed as f64,
        )
    };
    let table = render(&results(
        "jobs",
        records(vec![
            run("lockfree", 2, 100.0),
            run("lockfree", 1, 150.0),
            run("mutex", 2, 200.0),
            run("mutex", 1, 100.0),
            run("yardstick", 2, 4000.0),
        ]),
    ));
    let lockfree_vs_mutex = row(&table, "1k keys, 2 threads", "lockfree / mutex");
    assert!(
        lockfree_vs_mutex.contains("103.5 vs 203.5 ms"),
        "{lockfree_vs_mutex}"
    );
    assert!(
        lockfree_vs_mutex.ends_with("| ≤ 1 | met |"),
        "{lockfree_vs_mutex}"
    );
    let scaling = |engine: &str| format!("1k keys, {engine}, 2 threads vs 1");
    expect(&table, &scaling("lockfree"), "", "| ≤ 1 | met |");
    expect(&table, &scaling("mutex"), "", "| ≤ 1 | **missed** |");
    // 4,000 ms against about 100 (lockfree) and 200 (mutex): 30× only for
    // lockfree.
    let yardstick = |engine: &str| format!("1k keys, {engine} vs the C yardstick, 2 threads");
    expect(&table, &yardstick("lockfree"), "", "| ≥ 30 | met |");
    expect(&table, &yardstick("mutex"), "", "| ≥ 30 | **missed** |");
}

#[test]
fn throughput_at_two_threads_has_a_lower_goal_for_50_50() {
    let run = |store: &str, threads: u64, mix: &str, ops: fn(u64) -> f64| {
        runs(
            json!({"store": store, "threads": threads, "mix": mix, "keys": 100000}),
            "ops_per_sec",
            ops,
        )
    };
    let table = render(&results(
        "throughput",
        records(vec![
            run("mutex", 2, "50:50", |_| 100.0),
            run("lockfree", 2, "50:50", |_| 95.0),
            run("mutex", 2, "90:10", |_| 100.0),
            run("lockfree", 2, "90:10", |_| 95.0),
            run("mutex", 2, "100:0", |_| 100.0),
            run("lockfree", 2, "100:0", |seed| {
                if seed % 2 == 0 {
                    90.0
                } else {
                    110.0
                }
            }),
            run("lockfree", 1, "100:0", |_| 1.0),
        ]),
    ));
    let at = |mix: &str| format!("2 threads, {mix}, 100k keys");
    expect(&table, &at("50:50"), "", "| ≥ 0.9 | met |");
    expect(&table, &at("90:10"), "", "| ≥ 1 | **missed** |");
    expect(&table, &at("100:0"), "", "| ≥ 1 | undecided |");
    assert!(!table.contains("1 threads"), "{table}");
    let order: Vec<usize> = ["100:0", "90:10", "50:50"]
        .iter()
        .map(|mix| table.find(&format!("2 threads, {mix},")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{table}");
}

#[test]
fn oversubscription_checks_throughput_and_the_write_tail() {
    let run = |store: &str, ops: f64, p999: f64| {
        let fields = json!({"store": store, "threads": 16, "keys": 100000, "write_p999_us": p999});
        runs(fields, "ops_per_sec", move |_| ops)
    };
    let table = render(&results(
        "oversub",
        records(vec![
            run("lockfree", 2.0e6, 200.0),
            run("mutex", 1.0e6, 1000.0),
        ]),
    ));
    let config = "16 threads on 2 cores, 100k keys";
    expect(&table, config, "ops_per_sec", "| ≥ 1.5 | met |");
    let tail = row(&table, config, "write_p999_us");
    assert!(tail.contains("| 0.200 [0.200, 0.200] (6) |"), "{tail}");
    assert!(tail.ends_with("| ≤ 0.1 | **missed** |"), "{tail}");
}

#[test]
fn backups_compare_each_period_with_none_for_the_lock_free_engine() {
    let run = |store: &str, every: u64, p999: f64| {
        let fields =
            json!({"store": store, "threads": 2, "keys": 1000000, "backup_every_ms": every});
        runs(fields, "write_p999_us", move |_| p999)
    };
    let table = render(&results(
        "latency",
        records(vec![
            run("lockfree", 0, 10.0),
            run("lockfree", 10, 15.0),
            run("lockfree", 1, 30.0),
            run("mutex", 0, 10.0),
            run("mutex", 10, 100.0),
        ]),
    ));
    let at = |period: &str| format!("lockfree, 1M keys, 2 threads, backups {period}");
    expect(&table, &at("every 10 ms"), "", "| ≤ 2 | met |");
    expect(&table, &at("back to back"), "", "| ≤ 2 | **missed** |");
    assert!(!table.contains("mutex,"), "{table}");
}

#[test]
fn notification_cost_drops_runs_whose_session_was_ended() {
    let run = |store: &str, notify: u64, ops: f64| {
        runs(
            json!({"store": store, "rate": 0, "notify": notify}),
            "ops_per_sec",
            move |_| ops,
        )
    };
    let mut all = vec![
        run("lockfree", 0, 100.0),
        run("lockfree", 1, 90.0),
        run("mutex", 0, 100.0),
        run("mutex", 1, 50.0),
    ];
    // An invalid run that would have met the target.
    all.push(vec![
        json!({"store": "mutex", "rate": 0, "notify": 1, "seed": 7,
        "ops_per_sec": 100.0, "notify_sessions_ended": 1}),
    ]);
    all.push(vec![
        json!({"store": "mutex", "rate": 0, "notify": 0, "seed": 7, "ops_per_sec": 100.0}),
    ]);
    let table = render(&results("notify", records(all)));
    expect(&table, "lockfree, unpaced writes", "", "| ≥ 0.8 | met |");
    let mutex = row(&table, "mutex, unpaced writes", "");
    assert!(
        mutex.contains("(6) |") && mutex.ends_with("| **missed** |"),
        "{mutex}"
    );
}

#[test]
fn memory_is_judged_at_the_largest_store_and_missing_sides_say_no_data() {
    let run = |store: &str, keys: u64, rss: f64| {
        let fields = json!({"store": store, "keys": keys, "mix": "90:10", "backup_every_ms": 0});
        runs(fields, "peak_rss_kib", move |_| rss)
    };
    let table = render(&results(
        "memory",
        records(vec![
            run("lockfree", 1000000, 120.0),
            run("mutex", 1000000, 100.0),
            run("lockfree", 1000, 999.0),
        ]),
    ));
    expect(&table, "1M keys, 90:10, no backups", "", "| ≤ 1.5 | met |");
    assert!(!table.contains("1k keys"), "{table}");
    let lonely = render(&results(
        "memory",
        records(vec![run("lockfree", 1000000, 120.0)]),
    ));
    let row = row(&lonely, "1M keys, 90:10, no backups", "");
    assert!(
        row.contains("120 vs - KiB | - |") && row.ends_with("| no data |"),
        "{row}"
    );
}

#[test]
fn no_results_no_rows() {
    let table = render(&Results::new());
    assert!(!table.contains("| target |"), "{table}");
}

#[test]
fn the_backup_start_target_is_judged_on_the_experiment_made_for_it() {
    let starts = |max: f64| {
        vec![
            json!({"store": "lockfree", "keys": 1000000, "seed": 1,
                   "backup_start_p50_us": 5.0, "backup_start_max_us": max}),
            json!({"store": "mutex", "keys": 1000000, "seed": 1,
                   "backup_start_p50_us": 900.0, "backup_start_max_us": 1000.0}),
        ]
    };
    let mut both = results("backup", records(vec![starts(51.0)]));
    both.insert("backupstart".into(), records(vec![starts(8.0)]));
    let text = render(&both);
    assert!(
        text.contains("(experiment backupstart)") && text.contains("worst over all runs 8 µs"),
        "{text}"
    );
    assert!(text.contains("— met."), "{text}");

    let periodic_only = render(&results("backup", records(vec![starts(51.0)])));
    assert!(
        periodic_only.contains("(experiment backup)") && periodic_only.contains("**missed**"),
        "{periodic_only}"
    );
}
