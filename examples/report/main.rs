//! Regenerates every table and figure of the paper from `results/*.jsonl`:
//!
//! ```text
//! cargo run --release --example report [RESULTS_DIR]
//! ```
//!
//! writes `RESULTS_DIR/tables.md` (medians of the runs of each
//! configuration, with the min–max spread, engines side by side, and the
//! project's targets checked against them) and `RESULTS_DIR/*.svg`.
//! Experiments whose file is missing are skipped.
//!
//! ```text
//! cargo run --example report -- --check-paper [PAPER [RESULTS_DIR]]
//! ```
//!
//! instead re-derives every figure `PAPER` (default `paper.md`) marks as
//! coming from data, from `RESULTS_DIR` (default `results`) and its
//! subdirectories, and fails naming each paper line that does not match
//! (see `paper`). It measures nothing and needs no network.
//!
//! * `tables`: which tables the paper shows, declared as data.
//! * `targets`: the issue's targets, evaluated on the medians.
//! * `pooled`: percentiles over all runs of a configuration, from the
//!   saved histograms.
//! * `figures`: the SVG charts (plotters, SVG backend: no fonts needed).

mod figures;
mod paper;
mod pooled;
mod tables;
mod targets;

use anyhow::Context;
use kvs::bench::results::{parse_jsonl, Record};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Every experiment's records, by experiment name (file stem).
pub type Results = BTreeMap<String, Vec<Record>>;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "--check-paper") {
        let paper = args
            .nth(1)
            .map_or_else(|| PathBuf::from("paper.md"), PathBuf::from);
        let dir = args
            .next()
            .map_or_else(|| PathBuf::from("results"), PathBuf::from);
        return check_paper(&paper, &dir);
    }
    let dir = args
        .next()
        .map_or_else(|| PathBuf::from("results"), PathBuf::from);
    match generate(&dir) {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("report: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--check-paper`: prints every mismatch and fails if there is one.
fn check_paper(paper: &Path, dir: &Path) -> ExitCode {
    let checked = std::fs::read_to_string(paper)
        .with_context(|| format!("reading {}", paper.display()))
        .and_then(|text| Ok((text, paper::load_runs(dir)?)))
        .map(|(text, runs)| paper::check(&text, &runs));
    match checked {
        Ok((_, 0)) => {
            eprintln!("{}: no figure is marked for checking", paper.display());
            ExitCode::FAILURE
        }
        Ok((problems, count)) if problems.is_empty() => {
            println!(
                "{}: {count} figures match {}",
                paper.display(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Ok((problems, count)) => {
            for problem in &problems {
                eprintln!("{}: {problem}", paper.display());
            }
            eprintln!(
                "{} of {count} figures do not match {}",
                problems.len(),
                dir.display()
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("report --check-paper: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn generate(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let (results, dropped) = load(dir)?;
    if results.is_empty() {
        anyhow::bail!(
            "no results/*.jsonl in {}: run benches/experiments.sh first",
            dir.display()
        );
    }
    let mut written = Vec::new();
    let tables_path = dir.join("tables.md");
    let machine = std::fs::read_to_string(dir.join("machine.txt")).unwrap_or_default();
    let markdown = dropped_note(&dropped)
        + &tables::render(&results, &machine, dir)
        + &pooled::render(&results, dir)?
        + &targets::render(&results);
    std::fs::write(&tables_path, markdown)
        .with_context(|| format!("writing {}", tables_path.display()))?;
    written.push(tables_path);
    written.extend(figures::draw_all(&results, dir)?);
    Ok(written)
}

/// Runs left out of every table, by experiment: runs that did not measure
/// what they claim (see `kvs::bench::stats::is_valid`).
type Dropped = BTreeMap<String, usize>;

fn dropped_note(dropped: &Dropped) -> String {
    if dropped.is_empty() {
        return String::new();
    }
    let list: Vec<String> = dropped
        .iter()
        .map(|(name, count)| format!("{count} in {name}"))
        .collect();
    format!(
        "> Dropped as invalid (a notification session the server ended): {}.\n\n",
        list.join(", ")
    )
}

/// Reads every `*.jsonl` file of `dir`, keeping the valid runs.
fn load(dir: &Path) -> anyhow::Result<(Results, Dropped)> {
    let mut results = Results::new();
    let mut dropped = Dropped::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut records =
            parse_jsonl(&text).with_context(|| format!("parsing {}", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let before = records.len();
        records.retain(kvs::bench::stats::is_valid);
        if records.len() < before {
            dropped.insert(name.clone(), before - records.len());
        }
        results.insert(name, records);
    }
    Ok((results, dropped))
}
