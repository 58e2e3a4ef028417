//! A latency histogram cheap enough for every WAL sync and every log append: fixed bucket
//! bounds, one relaxed atomic add per bucket hit, no lock and no allocation. Read as a
//! snapshot (cumulative counts per upper bound, count, sum) by whoever exports metrics; this
//! crate knows no metrics library.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (a last, unbounded bucket follows): from 100 µs,
/// below which no fsync on real disks lands, to 2.5 s, beyond which the leader has lost
/// its lease anyway.
pub const BOUNDS_S: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Counts of durations by bucket.
#[derive(Debug, Default)]
pub struct Latency {
    /// Per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; BOUNDS_S.len() + 1],
    sum_nanos: AtomicU64,
}

/// A plain copy of a [`Latency`] at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySnapshot {
    /// (upper bound in seconds, how many took at most that long): cumulative, as Prometheus
    /// histograms are; the last bound is +∞.
    pub cumulative: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_s: f64,
}

impl Latency {
    pub fn record(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BOUNDS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BOUNDS_S.len());
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Each counter read atomically (not all at once: a record in flight may show in one
    /// bucket and not yet in the sum).
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut running = 0;
        let mut cumulative = Vec::with_capacity(self.buckets.len());
        for (i, bucket) in self.buckets.iter().enumerate() {
            running += bucket.load(Ordering::Relaxed);
            cumulative.push((BOUNDS_S.get(i).copied().unwrap_or(f64::INFINITY), running));
        }
        LatencySnapshot {
            cumulative,
            count: running,
            sum_s: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_their_buckets_cumulatively() {
        let l = Latency::default();
        l.record(Duration::from_micros(50));
        l.record(Duration::from_millis(3));
        l.record(Duration::from_secs(10));
        let s = l.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.cumulative.first(), Some(&(0.000_1, 1)));
        let at_5ms = s.cumulative.iter().find(|(b, _)| *b == 0.005).unwrap();
        assert_eq!(at_5ms.1, 2);
        assert_eq!(s.cumulative.last(), Some(&(f64::INFINITY, 3)));
        assert!((s.sum_s - 10.003_05).abs() < 1e-9, "{}", s.sum_s);
    }
}
