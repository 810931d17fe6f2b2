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
    assert!(num(&report, "cpu_seconds") > 0.0);
    assert!(num(&report, "ops_per_cpu_sec") > 0.0);
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
fn open_loop_run_reports_its_schedule_and_saves_its_histograms() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = dir.path().join("runs.hlog");
    let log_arg = log.to_str().expect("a UTF-8 path");
    let mut run_ids = Vec::new();
    for store in ["lockfree", "mutex"] {
        let report = load(store, &["--rate", "20000", "--hdr-log", log_arg]);
        assert_eq!(report["open_loop"], true);
        assert!(num(&report, "achieved_rate") > 0.0);
        assert!(num(&report, "overdue") >= 0.0);
        run_ids.push((report["run_id"].as_str().unwrap().to_string(), report));
    }
    // Both runs appended to one log; each run's histograms hold exactly its
    // samples, so percentiles can be recomputed from the log.
    let entries = kvs::bench::histlog::read(&std::fs::read(&log).unwrap()).unwrap();
    for (run_id, report) in &run_ids {
        let count = |name: &str| {
            entries
                .iter()
                .find(|e| &e.run_id == run_id && e.name == name)
                .map_or(0.0, |e| e.latencies.count() as f64)
        };
        assert_eq!(count("read"), num(report, "reads"), "{run_id}");
        assert_eq!(count("write"), num(report, "writes"), "{run_id}");
    }
    assert_eq!(load("mutex", &[])["open_loop"], false);
}

#[test]
fn backup_starts_are_timed_one_by_one() {
    for store in ["lockfree", "mutex"] {
        let report = load(store, &["--backup-starts", "200"]);
        assert_eq!(num(&report, "backup_start_samples"), 200.0, "{report:?}");
        assert_eq!(num(&report, "backups"), 200.0);
        // The start includes the snapshot, a permit and a thread start.
        assert!(num(&report, "backup_start_p50_us") > num(&report, "backup_snapshot_p50_us"));
        assert!(report["backup_write_ms_p50"].is_null());
    }
}

#[test]
fn benchmark_only_engines_and_the_std_lock_run_with_backups() {
    for (store, extra) in [
        ("cow", &[][..]),
        ("flurry", &[]),
        ("mutex", &["--lock", "std", "--shards", "8"]),
    ] {
        let mut args = vec!["--backup-every-ms", "50", "--mix", "50:50"];
        args.extend_from_slice(extra);
        let report = load(store, &args);
        assert!(num(&report, "backups") >= 1.0, "{report:?}");
    }
}

#[test]
fn fork_based_backups_run_under_load() {
    let report = load(
        "mutex",
        &["--backup-every-ms", "50", "--backup-fork", "--mix", "50:50"],
    );
    assert_eq!(report["backup_fork"], true);
    assert!(num(&report, "backups") >= 1.0, "{report:?}");
    assert!(num(&report, "backup_child_peak_rss_kib") > 0.0);
    assert!(num(&report, "backup_write_ms_p50") > 0.0);
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

mod open_loop_schedule {
    //! The open-loop schedule, driven by a clock the test moves by hand: no
    //! timing, only the schedule's arithmetic and its wait/no-skip logic.

    use kvs::bench::schedule::{Clock, Schedule};
    use std::time::Duration;

    /// A clock that only moves when told to (or when waited on).
    struct HandClock {
        now: Duration,
    }

    impl Clock for HandClock {
        fn elapsed(&self) -> Duration {
            self.now
        }
        fn wait_until(&mut self, moment: Duration) {
            self.now = self.now.max(moment);
        }
    }

    const US: fn(u64) -> Duration = Duration::from_micros;

    /// Runs `count` commands on one thread at `rate`, each taking
    /// `service(k)`; returns each command's latency.
    fn latencies(rate: u64, count: u64, service: impl Fn(u64) -> Duration) -> Vec<Duration> {
        let mut clock = HandClock {
            now: Duration::ZERO,
        };
        let mut schedule = Schedule::new(rate, 1, 0);
        (0..count)
            .map(|k| {
                let due = schedule.start_next(&mut clock);
                clock.now += service(k);
                Schedule::latency(due, &clock)
            })
            .collect()
    }

    #[test]
    fn a_stall_is_carried_by_every_command_it_delayed() {
        // 100k commands/s (one due every 10 µs), 2 µs each, and command 10
        // stalls for 1 ms.
        let stall = |k| if k == 10 { US(1000) } else { US(2) };
        let measured = latencies(100_000, 400, stall);
        assert!(measured[..10].iter().all(|&l| l == US(2)), "{measured:?}");
        // Due at 100 µs, done at 1100 µs.
        assert_eq!(measured[10], US(1000));
        // The next ones were due every 10 µs meanwhile: each starts at once
        // when the previous ends and carries what is left of the stall,
        // 8 µs less each time (10 µs of schedule, 2 µs of work).
        assert_eq!(measured[11], US(992));
        assert_eq!(measured[12], US(984));
        let slow = measured.iter().filter(|&&l| l > US(100)).count();
        // A closed loop would show one slow sample; the schedule shows the
        // 113 commands the stall delayed by more than 100 µs.
        assert_eq!(slow, 113);
        // Once the backlog is served, commands are on time again.
        assert!(measured[300..].iter().all(|&l| l == US(2)));
    }

    #[test]
    fn a_late_thread_skips_nothing_and_an_early_one_waits() {
        let mut clock = HandClock {
            now: Duration::ZERO,
        };
        let mut schedule = Schedule::new(1000, 1, 0);
        assert_eq!(schedule.start_next(&mut clock), Duration::ZERO);
        // Far behind: the next command is still the one due at 1 ms,
        // started at once.
        clock.now = Duration::from_millis(50);
        assert_eq!(schedule.start_next(&mut clock), Duration::from_millis(1));
        assert_eq!(clock.now, Duration::from_millis(50));
        // 49 more were due by 50 ms (2 ms to 50 ms) and not yet started.
        assert_eq!(schedule.overdue(clock.now), 49);
        for _ in 0..49 {
            schedule.start_next(&mut clock);
        }
        assert_eq!(schedule.overdue(clock.now), 0);
        // Ahead of schedule: the thread waits until the command is due.
        assert_eq!(schedule.start_next(&mut clock), Duration::from_millis(51));
        assert_eq!(clock.now, Duration::from_millis(51));
        assert_eq!(schedule.issued(), 52);
    }

    #[test]
    fn threads_take_turns_on_one_schedule() {
        // 1000 commands/s over 2 threads: slots every 1 ms, alternating.
        let even = Schedule::new(1000, 2, 0);
        let odd = Schedule::new(1000, 2, 1);
        let ms = Duration::from_millis;
        assert_eq!(
            (0..3).map(|k| even.due(k)).collect::<Vec<_>>(),
            [ms(0), ms(2), ms(4)]
        );
        assert_eq!(
            (0..3).map(|k| odd.due(k)).collect::<Vec<_>>(),
            [ms(1), ms(3), ms(5)]
        );
        // A rate that does not divide a second evenly does not drift.
        let third = Schedule::new(3, 1, 0);
        assert_eq!(third.due(3), Duration::from_secs(1));
    }
}
