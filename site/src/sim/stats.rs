//! The counters of one sitesim: [`Counters`] (atomics bumped by call handlers without a lock)
//! and [`SimStats`] (a snapshot, for the admin Stats call, tests and the binary's last line).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::journal::Journal;

/// Counters of one sitesim, read with [`super::SiteSim::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    pub sites: u64,
    pub applied: u64,
    pub duplicate: u64,
    pub fenced: u64,
    pub failed: u64,
    pub observed: u64,
    pub held_now: u64,
    pub held_total: u64,
    pub drift_injected: u64,
    /// Calls that carried a W3C `traceparent` (a caller exporting traces sends one).
    pub traced: u64,
    pub journal_lines_written: u64,
    /// The first journal write error, if any.
    pub journal_error: Option<String>,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) sites: AtomicU64,
    pub(super) applied: AtomicU64,
    pub(super) duplicate: AtomicU64,
    pub(super) fenced: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) observed: AtomicU64,
    pub(super) held_now: AtomicU64,
    pub(super) held_total: AtomicU64,
    pub(super) drift_injected: AtomicU64,
    pub(super) traced: AtomicU64,
}

impl Counters {
    /// The counters right now, with the journal's.
    pub(super) fn snapshot(&self, journal: Option<&Journal>) -> SimStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimStats {
            sites: get(&self.sites),
            applied: get(&self.applied),
            duplicate: get(&self.duplicate),
            fenced: get(&self.fenced),
            failed: get(&self.failed),
            observed: get(&self.observed),
            held_now: get(&self.held_now),
            held_total: get(&self.held_total),
            drift_injected: get(&self.drift_injected),
            traced: get(&self.traced),
            journal_lines_written: journal.map_or(0, |j| j.lines_written()),
            journal_error: journal.and_then(|j| j.error()).map(|e| e.to_string()),
        }
    }
}
