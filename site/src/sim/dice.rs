//! Deterministic "randomness" for the simulated sites: every decision (does this attempt fail,
//! how long does it take, is this site unreachable) is a hash of the seed and what identifies
//! the call, never a draw from shared RNG state. So the answer to a call does not depend on
//! which calls happened to run before it, and a seeded run reproduces exactly, whatever the
//! interleaving.
//!
//! The hash is [`stable_hash`]: stable across Rust releases and platforms, and well spread.

use std::time::Duration;

use crate::hash::stable_hash;

/// A hash mapped uniformly onto [0, 1).
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// What identifies one attempt of one mutating call.
#[derive(Debug, Clone, Copy)]
pub struct AttemptId<'a> {
    pub site: &'a str,
    pub execution_id: &'a str,
    pub step: u32,
    pub attempt: u32,
}

impl AttemptId<'_> {
    fn hash(&self, seed: u64, purpose: &[u8]) -> u64 {
        stable_hash(
            seed,
            &[
                purpose,
                self.site.as_bytes(),
                self.execution_id.as_bytes(),
                &self.step.to_le_bytes(),
                &self.attempt.to_le_bytes(),
            ],
        )
    }
}

/// Whether this attempt fails, at `failure_rate` (0 never, 1 always).
pub fn attempt_fails(seed: u64, failure_rate: f64, id: AttemptId<'_>) -> bool {
    failure_rate > 0.0 && unit(id.hash(seed, b"fail")) < failure_rate
}

/// The simulated work of one call: uniform in `latency_ms ± jitter_ms`, at least zero.
pub fn latency(seed: u64, latency_ms: u64, jitter_ms: u64, id: AttemptId<'_>) -> Duration {
    if jitter_ms == 0 {
        return Duration::from_millis(latency_ms);
    }
    let span = 2 * jitter_ms + 1;
    let offset = id.hash(seed, b"latency") % span;
    let ms = (latency_ms + offset).saturating_sub(jitter_ms);
    Duration::from_millis(ms)
}

/// Whether a site is among the `fraction` of unreachable ones. Depends on the name only, so a
/// site stays unreachable (or reachable) for the whole run.
pub fn site_unreachable(seed: u64, fraction: f64, site: &str) -> bool {
    fraction > 0.0 && unit(stable_hash(seed, &[b"unreachable", site.as_bytes()])) < fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(attempt: u32) -> AttemptId<'static> {
        AttemptId {
            site: "s1",
            execution_id: "e1",
            step: 3,
            attempt,
        }
    }

    #[test]
    fn decisions_are_deterministic() {
        for a in 0..50 {
            assert_eq!(attempt_fails(9, 0.5, id(a)), attempt_fails(9, 0.5, id(a)));
        }
    }

    #[test]
    fn rates_are_roughly_honoured() {
        let fails = (0..10_000)
            .filter(|a| attempt_fails(3, 0.3, id(*a)))
            .count();
        assert!(
            (2_500..3_500).contains(&fails),
            "{fails} of 10000 failed at rate 0.3"
        );
        assert!(!(0..1000).any(|a| attempt_fails(3, 0.0, id(a))));
        assert!((0..1000).all(|a| attempt_fails(3, 1.0, id(a))));
        let dark = (0..10_000)
            .filter(|i| site_unreachable(3, 0.1, &format!("site-{i}")))
            .count();
        assert!(
            (700..1_300).contains(&dark),
            "{dark} of 10000 unreachable at 0.1"
        );
    }

    #[test]
    fn latency_stays_in_its_band() {
        for a in 0..1000 {
            let d = latency(5, 10, 4, id(a)).as_millis();
            assert!((6..=14).contains(&d), "{d} ms outside 10 ± 4");
            assert!(latency(5, 2, 4, id(a)).as_millis() <= 6);
        }
        assert_eq!(latency(5, 10, 0, id(1)), Duration::from_millis(10));
    }
}
