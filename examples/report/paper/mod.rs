//! `--check-paper`: re-derives from `results/` every figure `paper.md`
//! marks as coming from data, and fails on any mismatch, naming the line.
//!
//! Markers are HTML comments, invisible when the paper is rendered:
//!
//! * `0.77×<!-- check: QUERY -->`: the figure (or range `low–high`, or
//!   verdict word, or machine fact) written immediately before the marker;
//! * `<!-- check-table: HEAD; ROW FIELDS; COLUMN | COLUMN | … -->` on the
//!   line before a table (columns separated by ` | `, spaces included, so
//!   that a filter's alternatives `a|b` stay in one column): each data row's first cells are the values of
//!   ROW FIELDS (`1k`, `100k`, `1M` read as numbers; `field:off=0,on=1`
//!   maps words), and every further cell is checked against the query
//!   `HEAD`'s run and experiment, that COLUMN's aggregate, `HEAD`'s
//!   filters and the row's values. A COLUMN of `_` is not checked.
//!
//! The query language is in [`query`]. A figure matches when the computed
//! value, converted to the unit written (`µs`, `ms`, `k`, `M`, `%`, `MiB`,
//! …), rounds to it at the number of decimals written. Every marker must
//! resolve to data: a marker whose experiment, run or field is missing
//! fails too, unless the paper writes `–` (no data) there.

mod claim;
pub mod query;
#[cfg(test)]
mod tests;

use claim::{Claim, Unit};
use query::{Figure, Query, Runs};
use std::path::Path;

const INLINE: &str = "<!-- check:";
const TABLE: &str = "<!-- check-table:";
const CLOSE: &str = "-->";

/// Loads the results root and each of its subdirectories as one run.
pub fn load_runs(root: &Path) -> anyhow::Result<Runs> {
    let mut runs = Runs::new();
    let mut dirs = vec![(String::new(), root.to_path_buf())];
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        if path.is_dir() {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            dirs.push((name.unwrap_or_default(), path));
        }
    }
    for (name, dir) in dirs {
        let (results, _dropped) = super::load(&dir)?;
        let machine = std::fs::read_to_string(dir.join("machine.txt")).unwrap_or_default();
        runs.insert(name, query::Run { results, machine });
    }
    Ok(runs)
}

/// Every mismatch of `paper` against `runs`, as `line N: …` messages
/// (empty when the paper matches its data), and how many figures were
/// checked.
pub fn check(paper: &str, runs: &Runs) -> (Vec<String>, usize) {
    let lines: Vec<&str> = paper.lines().collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (index, line) in lines.iter().enumerate() {
        let at = |message: String| format!("paper line {}: {message}", index + 1);
        if let Some(spec) = marker(line, TABLE) {
            match check_table(spec, &lines[index + 1..], runs) {
                Ok((found, count)) => {
                    checked += count;
                    problems.extend(
                        found
                            .into_iter()
                            .map(|(row, m)| format!("paper line {}: {m}", index + 2 + row)),
                    );
                }
                Err(message) => problems.push(at(message)),
            }
            continue;
        }
        let mut rest = *line;
        let mut before = String::new();
        while let Some(start) = rest.find(INLINE) {
            before.push_str(&rest[..start]);
            let Some(end) = rest[start..].find(CLOSE) else {
                problems.push(at("unclosed check marker".into()));
                break;
            };
            let spec = &rest[start + INLINE.len()..start + end];
            checked += 1;
            if let Err(message) = check_figure(&before, spec, runs) {
                problems.push(at(message));
            }
            rest = &rest[start + end + CLOSE.len()..];
        }
    }
    (problems, checked)
}

/// The text of a marker of kind `open` that makes up the whole line.
fn marker<'a>(line: &'a str, open: &str) -> Option<&'a str> {
    line.trim()
        .strip_prefix(open)?
        .strip_suffix(CLOSE)
        .map(str::trim)
}

/// Checks the figure at the end of `before` against query `spec`.
fn check_figure(before: &str, spec: &str, runs: &Runs) -> Result<(), String> {
    let stated = claim::parse(before)?;
    let query = Query::parse(spec)?;
    let figures = query.evaluate(runs)?;
    compare(&stated, &figures).map_err(|why| format!("`{}`: {why} (check: {spec})", tail(before)))
}

/// The end of `text`, for messages.
fn tail(text: &str) -> &str {
    let text = text.trim_end();
    let start = text.char_indices().rev().nth(24).map_or(0, |(i, _)| i);
    &text[start..]
}

/// Checks every data row of the table at the start of `lines`; returns the
/// mismatches by row offset, and the number of cells checked.
fn check_table(
    spec: &str,
    lines: &[&str],
    runs: &Runs,
) -> Result<(Vec<(usize, String)>, usize), String> {
    let mut parts = spec.split(';').map(str::trim);
    let head = parts.next().unwrap_or_default();
    let row_fields: Vec<RowField> = parts
        .next()
        .ok_or("check-table needs `HEAD; ROW FIELDS; COLUMNS`")?
        .split_whitespace()
        .map(RowField::parse)
        .collect::<Result<_, _>>()?;
    let columns: Vec<&str> = parts
        .next()
        .ok_or("check-table needs `HEAD; ROW FIELDS; COLUMNS`")?
        .split(" | ")
        .map(str::trim)
        .collect();
    let (head_words, head_filters): (Vec<&str>, Vec<&str>) =
        head.split_whitespace().partition(|w| !w.contains('='));
    let rows: Vec<&str> = lines
        .iter()
        .take_while(|l| l.trim_start().starts_with('|'))
        .copied()
        .collect();
    if rows.len() < 3 {
        return Err("check-table is not followed by a table with data rows".into());
    }
    let mut problems = Vec::new();
    let mut checked = 0;
    for (offset, row) in rows.iter().enumerate().skip(2) {
        let cells: Vec<&str> = row
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() != row_fields.len() + columns.len() {
            problems.push((
                offset,
                format!(
                    "{} cells, the marker describes {}",
                    cells.len(),
                    row_fields.len() + columns.len()
                ),
            ));
            continue;
        }
        let row_filters: Vec<String> = row_fields
            .iter()
            .zip(&cells)
            .map(|(field, cell)| field.filter(cell))
            .collect();
        for (column, cell) in columns.iter().zip(&cells[row_fields.len()..]) {
            if *column == "_" {
                continue;
            }
            checked += 1;
            let spec = format!(
                "{} {column} {} {}",
                head_words.join(" "),
                head_filters.join(" "),
                row_filters.join(" ")
            );
            if let Err(message) = check_figure(cell, &spec, runs) {
                problems.push((offset, message));
            }
        }
    }
    Ok((problems, checked))
}

/// A table's row key: a field, and optionally words standing for values.
struct RowField {
    field: String,
    words: Vec<(String, String)>,
}

impl RowField {
    fn parse(text: &str) -> Result<RowField, String> {
        let Some((field, words)) = text.split_once(':') else {
            return Ok(RowField {
                field: text.into(),
                words: Vec::new(),
            });
        };
        let words = words
            .split(',')
            .map(|pair| {
                pair.split_once('=')
                    .map(|(w, v)| (w.to_string(), v.to_string()))
                    .ok_or_else(|| format!("`{pair}` is not WORD=VALUE"))
            })
            .collect::<Result<_, _>>()?;
        Ok(RowField {
            field: field.into(),
            words,
        })
    }

    /// The filter a row's cell stands for.
    fn filter(&self, cell: &str) -> String {
        let cell = cell.trim_matches('`');
        let value = self
            .words
            .iter()
            .find(|(word, _)| word == cell)
            .map_or(cell, |(_, v)| v.as_str());
        format!("{}={}", self.field, value.replace(' ', ""))
    }
}

/// The unit a result field is recorded in.
fn field_unit(field: &str) -> Unit {
    if field.ends_with("_ns") {
        Unit::Time(1e-9)
    } else if field.ends_with("_us") || field.contains("_us_") {
        Unit::Time(1e-6)
    } else if field.ends_with("_ms") || field.contains("_ms_") {
        Unit::Time(1e-3)
    } else if field.ends_with("_kib") {
        Unit::Size(1.0)
    } else {
        Unit::Plain
    }
}

/// `actual`, recorded in `field`'s unit, converted to the unit `written`.
fn convert(actual: f64, field: &str, written: Unit) -> Result<f64, String> {
    match (field_unit(field), written) {
        (Unit::Plain, Unit::Plain | Unit::Times) => Ok(actual),
        (Unit::Plain, Unit::Percent) => Ok(actual * 100.0),
        (Unit::Plain, Unit::Count(scale)) => Ok(actual / scale),
        (Unit::Time(from), Unit::Time(to)) | (Unit::Size(from), Unit::Size(to)) => {
            Ok(actual * from / to)
        }
        (Unit::Time(_) | Unit::Size(_), Unit::Plain) => Ok(actual),
        (recorded, _) => Err(format!(
            "written as {written:?}, but `{field}` is recorded as {recorded:?}"
        )),
    }
}

fn shown(figures: &[Figure]) -> String {
    let all: Vec<String> = figures
        .iter()
        .map(|f| match f {
            Figure::Number(x, _) => format!("{x:.4}"),
            Figure::Word(w) => w.clone(),
            Figure::Missing => "no data".into(),
        })
        .collect();
    all.join(", ")
}

/// Whether the stated claim is what the figures say.
fn compare(stated: &Claim, figures: &[Figure]) -> Result<(), String> {
    let mismatch = || Err(format!("the data says {}", shown(figures)));
    let numbers: Vec<(f64, &str)> = figures
        .iter()
        .filter_map(|f| match f {
            Figure::Number(x, field) => Some((*x, field.as_str())),
            _ => None,
        })
        .collect();
    match stated {
        Claim::Nothing => {
            if figures.iter().all(|f| *f == Figure::Missing) {
                Ok(())
            } else {
                mismatch()
            }
        }
        Claim::Word(word) => {
            let said = |f: &Figure| matches!(f, Figure::Word(w) if w == word);
            if !figures.is_empty() && figures.iter().all(said) {
                Ok(())
            } else {
                mismatch()
            }
        }
        Claim::Number { low, high, unit } => {
            if numbers.len() != figures.len() || numbers.is_empty() {
                return mismatch();
            }
            let mut converted = Vec::new();
            for (x, field) in numbers {
                converted.push(convert(x, field, *unit)?);
            }
            let smallest = converted.iter().copied().fold(f64::INFINITY, f64::min);
            let largest = converted.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let fits = match low {
                Some(low) => low.matches(smallest) && high.matches(largest),
                None => high.matches(smallest) && high.matches(largest),
            };
            if fits {
                Ok(())
            } else {
                mismatch()
            }
        }
    }
}
