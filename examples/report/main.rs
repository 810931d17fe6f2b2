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
//! * `tables`: which tables the paper shows, declared as data.
//! * `targets`: the issue's targets, evaluated on the medians.
//! * `pooled`: percentiles over all runs of a configuration, from the
//!   saved histograms.
//! * `figures`: the SVG charts (plotters, SVG backend: no fonts needed).

mod figures;
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
    let dir = std::env::args_os()
        .nth(1)
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
