//! Deliveries per minute per receiver, counted by this member in fixed one-minute windows:
//! a flood at one receiver is answered 429 before its bodies are read or its signatures
//! computed, and cannot crowd out the others. Per member, so the cluster accepts up to
//! members × the limit; the limit protects each member's work, not a global budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Receivers tracked before old windows are swept.
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub struct Limiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Limiter {
    /// Counts one delivery to `receiver`; Err(seconds to wait) past `per_minute`.
    pub fn admit(&self, receiver: &str, per_minute: u32) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.windows.lock().expect("rate limiter poisoned");
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = map.entry(receiver.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= per_minute {
            let wait = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(wait.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_receiver_has_its_own_budget() {
        let l = Limiter::default();
        for _ in 0..3 {
            assert!(l.admit("a", 3).is_ok());
        }
        let wait = l.admit("a", 3).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.admit("b", 3).is_ok());
    }
}
