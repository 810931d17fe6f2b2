//! The checker on a synthetic paper and results pair: it passes when the
//! paper matches, and fails, naming the line, when a figure is edited.

use super::check;
use super::query::{Run, Runs};
use kvs::bench::results::parse_jsonl;

/// Three paired runs of two engines: lock-free at 2.0, 2.2, 2.4 M ops/s,
/// mutex at 1.0 M, so the paired ratios are 2.0, 2.2, 2.4; one extra
/// mutex run with an ended session is invalid and must be ignored.
fn runs() -> Runs {
    let mut lines = Vec::new();
    for (seed, lockfree) in [(1, 2.0e6), (2, 2.2e6), (3, 2.4e6)] {
        for (store, ops, p999) in [
            ("lockfree", lockfree, 30.0 + seed as f64),
            ("mutex", 1.0e6, 3.0),
        ] {
            lines.push(format!(
                r#"{{"store":"{store}","seed":{seed},"threads":2,"keys":1000,"mix":"90:10","ops_per_sec":{ops},"write_p999_us":{p999}}}"#
            ));
        }
    }
    lines.push(
        r#"{"store":"mutex","seed":4,"threads":2,"keys":1000,"mix":"90:10","ops_per_sec":9e6,"notify_sessions_ended":1}"#.into(),
    );
    let mut run = Run {
        machine: "commit: abc1234\nload average at start: 1.40 2.28 2.82\n".into(),
        ..Run::default()
    };
    run.results
        .insert("throughput".into(), parse_jsonl(&lines.join("\n")).unwrap());
    let mut all = Runs::new();
    all.insert(String::new(), run);
    all
}

const PAPER: &str = "# A paper

Lock-free runs 2.2 M<!-- check: throughput median ops_per_sec store=lockfree keys=1000 -->
commands/s, 2.20×<!-- check: throughput ratio ops_per_sec store=lockfree/store=mutex keys=1000 -->
the baseline (write p99.9 3.0–32.0 µs<!-- check: throughput median write_p999_us store=lockfree|mutex -->),
so the target is **met**<!-- check: throughput verdict ops_per_sec store=lockfree/store=mutex >=1 -->,
from 3<!-- check: throughput runs store=mutex --> valid runs at commit
`abc1234`<!-- check: machine commit -->, load 1.40<!-- check: machine load -->.

<!-- check-table: throughput threads=2; keys mix; median ops_per_sec store=lockfree | median write_p999_us store=lockfree | _ -->
| keys | mix | ops/s | p99.9 | note |
|---|---|---:|---:|---|
| 1k | 90:10 | 2.20 M | 32.0 µs | anything |
";

#[test]
fn a_paper_that_matches_its_data_passes() {
    let (problems, checked) = check(PAPER, &runs());
    assert_eq!(problems, Vec::<String>::new());
    assert_eq!(checked, 9);
}

/// Each edit of one figure is caught, on the line it was made.
#[test]
fn an_edited_figure_fails_naming_its_line() {
    let edits = [
        ("2.2 M<!--", "2.3 M<!--", 3),
        ("2.20×", "2.25×", 4),
        ("3.0–32.0 µs", "3.0–33.0 µs", 5),
        ("**met**", "**missed**", 6),
        ("from 3<!--", "from 4<!--", 7),
        ("`abc1234`", "`abc1235`", 8),
        ("load 1.40", "load 1.10", 8),
        ("2.20 M |", "2.30 M |", 13),
        ("| 32.0 µs", "| 32.0 ms", 13),
    ];
    for (from, to, line) in edits {
        assert!(PAPER.contains(from), "{from}");
        let edited = PAPER.replacen(from, to, 1);
        let (problems, _) = check(&edited, &runs());
        assert_eq!(problems.len(), 1, "{from} → {to}: {problems:?}");
        assert!(
            problems[0].starts_with(&format!("paper line {line}:")),
            "{from} → {to}: {problems:?}"
        );
    }
}

#[test]
fn a_marker_without_data_fails() {
    let paper = "x 1.0<!-- check: throughput median ops_per_sec store=cow -->\n\
                 y 1.0<!-- check: latency median write_p999_us -->\n\
                 z 1.0<!-- check: @rerun throughput runs -->\n\
                 w –<!-- check: throughput median ops_per_sec store=cow -->\n";
    let (problems, checked) = check(paper, &runs());
    assert_eq!(checked, 4);
    assert_eq!(problems.len(), 3, "{problems:?}");
}

#[test]
fn a_verdict_on_few_pairs_needs_every_pair_on_one_side() {
    use super::query::paired_verdict;
    use kvs::bench::stats::{Goal, Verdict};
    let at_least_one = Goal::AtLeast(1.0);
    assert_eq!(
        paired_verdict(&[1.1, 1.2, 1.3], "f", at_least_one),
        Verdict::Met
    );
    assert_eq!(
        paired_verdict(&[0.7, 0.8, 0.9], "f", at_least_one),
        Verdict::Missed
    );
    assert_eq!(
        paired_verdict(&[0.7, 0.8, 1.2], "f", at_least_one),
        Verdict::Undecided
    );
    assert_eq!(paired_verdict(&[], "f", at_least_one), Verdict::NoData);
    // From five pairs on, the bootstrap interval decides: one pair above the
    // target among five below no longer makes it undecided by itself.
    let mostly_below = [0.70, 0.72, 0.74, 0.76, 0.78, 1.01];
    assert_eq!(
        paired_verdict(&mostly_below, "f", at_least_one),
        Verdict::Missed
    );
}

#[test]
fn a_nanosecond_field_converts_to_the_unit_written() {
    let mut run = Run::default();
    run.results.insert(
        "micro".into(),
        parse_jsonl(r#"{"bench":"read/1k/1t/lockfree","median_ns":31.7}"#).unwrap(),
    );
    let mut runs = Runs::new();
    runs.insert(String::new(), run);
    let matching = "a 31.7 ns<!-- check: micro median median_ns bench=read/1k/1t/lockfree -->\n\
                    b 0.0317 µs<!-- check: micro median median_ns bench=read/1k/1t/lockfree -->\n";
    let (problems, checked) = check(matching, &runs);
    assert_eq!((problems.len(), checked), (0, 2), "{problems:?}");
    let wrong = "a 31.7 µs<!-- check: micro median median_ns bench=read/1k/1t/lockfree -->\n";
    assert_eq!(check(wrong, &runs).0.len(), 1);
}

#[test]
fn a_boolean_filter_selects_by_a_json_boolean() {
    let mut run = Run::default();
    run.results.insert(
        "forkbackup".into(),
        parse_jsonl(
            "{\"store\":\"mutex\",\"seed\":1,\"backup_fork\":true,\"ops_per_sec\":1.0}\n\
             {\"store\":\"mutex\",\"seed\":1,\"backup_fork\":false,\"ops_per_sec\":4.0}",
        )
        .unwrap(),
    );
    let mut runs = Runs::new();
    runs.insert(String::new(), run);
    let paper = "a 1.0<!-- check: forkbackup median ops_per_sec backup_fork=true -->\n\
                 b 4.0<!-- check: forkbackup median ops_per_sec backup_fork=false -->\n\
                 c 0.25<!-- check: forkbackup ratio ops_per_sec backup_fork=true/backup_fork=false -->\n";
    let (problems, checked) = check(paper, &runs);
    assert_eq!((problems.len(), checked), (0, 3), "{problems:?}");
}

/// A commit whose hex digits read as a float (`6e75902`, 6 × 10^75902) is
/// still compared as a word.
#[test]
fn a_commit_that_reads_as_a_number_is_a_word() {
    let mut runs = runs();
    runs.get_mut("").unwrap().machine = "commit: 6e75902\n".into();
    let paper = "at `6e75902`<!-- check: machine commit -->.\n";
    assert_eq!(check(paper, &runs), (Vec::<String>::new(), 1));
    let (problems, _) = check("at `6e75903`<!-- check: machine commit -->.\n", &runs);
    assert_eq!(problems.len(), 1);
}
