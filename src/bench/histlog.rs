//! Full latency histograms saved beside the JSON records, so every
//! percentile can be recomputed and runs merged after the fact.
//!
//! The format is HdrHistogram's interval log (each histogram in the V2
//! compressed encoding, base64), which other HdrHistogram tools read too.
//! Each run appends one block to the log: a comment naming the run, then one
//! histogram per measured distribution, tagged `RUN_ID/NAME`
//! (`RUN_ID` is the `run_id` field of the run's JSON record). Appending keeps
//! one log per experiment next to its `.jsonl` file.

use super::latency::Latencies;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// Appends the histograms of run `run_id` (measured over `elapsed`) to the
/// log at `path`, creating it if needed. Empty distributions are skipped.
pub fn append(
    path: &Path,
    run_id: &str,
    elapsed: Duration,
    histograms: &[(&str, &Latencies)],
) -> io::Result<()> {
    let mut text = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment(&format!("kvs-bench run {run_id}"))
        .begin_log_with(&mut text, &mut serializer)?;
    for (name, latencies) in histograms.iter().filter(|(_, l)| l.count() > 0) {
        let tag_text = format!("{run_id}/{name}");
        let tag = Tag::new(&tag_text).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad tag {tag_text:?}"))
        })?;
        writer
            .write_histogram(latencies.histogram(), Duration::ZERO, elapsed, Some(tag))
            .map_err(|error| io::Error::other(format!("{error:?}")))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(&text)
}

/// One histogram read back from a log.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The run it belongs to.
    pub run_id: String,
    /// The distribution's name (`read`, `write`, `backup_start`, ...).
    pub name: String,
    /// Its samples.
    pub latencies: Latencies,
}

/// Every tagged histogram of a log's text.
pub fn read(text: &[u8]) -> Result<Vec<Entry>, String> {
    let mut deserializer = Deserializer::new();
    let mut entries = Vec::new();
    for entry in IntervalLogIterator::new(text) {
        let LogEntry::Interval(interval) =
            entry.map_err(|error| format!("unreadable log: {error:?}"))?
        else {
            continue;
        };
        let Some((run_id, name)) = interval.tag().and_then(|t| t.as_str().rsplit_once('/')) else {
            continue;
        };
        let bytes = base64_decode(interval.encoded_histogram())?;
        let histogram = deserializer
            .deserialize::<u64, _>(&mut bytes.as_slice())
            .map_err(|error| format!("histogram {run_id}/{name}: {error:?}"))?;
        let latencies = Latencies::from_histogram(&histogram)
            .map_err(|error| format!("histogram {run_id}/{name}: {error:?}"))?;
        entries.push(Entry {
            run_id: run_id.to_string(),
            name: name.to_string(),
            latencies,
        });
    }
    Ok(entries)
}

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|error| format!("bad base64: {error}"))
}
