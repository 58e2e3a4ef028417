//! [`Rate`]: how fast a rollout's targets finish, and when the rest will be done.

use std::collections::VecDeque;

use tokio::time::Instant;

/// Finished-target samples the rate is computed over (one per poll: the last ~15 s).
const RATE_WINDOW: usize = 30;

/// Finished targets per second over the last samples, and the time to finish the rest.
#[derive(Default)]
pub struct Rate {
    samples: VecDeque<(Instant, u32)>,
}

impl Rate {
    /// Records that `finished` targets had finished at `at`.
    pub fn add(&mut self, at: Instant, finished: u32) {
        self.samples.push_back((at, finished));
        while self.samples.len() > RATE_WINDOW {
            self.samples.pop_front();
        }
    }

    fn per_s(&self) -> Option<f64> {
        let (t0, n0) = *self.samples.front()?;
        let (t1, n1) = *self.samples.back()?;
        let dt = (t1 - t0).as_secs_f64();
        (dt >= 1.0).then(|| (n1.saturating_sub(n0)) as f64 / dt)
    }

    /// `10.0/s, ETA 12s` for `left` targets still to finish.
    pub fn line(&self, left: u32) -> String {
        match self.per_s() {
            Some(r) if r > 0.0 => {
                let eta = left as f64 / r;
                format!("{r:.1}/s, ETA {}", short_duration(eta))
            }
            Some(_) => "0/s".into(),
            None => "rate …".into(),
        }
    }
}

fn short_duration(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rate_and_eta() {
        let mut r = Rate::default();
        let t = Instant::now();
        assert_eq!(r.line(10), "rate …");
        r.add(t, 0);
        r.add(t + Duration::from_secs(2), 20);
        assert_eq!(r.per_s(), Some(10.0));
        assert_eq!(r.line(100), "10.0/s, ETA 10s");
        assert_eq!(short_duration(3725.0), "1h02m");
        assert_eq!(short_duration(61.0), "1m01s");
    }
}
