//! The schedule of reachability probes (see [`crate::exec::drift`]): when each site that no
//! call covers is next probed, kept in time order, so a tick takes the due sites from the
//! front instead of looking at every site.
//!
//! The schedule is matched against all sites only every [`RECONCILE_EVERY_MS`]: sites added
//! since are scheduled then (their first probe spread over the interval, as before), and
//! sites deleted or covered meanwhile are dropped then or when they come due, whichever is
//! first. A site is never probed while covered: coverage is checked again when it is due.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use moor_domain::site::Site;

use crate::exec::drift::spread;

/// How often the schedule is matched against every site.
pub const RECONCILE_EVERY_MS: u64 = 5_000;

/// When each uncovered site is next probed.
#[derive(Default)]
pub struct ProbeSchedule {
    at: HashMap<String, u64>,
    queue: BTreeSet<(u64, String)>,
    /// When the schedule was last matched against every site; None: never.
    reconciled_ms: Option<u64>,
    /// Sites looked at by reconciling, in all (what a tick costs is what this counts; read
    /// by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    visited: u64,
}

impl ProbeSchedule {
    /// The sites whose probe is due at `now`, at most `most` of them, each scheduled again
    /// `interval_ms` later. `covered`: sites some call reaches without a
    /// probe. Interval 0: no probes, and the schedule is emptied.
    pub fn due(
        &mut self,
        sites: &BTreeMap<String, Site>,
        covered: &HashSet<&str>,
        now: u64,
        interval_ms: u64,
        most: usize,
    ) -> Vec<Site> {
        if interval_ms == 0 {
            *self = ProbeSchedule {
                visited: self.visited,
                ..ProbeSchedule::default()
            };
            return Vec::new();
        }
        if self
            .reconciled_ms
            .is_none_or(|at| now >= at.saturating_add(RECONCILE_EVERY_MS))
        {
            self.reconcile(sites, covered, now, interval_ms);
        }
        let mut due = Vec::new();
        while due.len() < most {
            match self.queue.first() {
                Some((at, _)) if *at <= now => {}
                _ => break,
            }
            let Some((_, name)) = self.queue.pop_first() else {
                break;
            };
            match sites.get(&name) {
                Some(site) if !covered.contains(name.as_str()) => {
                    let next = now.saturating_add(interval_ms);
                    self.at.insert(name.clone(), next);
                    self.queue.insert((next, name));
                    due.push(site.clone());
                }
                // Deleted, or covered now: out until a reconcile finds it uncovered.
                _ => {
                    self.at.remove(&name);
                }
            }
        }
        due
    }

    /// Schedules sites not yet scheduled (first probe spread over the interval) and drops
    /// sites covered or deleted.
    fn reconcile(
        &mut self,
        sites: &BTreeMap<String, Site>,
        covered: &HashSet<&str>,
        now: u64,
        interval_ms: u64,
    ) {
        self.reconciled_ms = Some(now);
        for name in sites.keys() {
            self.visited += 1;
            if covered.contains(name.as_str()) {
                self.remove(name);
            } else if !self.at.contains_key(name) {
                let first = now.saturating_add(spread(name, interval_ms));
                self.at.insert(name.clone(), first);
                self.queue.insert((first, name.clone()));
            }
        }
        if self.at.len() > sites.len() {
            let gone: Vec<String> = self
                .at
                .keys()
                .filter(|name| !sites.contains_key(*name))
                .cloned()
                .collect();
            for name in gone {
                self.remove(&name);
            }
        }
    }

    fn remove(&mut self, name: &str) {
        if let Some(at) = self.at.remove(name) {
            self.queue.remove(&(at, name.to_string()));
        }
    }

    /// Whether `name` is scheduled.
    #[cfg(test)]
    fn holds(&self, name: &str) -> bool {
        self.at.contains_key(name)
    }

    /// How many sites are scheduled.
    #[cfg(test)]
    fn len(&self) -> usize {
        debug_assert_eq!(self.at.len(), self.queue.len());
        self.at.len()
    }
}

#[cfg(test)]
#[path = "tests/probes.rs"]
mod tests;
