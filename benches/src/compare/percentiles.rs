//! Latency distributions: an HDR histogram while measuring, percentiles in the results.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Percentiles of a latency distribution, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
}

impl Percentiles {
    /// Whether the percentiles are in order (p50 ≤ p95 ≤ p99 ≤ p99.9 ≤ max) and positive.
    pub fn ordered(&self) -> bool {
        0.0 < self.p50_us
            && self.p50_us <= self.p95_us
            && self.p95_us <= self.p99_us
            && self.p99_us <= self.p999_us
            && self.p999_us <= self.max_us
    }
}

/// Records latencies in nanoseconds, from 1 ns to 100 s with 3 significant digits (a
/// 0.1% bucket error; larger values are clamped to 100 s).
#[derive(Debug, Clone)]
pub(crate) struct Recorder(Histogram<u64>);

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder(Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("constant, valid histogram bounds"))
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        self.0.saturating_record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX).max(1));
    }

    /// Adds `other`'s samples (same bounds, so it cannot fail).
    pub(crate) fn merge(&mut self, other: &Recorder) {
        self.0.add(&other.0).expect("recorders share their bounds");
    }

    pub(crate) fn count(&self) -> u64 {
        self.0.len()
    }

    /// The percentiles; `None` without samples.
    pub(crate) fn percentiles(&self) -> Option<Percentiles> {
        if self.0.is_empty() {
            return None;
        }
        let us = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Some(Percentiles {
            count: self.0.len(),
            p50_us: us(0.5),
            p95_us: us(0.95),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: self.0.max() as f64 / 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for us in 1..=500 {
            a.record(Duration::from_micros(us));
        }
        for us in 501..=1000 {
            b.record(Duration::from_micros(us));
        }
        a.merge(&b);
        let p = a.percentiles().expect("samples");
        assert_eq!(p.count, 1000);
        assert!((p.p50_us - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99_us - 990.0).abs() < 1.0, "{p:?}");
        assert!(p.ordered());
        assert!(Recorder::new().percentiles().is_none());
    }
}
