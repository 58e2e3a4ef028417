//! Made-up sites for tests, `examples/map_bench.rs`, and trying the page without a cluster.
//!
//! Deterministic for a seed (a small xorshift generator, so no `rand` dependency). Sites
//! cluster around 60 made-up cities, as real fleets cluster around population, with a tenth
//! scattered anywhere; regions follow longitude, and statuses are mostly in sync with a
//! few of each of the others.

use std::collections::BTreeMap;

use crate::site::SiteDot;
use crate::status::Status;

/// `n` sites named `site-000000`, `site-000001`, … from `seed`.
pub fn synthetic_sites(n: usize, seed: u64) -> Vec<SiteDot> {
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let cities: Vec<(f64, f64)> = (0..60)
        .map(|_| (rng.range(-45.0, 62.0), rng.range(-125.0, 150.0)))
        .collect();
    (0..n)
        .map(|i| {
            let (lat, lon) = if rng.next_f64() < 0.1 {
                (rng.range(-60.0, 75.0), rng.range(-180.0, 180.0))
            } else {
                // Skewed towards the first cities: a few big ones, many small ones.
                let c = cities[((rng.next_f64().powi(2)) * cities.len() as f64) as usize];
                let spread = 2.5;
                let dlat = (rng.next_f64() + rng.next_f64() - 1.0) * spread;
                let dlon = (rng.next_f64() + rng.next_f64() - 1.0) * spread;
                (
                    (c.0 + dlat).clamp(-90.0, 90.0),
                    (c.1 + dlon).clamp(-180.0, 180.0),
                )
            };
            let region = match lon {
                l if l < -100.0 => "us-west",
                l if l < -60.0 => "us-east",
                l if l < -30.0 => "sa-east",
                l if l < 10.0 => "eu-west",
                l if l < 40.0 => "eu-central",
                l if l < 90.0 => "ap-south",
                _ => "ap-east",
            };
            let status = match rng.next_f64() {
                p if p < 0.02 => Status::Unreachable,
                p if p < 0.05 => Status::Failed,
                p if p < 0.11 => Status::Drifted,
                p if p < 0.17 => Status::Running,
                p if p < 0.20 => Status::Empty,
                _ => Status::InSync,
            };
            let tier = ["gold", "silver", "bronze"][i % 3];
            let stage = if i % 10 == 0 { "staging" } else { "prod" };
            SiteDot {
                name: format!("site-{i:06}"),
                region: region.to_string(),
                lat: (lat * 1e4).round() / 1e4,
                lon: (lon * 1e4).round() / 1e4,
                labels: BTreeMap::from([
                    ("tier".to_string(), tier.to_string()),
                    ("stage".to_string(), stage.to_string()),
                ]),
                status,
            }
        })
        .collect()
}

struct XorShift(u64);

impl XorShift {
    fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + self.next_f64() * (hi - lo)
    }
}
