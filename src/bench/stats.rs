//! The statistics of repeated runs: paired ratios between two engines, a
//! bootstrap confidence interval of their median, and a target's verdict.
//!
//! Runs are paired by configuration and `seed`: `benches/experiments.sh`
//! gives run `i` of every engine the same seed, so the pair saw the same
//! command stream and (runs being interleaved in a random order) a similar
//! state of the machine. The ratio of each pair cancels what the pair
//! shared; the bootstrap (resampling the pairs with replacement) says how
//! far the median of those ratios could move with other runs. A verdict
//! is "met" or "missed" only when the whole 95 % interval lies on one side
//! of the target, "undecided" when it straddles it.

use super::results::{number, Record};
use super::workload::Rng;
use serde_json::Value;

/// Bootstrap resamples drawn for an interval.
pub const RESAMPLES: usize = 10_000;

/// Fewer pairs than this decide nothing: a bootstrap of two or three
/// values collapses onto them and would claim a certainty it lacks.
pub const MIN_PAIRS: usize = 5;

/// A median and its bootstrap 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The median of the values.
    pub median: f64,
    /// The 2.5th percentile of the resampled medians.
    pub low: f64,
    /// The 97.5th percentile of the resampled medians.
    pub high: f64,
    /// How many values (pairs) it rests on.
    pub count: usize,
}

/// A target checked against an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The whole interval is on the target's good side.
    Met,
    /// The whole interval is on its bad side.
    Missed,
    /// The interval straddles the target, or rests on fewer than
    /// [`MIN_PAIRS`] pairs.
    Undecided,
    /// No pair was measured.
    NoData,
}

impl Verdict {
    /// The word the report prints.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "**missed**",
            Verdict::Undecided => "undecided",
            Verdict::NoData => "no data",
        }
    }
}

/// Which side of a target is good.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The measured value should be at least the target.
    AtLeast(f64),
    /// The measured value should be at most the target.
    AtMost(f64),
}

/// The verdict of `goal` on `interval`.
pub fn verdict(interval: Option<Interval>, goal: Goal) -> Verdict {
    let Some(i) = interval else {
        return Verdict::NoData;
    };
    if i.count < MIN_PAIRS {
        return Verdict::Undecided;
    }
    let (good_all, bad_all) = match goal {
        Goal::AtLeast(target) => (i.low >= target, i.high < target),
        Goal::AtMost(target) => (i.high <= target, i.low > target),
    };
    if good_all {
        Verdict::Met
    } else if bad_all {
        Verdict::Missed
    } else {
        Verdict::Undecided
    }
}

/// The median of `values` (mean of the middle two for an even count).
fn median_of(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// The median of `values` with a percentile-bootstrap 95 % interval
/// (`RESAMPLES` resamples from a generator seeded with `seed`, so a report
/// is reproducible); `None` for no finite value.
pub fn bootstrap_median(values: &[f64], seed: u64) -> Option<Interval> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mut rng = Rng::new(seed, 0);
    let mut resample = vec![0.0; sorted.len()];
    let mut medians: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            for slot in resample.iter_mut() {
                *slot = sorted[rng.below(sorted.len())];
            }
            resample.sort_by(f64::total_cmp);
            median_of(&resample)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    let at = |q: f64| medians[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    Some(Interval {
        median: median_of(&sorted),
        low: at(0.025),
        high: at(0.975),
        count: sorted.len(),
    })
}

/// Whether a run measured what it claims. A notification run in which the
/// server ended a subscriber's session (its ring filled) delivered fewer
/// notifications than its writes made, so its figures describe a different
/// experiment: it is dropped from tables and counted instead.
pub fn is_valid(record: &Record) -> bool {
    number(record, "notify_sessions_ended").map_or(true, |ended| ended == 0.0)
}

/// The ratios `field(a) / field(b)` of the valid runs matching filter
/// `a` and those matching filter `b` that share a seed, one per pair, in
/// seed order (a filter is a list of field values, `store` among them).
pub fn paired_ratios(
    records: &[Record],
    a: &[(&str, Value)],
    b: &[(&str, Value)],
    field: &str,
) -> Vec<f64> {
    let matching = |filter: &[(&str, Value)]| -> Vec<(u64, f64)> {
        let mut runs: Vec<(u64, f64)> = records
            .iter()
            .filter(|r| is_valid(r))
            .filter(|r| filter.iter().all(|(f, v)| r.get(*f) == Some(v)))
            .filter_map(|r| Some((r.get("seed")?.as_u64()?, number(r, field)?)))
            .collect();
        runs.sort_by_key(|run| run.0);
        runs
    };
    let (a_runs, b_runs) = (matching(a), matching(b));
    a_runs
        .iter()
        .filter_map(|&(seed, x)| {
            let &(_, y) = b_runs.iter().find(|run| run.0 == seed)?;
            (y > 0.0).then(|| x / y)
        })
        .collect()
}

/// `filter` with `store` set to `engine`.
pub fn with_store<'a>(engine: &str, filter: &[(&'a str, Value)]) -> Vec<(&'a str, Value)> {
    let mut all = vec![("store", Value::from(engine))];
    all.extend(filter.iter().cloned());
    all
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::bench::results::parse_jsonl;

    #[test]
    fn the_interval_brackets_the_median_and_narrows_with_agreement() {
        let spread = [0.8, 0.9, 1.0, 1.1, 1.2, 0.85, 0.95, 1.05, 1.15, 1.0];
        let wide = bootstrap_median(&spread, 1).unwrap();
        assert!(wide.low <= wide.median && wide.median <= wide.high);
        assert!(wide.low < 1.0 && wide.high > 1.0, "{wide:?}");
        let tight = bootstrap_median(&[1.5; 10], 1).unwrap();
        assert_eq!((tight.low, tight.median, tight.high), (1.5, 1.5, 1.5));
        assert_eq!(bootstrap_median(&[], 1), None);
        // Reproducible from its seed.
        assert_eq!(bootstrap_median(&spread, 1), Some(wide));
    }

    #[test]
    fn verdicts_need_the_whole_interval_on_one_side() {
        let at = |low, high| {
            Some(Interval {
                median: (low + high) / 2.0,
                low,
                high,
                count: 10,
            })
        };
        assert_eq!(verdict(at(1.1, 1.3), Goal::AtLeast(1.0)), Verdict::Met);
        assert_eq!(verdict(at(0.7, 0.9), Goal::AtLeast(1.0)), Verdict::Missed);
        assert_eq!(
            verdict(at(0.9, 1.1), Goal::AtLeast(1.0)),
            Verdict::Undecided
        );
        assert_eq!(verdict(at(1.5, 1.9), Goal::AtMost(2.0)), Verdict::Met);
        assert_eq!(verdict(at(2.1, 3.0), Goal::AtMost(2.0)), Verdict::Missed);
        assert_eq!(verdict(None, Goal::AtMost(2.0)), Verdict::NoData);
        let few = at(1.1, 1.3).map(|i| Interval { count: 3, ..i });
        assert_eq!(verdict(few, Goal::AtLeast(1.0)), Verdict::Undecided);
    }

    #[test]
    fn runs_pair_by_seed_and_ended_sessions_are_dropped() {
        let records = parse_jsonl(
            r#"{"store":"lockfree","seed":1,"keys":10,"ops":200}
{"store":"mutex","seed":1,"keys":10,"ops":100}
{"store":"lockfree","seed":2,"keys":10,"ops":300}
{"store":"mutex","seed":2,"keys":10,"ops":100,"notify_sessions_ended":1}
{"store":"mutex","seed":3,"keys":10,"ops":100}
{"store":"lockfree","seed":1,"keys":20,"ops":50}"#,
        )
        .unwrap();
        let filter = [("keys", Value::from(10))];
        let (a, b) = (
            with_store("lockfree", &filter),
            with_store("mutex", &filter),
        );
        assert_eq!(paired_ratios(&records, &a, &b, "ops"), [2.0]);
    }
}
