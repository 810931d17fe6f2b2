//! Latency recording: one HDR histogram per thread, merged at the end.
//!
//! Each thread owns its histograms, so recording is a few arithmetic
//! instructions with no shared cache line and no lock on the hot path; the
//! merge happens once, after the threads are joined.

use hdrhistogram::Histogram;
use std::time::Duration;

/// The largest latency recorded exactly (longer ones saturate): 60 s.
const HIGHEST_NS: u64 = 60_000_000_000;
/// Significant decimal digits kept (0.1% relative error).
const SIGFIGS: u8 = 3;

/// A latency distribution, in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty distribution.
    pub fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIGS)
                .expect("constant bounds are valid"),
        }
    }

    /// Records one latency (clamped to the histogram's range).
    #[inline]
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.record_nanos(nanos);
    }

    /// Records one latency given in nanoseconds.
    #[inline]
    pub fn record_nanos(&mut self, nanos: u64) {
        self.histogram.saturating_record(nanos.max(1));
    }

    /// A distribution holding the samples of `histogram` (one read back
    /// from a log, say); fails if it holds a value beyond this module's
    /// range.
    pub fn from_histogram(histogram: &Histogram<u64>) -> Result<Self, hdrhistogram::AdditionError> {
        let mut latencies = Self::new();
        latencies.histogram.add(histogram)?;
        Ok(latencies)
    }

    /// The underlying histogram (nanoseconds), for serialization.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so the addition cannot fail.
        self.histogram
            .add(&other.histogram)
            .expect("histograms share their bounds");
    }

    /// How many samples were recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency at quantile `q` (0 to 1), in microseconds; `None` when
    /// nothing was recorded.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        (!self.histogram.is_empty()).then(|| nanos_to_us(self.histogram.value_at_quantile(q)))
    }

    /// The largest latency, in microseconds; `None` when nothing was recorded.
    pub fn max_us(&self) -> Option<f64> {
        (!self.histogram.is_empty()).then(|| nanos_to_us(self.histogram.max()))
    }
}

fn nanos_to_us(nanos: u64) -> f64 {
    // Three decimals (nanosecond resolution) keep the JSON short.
    (nanos as f64 / 1000.0 * 1000.0).round() / 1000.0
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn merges_and_reports_quantiles() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        for us in 1..=50 {
            a.record(Duration::from_micros(us));
        }
        for us in 51..=100 {
            b.record(Duration::from_micros(us));
        }
        a.merge(&b);
        assert_eq!(a.count(), 100);
        let p50 = a.quantile_us(0.5).unwrap();
        assert!((49.9..=50.1).contains(&p50), "{p50}");
        let max = a.max_us().unwrap();
        assert!((99.9..=100.1).contains(&max), "{max}");
        assert_eq!(Latencies::new().quantile_us(0.5), None);
    }
}
