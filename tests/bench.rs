//! `kvs-bench` end to end: every engine and mode prints one JSON object with
//! every promised field, holding sane (not timed) values.

#![cfg(not(feature = "loom"))]

mod common;

use serde_json::{Map, Value};
use std::process::Command;

const LOAD_FIELDS: [&str; 17] = [
    "store",
    "threads",
    "keys",
    "mix",
    "ops",
    "ops_per_sec",
    "read_p50_us",
    "read_p99_us",
    "write_p50_us",
    "write_p99_us",
    "write_p999_us",
    "write_max_us",
    "backups",
    "backup_start_p50_us",
    "backup_start_max_us",
    "backup_write_ms_p50",
    "peak_rss_kib",
];

fn bench(args: &[&str]) -> Map<String, Value> {
    let output = common::process::output(Command::new(env!("CARGO_BIN_EXE_kvs-bench")).args(args));
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object: {stdout}");
    match serde_json::from_str(lines[0]).expect("valid JSON") {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn num(report: &Map<String, Value>, field: &str) -> f64 {
    report
        .get(field)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{field} is not a number in {report:?}"))
}

fn load(store: &str, extra: &[&str]) -> Map<String, Value> {
    let mut args = vec![
        "--store",
        store,
        "--duration-ms",
        "200",
        "--keys",
        "1000",
        "--threads",
        "2",
        "--json",
    ];
    args.extend_from_slice(extra);
    let report = bench(&args);
    for field in LOAD_FIELDS {
        assert!(report.contains_key(field), "{field} missing: {report:?}");
    }
    assert_eq!(report["store"], store);
    assert_eq!(num(&report, "threads"), 2.0);
    assert_eq!(num(&report, "keys"), 1000.0);
    assert!(num(&report, "ops") > 0.0);
    assert!(num(&report, "ops_per_sec") > 0.0);
    assert!(num(&report, "peak_rss_kib") > 0.0);
    let (p50, p99) = (num(&report, "write_p50_us"), num(&report, "write_p99_us"));
    let (p999, max) = (num(&report, "write_p999_us"), num(&report, "write_max_us"));
    let p9999 = num(&report, "write_p9999_us");
    assert!(0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= p9999 && p9999 <= max);
    assert!(num(&report, "read_p50_us") <= num(&report, "read_p99_us"));
    assert_eq!(report.contains_key("live_versions"), store == "lockfree");
    report
}

#[test]
fn plain_load_on_both_engines() {
    for store in ["lockfree", "mutex"] {
        let report = load(store, &[]);
        assert_eq!(report["mix"], "90:10");
        assert_eq!(num(&report, "backups"), 0.0);
        assert!(report["backup_start_p50_us"].is_null());
        assert!(!report.contains_key("notify_per_sec"));
    }
}

#[test]
fn load_with_backups_on_both_engines() {
    for store in ["lockfree", "mutex"] {
        let report = load(store, &["--backup-every-ms", "50", "--mix", "50:50"]);
        assert!(num(&report, "backups") >= 1.0, "{report:?}");
        assert!(num(&report, "backup_start_p50_us") > 0.0);
        assert!(num(&report, "backup_start_max_us") >= num(&report, "backup_start_p50_us"));
        assert!(num(&report, "backup_write_ms_p50") > 0.0);
    }
}

#[test]
fn load_with_a_subscriber_on_both_engines() {
    for store in ["lockfree", "mutex"] {
        let report = load(
            store,
            &[
                "--notify",
                "1",
                "--mix",
                "50:50",
                "--rate",
                "20000",
                "--ring-capacity",
                "65536",
            ],
        );
        assert!(num(&report, "notify_per_sec") > 0.0, "{report:?}");
        assert!(num(&report, "notify_p50_us") > 0.0);
        assert!(num(&report, "notify_p99_us") >= num(&report, "notify_p50_us"));
        assert_eq!(num(&report, "notify_sessions_ended"), 0.0);
        let delivered = num(&report, "notify_delivered");
        assert!(0.0 < delivered && delivered <= num(&report, "notify_expected"));
    }
}

#[test]
fn fork_pause_on_both_engines() {
    for store in ["lockfree", "mutex"] {
        let report = bench(&[
            "--fork-pause",
            "--store",
            store,
            "--keys",
            "1000",
            "--fork-runs",
            "3",
            "--json",
        ]);
        assert_eq!(report["mode"], "fork");
        assert_eq!(num(&report, "fork_runs"), 3.0);
        let median = num(&report, "fork_pause_us");
        assert!(num(&report, "fork_pause_min_us") <= median);
        assert!(median <= num(&report, "fork_pause_max_us"));
    }
}

#[test]
fn bad_flags_fail_cleanly() {
    for bad in [
        &["--mix", "90:20"][..],
        &["--threads", "0"],
        &["--store", "nope"],
        &["--notify", "1", "--value-bytes", "4"],
    ] {
        let output =
            common::process::output(Command::new(env!("CARGO_BIN_EXE_kvs-bench")).args(bad));
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{bad:?}: {stderr}");
        assert!(!stderr.is_empty());
    }
}
