//! The paper's figures: line charts of medians with min–max bars, drawn
//! with plotters' SVG backend (which writes text as SVG text, so no font
//! files are needed to build or run it).

use super::Results;
use kvs::bench::results::{number, summarize, Record, ENGINES};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One plotted point: the median of the runs at `x`, and their spread.
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    median: f64,
    min: f64,
    max: f64,
}

/// A named line. Lines of one configuration share a color; the mutex
/// engine's is dashed, so the engines read side by side.
struct Series {
    label: String,
    points: Vec<Point>,
    color: usize,
    dashed: bool,
}

/// A chart; the x axis is always logarithmic (store sizes, subscribers).
struct Chart {
    file: String,
    title: String,
    x_label: &'static str,
    y_label: &'static str,
    log_y: bool,
    series: Vec<Series>,
}

const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// The points of `engine`'s runs matching `filter`: `y_field` against
/// `x_field`, one point per distinct x.
fn points(
    records: &[Record],
    engine: &str,
    filter: &[(&str, Value)],
    x_field: &str,
    y_field: &str,
) -> Vec<Point> {
    let chosen: Vec<&Record> = records
        .iter()
        .filter(|r| r.get("store").and_then(Value::as_str) == Some(engine))
        .filter(|r| filter.iter().all(|(f, v)| r.get(*f) == Some(v)))
        .collect();
    let mut xs: Vec<f64> = chosen.iter().filter_map(|r| number(r, x_field)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs.into_iter()
        .filter_map(|x| {
            let ys: Vec<f64> = chosen
                .iter()
                .filter(|r| number(r, x_field) == Some(x))
                .filter_map(|r| number(r, y_field))
                .collect();
            summarize(&ys).map(|s| Point {
                x,
                median: s.median,
                min: s.min,
                max: s.max,
            })
        })
        .collect()
}

/// A line of `engine`, in the color of configuration number `color`.
fn series(label: impl Into<String>, points: Vec<Point>, engine: &str, color: usize) -> Series {
    Series {
        label: label.into(),
        points,
        color,
        dashed: engine == "mutex",
    }
}

/// Every chart the results allow.
fn charts(results: &Results) -> Vec<Chart> {
    let mut charts = Vec::new();
    if let Some(records) = results.get("throughput") {
        charts.extend(throughput_charts(records));
        charts.push(memory_chart(records));
    }
    if let Some(records) = results.get("latency") {
        charts.extend(latency_charts(records));
    }
    let backup = results
        .get("backupstart")
        .or_else(|| results.get("backup"))
        .map(Vec::as_slice);
    let fork = results.get("fork").map(Vec::as_slice);
    if backup.is_some() || fork.is_some() {
        charts.push(backup_start_chart(
            backup.unwrap_or(&[]),
            fork.unwrap_or(&[]),
        ));
    }
    if let Some(records) = results.get("notify") {
        charts.push(notify_chart(records));
    }
    if let Some(records) = results.get("openloop") {
        charts.extend(openloop_charts(records));
    }
    if let Some(records) = results.get("jobs") {
        charts.push(jobs_chart(records));
    }
    if let Some(records) = results.get("oversub") {
        charts.extend(oversub_charts(records));
    }
    charts
}

/// Job files: commands per second against worker threads, one line per
/// engine and store size (the C yardstick runs at 2 threads only).
fn jobs_chart(records: &[Record]) -> Chart {
    let mut lines = Vec::new();
    for (color, keys) in [1_000, 100_000].into_iter().enumerate() {
        for engine in ENGINES {
            let filter = [("keys", Value::from(keys))];
            let found = points(records, engine, &filter, "threads", "commands_per_sec");
            lines.push(series(
                format!("{engine} {}k keys", keys / 1000),
                found,
                engine,
                color,
            ));
        }
    }
    Chart {
        file: "jobs.svg".into(),
        title: "Job files: commands/s by worker threads".into(),
        x_label: "threads",
        y_label: "commands/s",
        log_y: true,
        series: lines,
    }
}

/// Oversubscription (more load threads than cores): throughput and the
/// write tail against the thread count.
fn oversub_charts(records: &[Record]) -> Vec<Chart> {
    [
        (
            "ops_per_sec",
            "oversub-throughput.svg",
            "Throughput",
            "commands/s",
            false,
        ),
        (
            "write_p999_us",
            "oversub-write-p999.svg",
            "Write p99.9",
            "µs",
            true,
        ),
    ]
    .into_iter()
    .map(|(field, file, name, unit, log_y)| {
        let lines = ENGINES
            .into_iter()
            .map(|engine| {
                let found = points(records, engine, &[], "threads", field);
                series(engine, found, engine, 0)
            })
            .collect();
        Chart {
            file: file.into(),
            title: format!("{name} with more load threads than cores (2)"),
            x_label: "load threads",
            y_label: unit,
            log_y,
            series: lines,
        }
    })
    .collect()
}

/// Open loop: read and write p99.9 against the offered load, with and
/// without backups, one chart per store size.
fn openloop_charts(records: &[Record]) -> Vec<Chart> {
    let by_share: Vec<Record> = records
        .iter()
        .filter(|r| {
            r.get("label")
                .and_then(Value::as_str)
                .is_some_and(|label| label.starts_with("load="))
        })
        .cloned()
        .collect();
    let mut sizes: Vec<f64> = by_share.iter().filter_map(|r| number(r, "keys")).collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    sizes
        .into_iter()
        .map(|keys| {
            let mut lines = Vec::new();
            for engine in ENGINES {
                for (color, (every, field, label)) in [
                    (0, "write_p999_us", "write p99.9"),
                    (100, "write_p999_us", "write p99.9, backups"),
                    (0, "read_p999_us", "read p99.9"),
                    (100, "read_p999_us", "read p99.9, backups"),
                ]
                .into_iter()
                .enumerate()
                {
                    let filter = [
                        ("keys", Value::from(keys as u64)),
                        ("backup_every_ms", Value::from(every)),
                    ];
                    let found = points(&by_share, engine, &filter, "rate", field);
                    lines.push(series(format!("{engine} {label}"), found, engine, color));
                }
            }
            Chart {
                file: format!("openloop-{keys}-keys.svg"),
                title: format!(
                    "Open loop, {keys} keys: p99.9 latency against offered load (backups every 100 ms or none)"
                ),
                x_label: "offered commands/s",
                y_label: "µs",
                log_y: true,
                series: lines,
            }
        })
        .collect()
}

/// Throughput against store size, one chart per thread count.
fn throughput_charts(records: &[Record]) -> Vec<Chart> {
    [
        (1, "throughput-1-thread.svg"),
        (2, "throughput-2-threads.svg"),
    ]
    .into_iter()
    .map(|(threads, file)| {
        let mut lines = Vec::new();
        for (color, mix) in ["100:0", "90:10", "50:50"].into_iter().enumerate() {
            for engine in ENGINES {
                let filter = [("threads", Value::from(threads)), ("mix", Value::from(mix))];
                let found = points(records, engine, &filter, "keys", "ops_per_sec");
                lines.push(series(format!("{engine} {mix}"), found, engine, color));
            }
        }
        Chart {
            file: file.into(),
            title: format!("Throughput, {threads} thread(s)"),
            x_label: "keys",
            y_label: "commands/s",
            log_y: false,
            series: lines,
        }
    })
    .collect()
}

/// Peak RSS against store size.
fn memory_chart(records: &[Record]) -> Chart {
    let filter = [("threads", Value::from(2)), ("mix", Value::from("50:50"))];
    let lines = ENGINES
        .into_iter()
        .map(|engine| {
            let found = points(records, engine, &filter, "keys", "peak_rss_kib");
            series(engine, found, engine, 0)
        })
        .collect();
    Chart {
        file: "memory.svg".into(),
        title: "Peak RSS, 2 threads, mix 50:50".into(),
        x_label: "keys",
        y_label: "KiB",
        log_y: true,
        series: lines,
    }
}

/// Write tail latency with and without backups, at p99.9 and p99.99.
fn latency_charts(records: &[Record]) -> Vec<Chart> {
    [
        ("write_p999_us", "write-p999-backups.svg", "p99.9"),
        ("write_p9999_us", "write-p9999-backups.svg", "p99.99"),
    ]
    .into_iter()
    .map(|(field, file, name)| {
        let mut lines = Vec::new();
        for engine in ENGINES {
            for (color, (every, label)) in
                [(0, "no backups"), (1, "backups")].into_iter().enumerate()
            {
                let filter = [
                    ("threads", Value::from(2)),
                    ("backup_every_ms", Value::from(every)),
                ];
                let found = points(records, engine, &filter, "keys", field);
                lines.push(series(format!("{engine}, {label}"), found, engine, color));
            }
        }
        Chart {
            file: file.into(),
            title: format!("Write {name} with and without back-to-back backups, 2 threads"),
            x_label: "keys",
            y_label: "µs",
            log_y: true,
            series: lines,
        }
    })
    .collect()
}

/// Snapshot start against the fork() pause, by store size.
fn backup_start_chart(backup: &[Record], fork: &[Record]) -> Chart {
    let mut lines = Vec::new();
    for engine in ENGINES {
        let found = points(backup, engine, &[], "keys", "backup_start_p50_us");
        lines.push(series(format!("{engine} backup start"), found, engine, 0));
    }
    for engine in ENGINES {
        let found = points(fork, engine, &[], "keys", "fork_pause_us");
        lines.push(series(
            format!("fork() pause, {engine} store"),
            found,
            engine,
            1,
        ));
    }
    Chart {
        file: "backup-start.svg".into(),
        title: "Backup start (BACKUP to the next command) vs the fork() pause".into(),
        x_label: "keys",
        y_label: "µs",
        log_y: true,
        series: lines,
    }
}

/// Commit-to-delivery latency of the paced runs, by subscribers.
fn notify_chart(records: &[Record]) -> Chart {
    let paced: Vec<Record> = records
        .iter()
        .filter(|r| number(r, "rate").is_some_and(|rate| rate > 0.0))
        .cloned()
        .collect();
    let mut lines = Vec::new();
    for engine in ENGINES {
        for (color, (field, name)) in [("notify_p50_us", "p50"), ("notify_p99_us", "p99")]
            .into_iter()
            .enumerate()
        {
            let found = points(&paced, engine, &[], "notify", field);
            lines.push(series(format!("{engine} {name}"), found, engine, color));
        }
    }
    Chart {
        file: "notify-latency.svg".into(),
        title: "Commit-to-delivery latency (paced load)".into(),
        x_label: "subscribers",
        y_label: "µs",
        log_y: true,
        series: lines,
    }
}

/// Draws every chart into `dir`; returns the files written.
pub fn draw_all(results: &Results, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for chart in charts(results) {
        if let Some(path) = draw(&chart, dir)? {
            written.push(path);
        }
    }
    Ok(written)
}

/// The range of `values` with some room, positive for a log axis.
fn padded_range(
    values: impl Iterator<Item = f64>,
    log: bool,
    from_zero: bool,
) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return None;
    }
    // Headroom above the data keeps the legend (upper right) off the lines.
    if log {
        lo /= 2.0;
        hi *= 8.0;
    } else {
        let room = ((hi - lo) * 0.1).max(hi.abs() * 0.05).max(1e-9);
        lo = if from_zero { lo.min(0.0) } else { lo - room };
        hi += room + (hi - lo) * 0.5;
    }
    Some((lo, hi))
}

fn draw(chart: &Chart, dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let all = || chart.series.iter().flat_map(|s| s.points.iter());
    let Some(x) = padded_range(all().map(|p| p.x), true, false) else {
        return Ok(None);
    };
    let ys = all().flat_map(|p| [p.min, p.max]);
    let Some(y) = padded_range(ys, chart.log_y, true) else {
        return Ok(None);
    };
    let path = dir.join(&chart.file);
    let x_range = (x.0..x.1).log_scale();
    if chart.log_y {
        plot(chart, &path, x_range, (y.0..y.1).log_scale())?;
    } else {
        plot(chart, &path, x_range, y.0..y.1)?;
    }
    Ok(Some(path))
}

fn plot<X, Y>(chart: &Chart, path: &Path, x: X, y: Y) -> anyhow::Result<()>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(plot_error)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .light_line_style(WHITE)
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .draw()
        .map_err(plot_error)?;
    for line in chart.series.iter().filter(|s| !s.points.is_empty()) {
        let color = COLORS[line.color % COLORS.len()];
        let medians = line.points.iter().map(|p| (p.x, p.median));
        let drawn = if line.dashed {
            ctx.draw_series(DashedLineSeries::new(medians, 8, 5, color.stroke_width(2)))
        } else {
            ctx.draw_series(LineSeries::new(medians, color.stroke_width(2)))
        };
        let dashed = line.dashed;
        drawn
            .map_err(plot_error)?
            .label(line.label.clone())
            .legend(move |(x, y)| {
                let (end, start) = legend_gap(dashed);
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (end, 0)], color.stroke_width(2))
                    + PathElement::new(vec![(start, 0), (20, 0)], color.stroke_width(2))
            });
        ctx.draw_series(
            line.points
                .iter()
                .map(|p| ErrorBar::new_vertical(p.x, p.min, p.median, p.max, color.filled(), 8)),
        )
        .map_err(plot_error)?;
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// Where the legend's sample of a line breaks: two segments that touch
/// (solid) or leave a gap (dashed).
fn legend_gap(dashed: bool) -> (i32, i32) {
    if dashed {
        (8, 12)
    } else {
        (10, 10)
    }
}

/// A tick label: 1000 → 1k, 1000000 → 1M.
fn short(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{}M", trim(value / 1e6))
    } else if magnitude >= 1e3 {
        format!("{}k", trim(value / 1e3))
    } else {
        trim(value)
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn plot_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a figure: {error}")
}
