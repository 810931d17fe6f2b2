//! Percentiles of the runs of one configuration pooled together, from the
//! full histograms `kvs-bench --hdr-log` saved beside the JSON records (a
//! median of per-run percentiles is not a percentile of all samples).

use super::Results;
use kvs::bench::histlog;
use kvs::bench::latency::Latencies;
use kvs::bench::results::{format_number, text, Record};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The pooled distribution of histogram `name` for each (configuration,
/// engine), the configuration being the values of `rows`.
fn pool(
    records: &[Record],
    entries: &[histlog::Entry],
    rows: &[&str],
    name: &str,
) -> BTreeMap<(Vec<String>, String), Latencies> {
    let mut pooled: BTreeMap<(Vec<String>, String), Latencies> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.name == name) {
        let Some(record) = records
            .iter()
            .find(|r| r.get("run_id").and_then(|v| v.as_str()) == Some(entry.run_id.as_str()))
        else {
            // A run dropped as invalid, or from another file: not pooled.
            continue;
        };
        let config = rows.iter().map(|field| text(record, field)).collect();
        pooled
            .entry((config, text(record, "store")))
            .or_default()
            .merge(&entry.latencies);
    }
    pooled
}

/// The backup-start table pooled over runs, if the experiment saved its
/// histograms.
pub fn render(results: &Results, dir: &Path) -> anyhow::Result<String> {
    let Some(records) = results.get("backupstart") else {
        return Ok(String::new());
    };
    let Ok(log) = std::fs::read(dir.join("backupstart.hlog")) else {
        return Ok(String::new());
    };
    let entries = histlog::read(&log).map_err(anyhow::Error::msg)?;
    let mut out = String::from(
        "### Experiment 3b, pooled: backup start over every run of a configuration (µs)\n\n\
         | keys | engine | samples | p50 | p99 | p99.9 | max |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for ((config, engine), latencies) in pool(records, &entries, &["keys"], "backup_start") {
        let cell = |q: f64| latencies.quantile_us(q).map_or("-".into(), format_number);
        let _ = writeln!(
            out,
            "| {} | {engine} | {} | {} | {} | {} | {} |",
            config.join(" "),
            latencies.count(),
            cell(0.5),
            cell(0.99),
            cell(0.999),
            latencies.max_us().map_or("-".into(), format_number)
        );
    }
    out.push('\n');
    Ok(out)
}
