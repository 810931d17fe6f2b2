//! Reading benchmark results back: `results/*.jsonl` files (one
//! [`report`](super::report) per line) grouped into runs of the same
//! configuration, summarized as median and min–max, and laid out as
//! markdown tables with the engines side by side.
//!
//! The layer is generic (field names in, markdown out) so the tables of the
//! paper are declared in one place, the report generator, and this code is
//! tested without any benchmark having run.

use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::fmt::Write as _;

/// One line of a results file.
pub type Record = Map<String, Value>;

/// The engines, in the column order of every table (`yardstick` is the C
/// reference of the job-file experiment, `benches/yardstick/`).
pub const ENGINES: [&str; 5] = ["lockfree", "mutex", "cow", "flurry", "yardstick"];

/// A line that is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Parses a JSON-lines text; blank lines are skipped.
pub fn parse_jsonl(text: &str) -> Result<Vec<Record>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(record)) => Ok(record),
            Ok(_) => Err(ParseError {
                line: index + 1,
                message: "not a JSON object".into(),
            }),
            Err(error) => Err(ParseError {
                line: index + 1,
                message: error.to_string(),
            }),
        })
        .collect()
}

/// A field as a number (`None`: absent, `null`, or not a number).
pub fn number(record: &Record, field: &str) -> Option<f64> {
    record.get(field).and_then(Value::as_f64)
}

/// A field as table text (`-` when absent or `null`).
pub fn text(record: &Record, field: &str) -> String {
    match record.get(field) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.as_f64().map_or_else(|| n.to_string(), format_number),
        Some(other) => other.to_string(),
    }
}

/// Median and spread of repeated runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub runs: usize,
}

/// Summarizes `values`; `None` when there are none.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    };
    Some(Summary {
        median,
        min: sorted[0],
        max: sorted[sorted.len() - 1],
        runs: sorted.len(),
    })
}

/// A number with as many digits as a table needs: integers from 1000 up,
/// one decimal from 10, three significant digits below.
pub fn format_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1000.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A summary as a table cell: `median (min–max)`, or the median alone for
/// a single run.
pub fn cell(summary: Option<Summary>) -> String {
    match summary {
        None => "-".into(),
        Some(s) if s.runs == 1 || s.min == s.max => format_number(s.median),
        Some(s) => format!(
            "{} ({}–{})",
            format_number(s.median),
            format_number(s.min),
            format_number(s.max)
        ),
    }
}

/// One metric column group of a table.
#[derive(Debug, Clone)]
pub struct Metric {
    /// The field summarized.
    pub field: &'static str,
    /// Its column heading.
    pub label: &'static str,
}

/// A table: one row per distinct value of `rows` (the configuration), and
/// for each metric one column per engine.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// The heading above the table.
    pub title: String,
    /// Fields that identify a configuration, in column order.
    pub rows: Vec<&'static str>,
    /// The metrics shown.
    pub metrics: Vec<Metric>,
}

/// The runs of one configuration, by engine.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The configuration's values of the row fields.
    pub key: Vec<Value>,
    /// Its records.
    pub records: Vec<&'a Record>,
}

impl Group<'_> {
    /// The summary of `field` over this group's runs of `engine`.
    pub fn summary(&self, engine: &str, field: &str) -> Option<Summary> {
        let values: Vec<f64> = self
            .records
            .iter()
            .filter(|r| r.get("store").and_then(Value::as_str) == Some(engine))
            .filter_map(|r| number(r, field))
            .collect();
        summarize(&values)
    }
}

/// Groups `records` by the values of `fields`, in ascending order of those
/// values (numbers numerically, text as text).
pub fn group_by<'a>(records: &'a [Record], fields: &[&str]) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for record in records {
        let key: Vec<Value> = fields
            .iter()
            .map(|f| record.get(*f).cloned().unwrap_or(Value::Null))
            .collect();
        match groups.iter_mut().find(|g| g.key == key) {
            Some(group) => group.records.push(record),
            None => groups.push(Group {
                key,
                records: vec![record],
            }),
        }
    }
    groups.sort_by(|a, b| compare_keys(&a.key, &b.key));
    groups
}

fn compare_keys(a: &[Value], b: &[Value]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| compare_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => mix_aware(&text_of(a)).cmp(&mix_aware(&text_of(b))),
    }
}

/// Text order, except that a `READ:WRITE` mix sorts read-heaviest first.
fn mix_aware(text: &str) -> (i64, String) {
    let read = text
        .split_once(':')
        .and_then(|(read, _)| read.parse::<i64>().ok());
    (read.map_or(0, |r| -r), text.to_string())
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders `spec` over `records` as a markdown table (with its title as a
/// level-3 heading). Engines with no record are left out.
pub fn markdown_table(spec: &TableSpec, records: &[Record]) -> String {
    let engines: Vec<&str> = ENGINES
        .iter()
        .copied()
        .filter(|e| {
            records
                .iter()
                .any(|r| r.get("store").and_then(Value::as_str) == Some(*e))
        })
        .collect();
    let mut out = format!("### {}\n\n", spec.title);
    let mut heading: Vec<String> = spec.rows.iter().map(|f| f.to_string()).collect();
    for metric in &spec.metrics {
        for engine in &engines {
            heading.push(format!("{} ({engine})", metric.label));
        }
    }
    heading.push("runs".into());
    let _ = writeln!(out, "| {} |", heading.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        heading
            .iter()
            .enumerate()
            .map(|(i, _)| if i < spec.rows.len() { "---|" } else { "---:|" })
            .collect::<String>()
    );
    for group in group_by(records, &spec.rows) {
        let mut cells: Vec<String> = spec
            .rows
            .iter()
            .map(|f| text(group.records[0], f))
            .collect();
        let mut runs = 0;
        for metric in &spec.metrics {
            for engine in &engines {
                let summary = group.summary(engine, metric.field);
                runs = runs.max(summary.map_or(0, |s| s.runs));
                cells.push(cell(summary));
            }
        }
        cells.push(runs.to_string());
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    out
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    const LINES: &str = r#"
{"mode":"load","store":"lockfree","threads":2,"keys":1000,"mix":"90:10","ops_per_sec":300.0,"read_p50_us":null}
{"mode":"load","store":"lockfree","threads":2,"keys":1000,"mix":"90:10","ops_per_sec":100.0}
{"mode":"load","store":"lockfree","threads":2,"keys":1000,"mix":"90:10","ops_per_sec":200.0}
{"mode":"load","store":"mutex","threads":2,"keys":1000,"mix":"90:10","ops_per_sec":50.0}
{"mode":"load","store":"mutex","threads":1,"keys":1000,"mix":"100:0","ops_per_sec":70.0}
"#;

    #[test]
    fn parses_json_lines_and_reports_bad_ones() {
        let records = parse_jsonl(LINES).unwrap();
        assert_eq!(records.len(), 5);
        assert_eq!(number(&records[0], "ops_per_sec"), Some(300.0));
        assert_eq!(number(&records[0], "read_p50_us"), None);
        assert_eq!(text(&records[0], "read_p50_us"), "-");
        assert_eq!(text(&records[0], "mix"), "90:10");
        let error = parse_jsonl("{\"a\":1}\n[1]\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(parse_jsonl("{oops").is_err());
    }

    #[test]
    fn summaries_take_the_median_and_spread() {
        let s = summarize(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (2.0, 1.0, 3.0, 3));
        assert_eq!(summarize(&[1.0, 4.0]).unwrap().median, 2.5);
        assert_eq!(summarize(&[]), None);
        assert_eq!(cell(Some(s)), "2 (1–3)");
        assert_eq!(format_number(2.5), "2.50");
        assert_eq!(cell(None), "-");
        assert_eq!(format_number(1234.56), "1235");
        assert_eq!(format_number(12.34), "12.3");
        assert_eq!(format_number(0.1234), "0.123");
    }

    #[test]
    fn groups_sort_numerically_and_mixes_read_heaviest_first() {
        let records = parse_jsonl(LINES).unwrap();
        let groups = group_by(&records, &["threads", "mix"]);
        let keys: Vec<String> = groups
            .iter()
            .map(|g| g.key.iter().map(text_of).collect::<Vec<_>>().join(","))
            .collect();
        assert_eq!(keys, ["1,100:0", "2,90:10"]);
        let mixes =
            parse_jsonl("{\"mix\":\"50:50\"}\n{\"mix\":\"100:0\"}\n{\"mix\":\"90:10\"}\n").unwrap();
        let order: Vec<String> = group_by(&mixes, &["mix"])
            .iter()
            .map(|g| text_of(&g.key[0]))
            .collect();
        assert_eq!(order, ["100:0", "90:10", "50:50"]);
    }

    #[test]
    fn tables_put_engines_side_by_side() {
        let records = parse_jsonl(LINES).unwrap();
        let spec = TableSpec {
            title: "Throughput".into(),
            rows: vec!["threads", "mix"],
            metrics: vec![Metric {
                field: "ops_per_sec",
                label: "ops/s",
            }],
        };
        let table = markdown_table(&spec, &records);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "### Throughput");
        assert_eq!(
            lines[2],
            "| threads | mix | ops/s (lockfree) | ops/s (mutex) | runs |"
        );
        assert_eq!(lines[4], "| 1 | 100:0 | - | 70 | 1 |");
        assert_eq!(lines[5], "| 2 | 90:10 | 200 (100–300) | 50 | 3 |");
    }
}
