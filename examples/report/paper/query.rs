//! The figure a marker names, computed from the results.
//!
//! A query is a list of words:
//!
//! ```text
//! [@RUN] EXPERIMENT AGGREGATE ARGS… [FIELD=VALUE[|VALUE…]]…
//! [@RUN] machine KEY
//! ```
//!
//! `@RUN` is a subdirectory of the results directory (default: the
//! directory itself), `EXPERIMENT` a `.jsonl` file stem, and the filters
//! select runs by their JSON fields. A filter with alternatives
//! (`keys=100000|1000000`) makes the query a set of figures, one per
//! combination, which the paper states as a range `low–high`. Aggregates:
//!
//! * `median FIELD`, `min FIELD`, `max FIELD`: over the valid runs;
//! * `runs`: how many valid runs;
//! * `ratio FIELD A/B`: the median of the ratios `FIELD(A) / FIELD(B)` of
//!   runs paired by seed, `A` and `B` being extra filters
//!   (`store=lockfree/store=mutex`, `backup_every_ms=1/backup_every_ms=0`;
//!   several joined by `,`);
//! * `verdict FIELD A/B GOAL`: the verdict on that ratio, `GOAL` being
//!   `>=X` or `<=X` (see [`paired_verdict`]);
//! * `verdict-max FIELD GOAL`: the verdict on the largest `FIELD` of any
//!   run (`<X`).

use super::super::Results;
use kvs::bench::results::{number, summarize, Record};
use kvs::bench::stats::{self, Goal, Verdict};
use serde_json::Value;
use std::collections::BTreeMap;

/// One measurement campaign: its results and its `machine.txt`.
#[derive(Debug, Default)]
pub struct Run {
    pub results: Results,
    pub machine: String,
}

/// Every campaign, by its directory relative to the results root (`""` for
/// the root itself).
pub type Runs = BTreeMap<String, Run>;

type Filter = Vec<(String, Value)>;

#[derive(Debug)]
enum Aggregate {
    Median(String),
    Min(String),
    Max(String),
    Runs,
    Ratio(String, Filter, Filter),
    Verdict(String, Filter, Filter, Goal),
    VerdictMax(String, f64),
}

/// A parsed query.
#[derive(Debug)]
pub struct Query {
    run: String,
    source: Source,
    filters: Vec<(String, Vec<Value>)>,
}

#[derive(Debug)]
enum Source {
    Machine(String),
    Experiment(String, Aggregate),
}

/// What a query yields for one combination of its filters.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    /// A number in the unit of `field` (`""` for a ratio or a count).
    Number(f64, String),
    Word(String),
    Missing,
}

/// A filter value as written: a number if it reads as one (`100k` and
/// `1M` included), `true` or `false` as a boolean, text otherwise, `+`
/// standing for a space.
pub fn value(text: &str) -> Value {
    if let Ok(flag) = text.parse::<bool>() {
        return Value::from(flag);
    }
    let (digits, scale) = match text.strip_suffix('k') {
        Some(d) => (d, 1_000),
        None => text.strip_suffix('M').map_or((text, 1), |d| (d, 1_000_000)),
    };
    if let Ok(n) = digits.parse::<u64>() {
        return Value::from(n * scale);
    }
    match text.parse::<f64>() {
        Ok(x) if scale == 1 => Value::from(x),
        _ => Value::from(text.replace('+', " ")),
    }
}

fn filter_list(text: &str) -> Result<Filter, String> {
    text.split(',')
        .map(|pair| {
            let (field, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not FIELD=VALUE"))?;
            Ok((field.to_string(), value(v)))
        })
        .collect()
}

fn goal(text: &str) -> Result<Goal, String> {
    let parse = |t: &str| t.parse::<f64>().map_err(|_| format!("bad goal `{text}`"));
    if let Some(t) = text.strip_prefix(">=") {
        Ok(Goal::AtLeast(parse(t)?))
    } else if let Some(t) = text.strip_prefix("<=") {
        Ok(Goal::AtMost(parse(t)?))
    } else {
        Err(format!("goal `{text}` must be >=X or <=X"))
    }
}

impl Query {
    /// Parses the words of a query.
    pub fn parse(text: &str) -> Result<Query, String> {
        let mut words = text.split_whitespace().peekable();
        let run = match words.peek() {
            Some(w) if w.starts_with('@') => words.next().unwrap_or("@")[1..].to_string(),
            _ => String::new(),
        };
        let mut next = |what: &str| {
            words
                .next()
                .ok_or_else(|| format!("`{text}`: missing {what}"))
        };
        let experiment = next("experiment")?.to_string();
        let source = if experiment == "machine" {
            Source::Machine(next("machine key")?.to_string())
        } else {
            let aggregate = match next("aggregate")? {
                "median" => Aggregate::Median(next("field")?.into()),
                "min" => Aggregate::Min(next("field")?.into()),
                "max" => Aggregate::Max(next("field")?.into()),
                "runs" => Aggregate::Runs,
                kind @ ("ratio" | "verdict") => {
                    let field = next("field")?.to_string();
                    let pair = next("A/B")?;
                    let (a, b) = pair
                        .split_once('/')
                        .ok_or_else(|| format!("`{pair}` is not A/B"))?;
                    let (a, b) = (filter_list(a)?, filter_list(b)?);
                    if kind == "ratio" {
                        Aggregate::Ratio(field, a, b)
                    } else {
                        Aggregate::Verdict(field, a, b, goal(next("goal")?)?)
                    }
                }
                "verdict-max" => {
                    let field = next("field")?.to_string();
                    let bound = next("goal")?;
                    let limit = bound
                        .strip_prefix('<')
                        .and_then(|t| t.parse().ok())
                        .ok_or_else(|| format!("verdict-max goal `{bound}` must be <X"))?;
                    Aggregate::VerdictMax(field, limit)
                }
                other => return Err(format!("unknown aggregate `{other}`")),
            };
            Source::Experiment(experiment, aggregate)
        };
        let filters = words
            .map(|word| {
                let (field, alternatives) = word
                    .split_once('=')
                    .ok_or_else(|| format!("`{word}` is not FIELD=VALUE"))?;
                Ok((
                    field.to_string(),
                    alternatives.split('|').map(value).collect(),
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(Query {
            run,
            source,
            filters,
        })
    }

    /// The figure for every combination of the filters' alternatives.
    pub fn evaluate(&self, runs: &Runs) -> Result<Vec<Figure>, String> {
        let run = runs
            .get(&self.run)
            .ok_or_else(|| format!("no results directory `{}`", self.run))?;
        match &self.source {
            Source::Machine(key) => Ok(vec![machine(&run.machine, key)]),
            Source::Experiment(experiment, aggregate) => {
                let records = run
                    .results
                    .get(experiment)
                    .ok_or_else(|| format!("no `{experiment}.jsonl` in results `{}`", self.run))?;
                Ok(combinations(&self.filters)
                    .iter()
                    .map(|filter| compute(records, aggregate, filter))
                    .collect())
            }
        }
    }
}

/// The first word of the value of the first `name: value` line of
/// `machine.txt` whose name starts with `key`.
fn machine(text: &str, key: &str) -> Figure {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .find_map(|(name, rest)| name.starts_with(key).then_some(rest))
        .and_then(|rest| rest.split_whitespace().next())
        .map_or(Figure::Missing, |word| {
            let word = word.trim_end_matches(',');
            // A commit is a word even when its hex digits read as a number
            // (`6e75902` parses as 6 × 10^75902).
            if key.starts_with("commit") {
                return Figure::Word(word.into());
            }
            word.parse().map_or_else(
                |_| Figure::Word(word.into()),
                |x| Figure::Number(x, "".into()),
            )
        })
}

fn combinations(filters: &[(String, Vec<Value>)]) -> Vec<Filter> {
    filters
        .iter()
        .fold(vec![Vec::new()], |done, (field, values)| {
            done.iter()
                .flat_map(|partial| {
                    values.iter().map(move |v| {
                        let mut next = partial.clone();
                        next.push((field.clone(), v.clone()));
                        next
                    })
                })
                .collect()
        })
}

fn borrowed(filter: &Filter) -> Vec<(&str, Value)> {
    filter
        .iter()
        .map(|(f, v)| (f.as_str(), v.clone()))
        .collect()
}

fn values(records: &[Record], filter: &Filter, field: &str) -> Vec<f64> {
    records
        .iter()
        .filter(|r| stats::is_valid(r))
        .filter(|r| filter.iter().all(|(f, v)| r.get(f) == Some(v)))
        .filter_map(|r| number(r, field))
        .collect()
}

fn ratios(records: &[Record], filter: &Filter, a: &Filter, b: &Filter, field: &str) -> Vec<f64> {
    let (mut with_a, mut with_b) = (borrowed(filter), borrowed(filter));
    with_a.extend(borrowed(a));
    with_b.extend(borrowed(b));
    stats::paired_ratios(records, &with_a, &with_b, field)
}

fn compute(records: &[Record], aggregate: &Aggregate, filter: &Filter) -> Figure {
    let numeric = |found: Option<f64>, unit: &str| {
        found.map_or(Figure::Missing, |x| Figure::Number(x, unit.to_string()))
    };
    match aggregate {
        Aggregate::Median(field) => numeric(
            summarize(&values(records, filter, field)).map(|s| s.median),
            field,
        ),
        Aggregate::Min(field) => numeric(
            summarize(&values(records, filter, field)).map(|s| s.min),
            field,
        ),
        Aggregate::Max(field) => numeric(
            summarize(&values(records, filter, field)).map(|s| s.max),
            field,
        ),
        Aggregate::Runs => {
            let count = records
                .iter()
                .filter(|r| stats::is_valid(r))
                .filter(|r| filter.iter().all(|(f, v)| r.get(f) == Some(v)))
                .count();
            numeric((count > 0).then_some(count as f64), "")
        }
        Aggregate::Ratio(field, a, b) => numeric(
            summarize(&ratios(records, filter, a, b, field)).map(|s| s.median),
            "",
        ),
        Aggregate::Verdict(field, a, b, goal) => {
            let found = ratios(records, filter, a, b, field);
            Figure::Word(word(paired_verdict(&found, field, *goal)))
        }
        Aggregate::VerdictMax(field, limit) => match summarize(&values(records, filter, field)) {
            None => Figure::Missing,
            Some(s) if s.max < *limit => Figure::Word("met".into()),
            Some(_) => Figure::Word("missed".into()),
        },
    }
}

fn word(verdict: Verdict) -> String {
    verdict.word().trim_matches('*').to_string()
}

/// A target's verdict on paired ratios. With [`stats::MIN_PAIRS`] pairs or
/// more, the report's rule: the bootstrap 95 % interval of the median must
/// lie wholly on one side of the target. With fewer (the 3-run campaigns),
/// no interval can be computed, and the weaker reading of a sign test
/// applies: met or missed when every pair lies on the same side of the
/// target, undecided otherwise.
pub fn paired_verdict(ratios: &[f64], field: &str, goal: Goal) -> Verdict {
    if ratios.is_empty() {
        return Verdict::NoData;
    }
    if ratios.len() >= stats::MIN_PAIRS {
        let seed = ratios.len() as u64 ^ field.len() as u64;
        return stats::verdict(stats::bootstrap_median(ratios, seed), goal);
    }
    let good = |r: f64| match goal {
        Goal::AtLeast(target) => r >= target,
        Goal::AtMost(target) => r <= target,
    };
    if ratios.iter().all(|&r| good(r)) {
        Verdict::Met
    } else if ratios.iter().all(|&r| !good(r)) {
        Verdict::Missed
    } else {
        Verdict::Undecided
    }
}
