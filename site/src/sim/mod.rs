//! [`SiteSim`]: all simulated sites of one process, and how calls reach them — simulated work,
//! unreachable sites, always-failing sites, seeded failures, the journal and the counters.
//! Cheap to clone (one `Arc`); a clone is the handle tests and the admin service use to read
//! stats, inject drift, change reachability and flush the journal while it serves.
//!
//! Sites live in a sharded map (many short std locks instead of one hot one); each site has
//! its own async lock, held across the journal slot reservation so per-site journal order is
//! the order the site processed calls (see `journal/writer.rs`).
//!
//! Files: this one ([`SiteSim`]), `dice` (seeded per-call decisions), `stats` (counters).

pub mod dice;
mod stats;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moor_proto::site::{ObservedResource, Outcome};
use tokio::sync::watch;

use self::dice::AttemptId;
use self::stats::Counters;
use crate::config::SimConfig;
use crate::errors::SimError;
use crate::hash::stable_hash;
use crate::journal::{
    Journal, JournalOp, JournalOutcome, JournalRecord, JournalSlot, JOURNAL_FORMAT_VERSION,
};
use crate::protocol::{Answer, Call, Change, Safety, SiteState};

pub use self::stats::SimStats;

/// Number of shards of the site map: enough that 2 cores rarely contend on one.
const SHARDS: usize = 64;

type SiteRef = Arc<tokio::sync::Mutex<SiteState>>;

/// One mutating call as received (after validation).
#[derive(Debug, Clone)]
pub struct MutateCall {
    pub site: String,
    pub environment: String,
    pub resource: String,
    pub execution_id: String,
    pub step: u32,
    pub attempt: u32,
    pub fence_token: u64,
    /// `Some((properties_json, desired_digest))` for an apply, `None` for a delete.
    pub apply: Option<(String, String)>,
}

impl MutateCall {
    /// What the dice decide this attempt's fate and latency by.
    fn attempt_id(&self) -> AttemptId<'_> {
        AttemptId {
            site: &self.site,
            execution_id: &self.execution_id,
            step: self.step,
            attempt: self.attempt,
        }
    }

    /// The call as the protocol rules see it.
    fn rules_call(&self) -> Call<'_> {
        let change = match &self.apply {
            Some((properties_json, desired_digest)) => Change::Apply {
                properties_json,
                desired_digest,
            },
            None => Change::Delete,
        };
        Call {
            environment: &self.environment,
            resource: &self.resource,
            execution_id: &self.execution_id,
            step: self.step,
            fence_token: self.fence_token,
            change,
        }
    }

    /// The journal line of this call, answered with `answer`.
    fn into_record(self, answer: &Answer, outcome: JournalOutcome) -> JournalRecord {
        JournalRecord {
            v: JOURNAL_FORMAT_VERSION,
            ts_ms: now_ms(),
            op: if self.apply.is_some() {
                JournalOp::Apply
            } else {
                JournalOp::Delete
            },
            outcome,
            highest_token: answer.highest_token,
            observed_digest: answer.observed_digest.clone(),
            error: answer.error.clone(),
            site: self.site,
            environment: self.environment,
            resource: self.resource,
            execution_id: self.execution_id,
            step: self.step,
            attempt: self.attempt,
            fence_token: self.fence_token,
        }
    }
}

struct Inner {
    config: SimConfig,
    safety: Safety,
    fail_sites: HashSet<String>,
    /// Reachability set at start (`--unreachable`) or changed by SetUnreachable; overrides
    /// `unreachable_fraction`.
    reachability: RwLock<HashMap<String, bool>>,
    shards: Vec<Mutex<HashMap<Box<str>, SiteRef>>>,
    journal: Option<Journal>,
    counters: Counters,
    /// Becomes true when the server stops, releasing held calls.
    stopping: watch::Sender<bool>,
}

/// All simulated sites of one process. See the module docs.
#[derive(Clone)]
pub struct SiteSim {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Shard maps are only ever changed by a single insert; a panic elsewhere cannot leave one
    // half-changed, so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Reserves a line in `journal`, if there is one. Called before the site changes: see
/// `journal/writer.rs` for why.
async fn reserve(journal: Option<&Journal>) -> Result<Option<JournalSlot<'_>>, SimError> {
    match journal {
        Some(journal) => Ok(Some(journal.reserve().await?)),
        None => Ok(None),
    }
}

impl SiteSim {
    /// Validates `config`, opens the journal (if any) and starts its writer.
    pub fn new(config: SimConfig) -> Result<SiteSim, SimError> {
        config.validate()?;
        let journal = match &config.journal {
            Some(path) => Some(Journal::open(path, config.journal_queue_capacity)?),
            None => None,
        };
        let safety = if config.unsafe_no_fencing_no_dedupe {
            tracing::warn!(
                "fencing and dedupe are OFF (--unsafe-no-fencing-no-dedupe): every call applies"
            );
            Safety::Unsafe
        } else {
            Safety::Enforced
        };
        let reachability = config
            .unreachable
            .iter()
            .map(|s| (s.clone(), false))
            .collect();
        Ok(SiteSim {
            inner: Arc::new(Inner {
                fail_sites: config.fail_sites.iter().cloned().collect(),
                reachability: RwLock::new(reachability),
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                journal,
                counters: Counters::default(),
                stopping: watch::channel(false).0,
                safety,
                config,
            }),
        })
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    fn shard(&self, site: &str) -> &Mutex<HashMap<Box<str>, SiteRef>> {
        let h = stable_hash(0, &[site.as_bytes()]) as usize;
        &self.inner.shards[h % SHARDS]
    }

    fn existing_site(&self, site: &str) -> Option<SiteRef> {
        lock(self.shard(site)).get(site).cloned()
    }

    fn site_or_create(&self, site: &str) -> Result<SiteRef, SimError> {
        let mut shard = lock(self.shard(site));
        if let Some(found) = shard.get(site) {
            return Ok(found.clone());
        }
        let counters = &self.inner.counters;
        // Counted under the shard lock; the cap is approximate across shards by at most
        // SHARDS - 1 sites, which is fine for a memory guard.
        if counters.sites.load(Ordering::Relaxed) >= self.inner.config.max_sites as u64 {
            return Err(SimError::TooManySites {
                max_sites: self.inner.config.max_sites,
            });
        }
        counters.sites.fetch_add(1, Ordering::Relaxed);
        let created = SiteRef::default();
        shard.insert(site.into(), created.clone());
        Ok(created)
    }

    /// Whether calls to `site` are held until their deadline.
    pub fn is_unreachable(&self, site: &str) -> bool {
        let set = self
            .inner
            .reachability
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(site)
            .copied();
        match set {
            Some(reachable) => !reachable,
            None => dice::site_unreachable(
                self.inner.config.seed,
                self.inner.config.unreachable_fraction,
                site,
            ),
        }
    }

    /// Makes `site` unreachable or reachable again; returns whether it was unreachable.
    pub fn set_unreachable(&self, site: &str, unreachable: bool) -> bool {
        let was = self.is_unreachable(site);
        self.inner
            .reachability
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(site.to_string(), !unreachable);
        was
    }

    /// Holds a call to an unreachable site: never answers. The caller's deadline ends the call
    /// (tonic drops this future); without one, the hold ends after `unreachable_hold_max_ms`
    /// or when the server stops.
    async fn hold(&self, site: &str) -> SimError {
        struct Held<'a>(&'a AtomicU64);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let counters = &self.inner.counters;
        counters.held_total.fetch_add(1, Ordering::Relaxed);
        counters.held_now.fetch_add(1, Ordering::Relaxed);
        let _held = Held(&counters.held_now);
        let mut stopping = self.inner.stopping.subscribe();
        let max = Duration::from_millis(self.inner.config.unreachable_hold_max_ms);
        tokio::select! {
            _ = tokio::time::sleep(max) => SimError::Unreachable { site: site.to_string() },
            _ = stopping.wait_for(|s| *s) => SimError::ShuttingDown,
        }
    }

    /// Answers one apply or delete, journaling it.
    pub async fn mutate(&self, call: MutateCall) -> Result<Answer, SimError> {
        if self.is_unreachable(&call.site) {
            return Err(self.hold(&call.site).await);
        }
        self.simulate_work(call.attempt_id()).await;
        let failure = self.failure(&call);

        let site_ref = self.site_or_create(&call.site)?;
        let mut site = site_ref.lock().await;
        // Every await is above this line: from here to the end the call runs to completion,
        // so a cancelled call changes nothing and an answered one is always journaled.
        let slot = reserve(self.inner.journal.as_ref()).await?;
        let answer = site.mutate(&call.rules_call(), failure, self.inner.safety);
        let outcome = self.count(answer.outcome);
        if let Some(slot) = slot {
            slot.send(call.into_record(&answer, outcome));
        }
        drop(site);
        Ok(answer)
    }

    /// Sleeps for a call's simulated work: `latency_ms ± latency_jitter_ms`, seeded.
    async fn simulate_work(&self, id: AttemptId<'_>) {
        let config = &self.inner.config;
        let work = dice::latency(config.seed, config.latency_ms, config.latency_jitter_ms, id);
        if !work.is_zero() {
            tokio::time::sleep(work).await;
        }
    }

    /// Whether this attempt is to fail, and the error it then reports (rule 3).
    fn failure(&self, call: &MutateCall) -> Option<String> {
        let config = &self.inner.config;
        if self.inner.fail_sites.contains(&call.site) {
            Some(format!(
                "site {} always fails (moor-sitesim --fail-sites)",
                call.site
            ))
        } else if dice::attempt_fails(config.seed, config.failure_rate, call.attempt_id()) {
            Some(format!(
                "simulated failure of attempt {} (moor-sitesim --failure-rate {} --seed {})",
                call.attempt, config.failure_rate, config.seed
            ))
        } else {
            None
        }
    }

    /// Counts an answer; returns how the journal records it.
    fn count(&self, outcome: Outcome) -> JournalOutcome {
        let counters = &self.inner.counters;
        let (counter, recorded) = match outcome {
            Outcome::Applied => (&counters.applied, JournalOutcome::Applied),
            Outcome::Duplicate => (&counters.duplicate, JournalOutcome::Duplicate),
            Outcome::Fenced => (&counters.fenced, JournalOutcome::Fenced),
            Outcome::Failed => (&counters.failed, JournalOutcome::Failed),
            Outcome::Unspecified => unreachable!("SiteState::mutate always decides an outcome"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        recorded
    }

    /// The resources of `environment` at `site` (only `resource` when not empty). A site never
    /// written to has none; observing does not create it.
    pub async fn observe(
        &self,
        site: &str,
        environment: &str,
        resource: &str,
    ) -> Result<Vec<ObservedResource>, SimError> {
        if self.is_unreachable(site) {
            return Err(self.hold(site).await);
        }
        self.simulate_work(AttemptId {
            site,
            execution_id: environment,
            step: 0,
            attempt: 0,
        })
        .await;
        self.inner.counters.observed.fetch_add(1, Ordering::Relaxed);
        let Some(site_ref) = self.existing_site(site) else {
            return Ok(Vec::new());
        };
        let state = site_ref.lock().await;
        let journal = self
            .inner
            .journal
            .as_ref()
            .filter(|_| self.inner.config.journal_observe);
        let slot = reserve(journal).await?;
        let found = state.observe(environment, resource);
        if let Some(slot) = slot {
            slot.send(self.admin_record(
                site,
                environment,
                resource,
                JournalOp::Observe,
                JournalOutcome::Observed,
                state.highest_token(),
                String::new(),
            ));
        }
        Ok(found)
    }

    /// Changes a stored resource out of band; returns the digest Observe now reports.
    pub async fn inject_drift(
        &self,
        site: &str,
        environment: &str,
        resource: &str,
    ) -> Result<String, SimError> {
        let not_found = || SimError::ResourceNotFound {
            site: site.to_string(),
            environment: environment.to_string(),
            resource: resource.to_string(),
        };
        let site_ref = self.existing_site(site).ok_or_else(not_found)?;
        let mut state = site_ref.lock().await;
        let slot = reserve(self.inner.journal.as_ref()).await?;
        let digest = state.drift(environment, resource).ok_or_else(not_found)?;
        self.inner
            .counters
            .drift_injected
            .fetch_add(1, Ordering::Relaxed);
        if let Some(slot) = slot {
            slot.send(self.admin_record(
                site,
                environment,
                resource,
                JournalOp::Drift,
                JournalOutcome::Drifted,
                state.highest_token(),
                digest.clone(),
            ));
        }
        Ok(digest)
    }

    #[allow(clippy::too_many_arguments)]
    fn admin_record(
        &self,
        site: &str,
        environment: &str,
        resource: &str,
        op: JournalOp,
        outcome: JournalOutcome,
        highest_token: u64,
        observed_digest: String,
    ) -> JournalRecord {
        JournalRecord {
            v: JOURNAL_FORMAT_VERSION,
            ts_ms: now_ms(),
            site: site.to_string(),
            environment: environment.to_string(),
            resource: resource.to_string(),
            execution_id: String::new(),
            step: 0,
            attempt: 0,
            fence_token: 0,
            op,
            outcome,
            highest_token,
            observed_digest,
            error: String::new(),
        }
    }

    /// Writes and flushes every journal line of every call answered before this one. Returns
    /// `None` when there is no journal, else the lines written so far.
    pub async fn flush_journal(&self) -> Result<Option<u64>, SimError> {
        match &self.inner.journal {
            Some(journal) => Ok(Some(journal.flush().await?)),
            None => Ok(None),
        }
    }

    /// Counts a call that carried a well-formed `traceparent`.
    pub fn count_traced(&self) {
        self.inner
            .counters
            .traced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The counters right now.
    pub fn stats(&self) -> SimStats {
        self.inner.counters.snapshot(self.inner.journal.as_ref())
    }

    /// Releases every held call (the server is stopping).
    pub(crate) fn release_held_calls(&self) {
        self.inner.stopping.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(site: &str, step: u32) -> MutateCall {
        MutateCall {
            site: site.into(),
            environment: "env".into(),
            resource: "web".into(),
            execution_id: "exec".into(),
            step,
            attempt: 1,
            fence_token: 1,
            apply: Some(("{}".into(), "d".into())),
        }
    }

    /// Prints (never asserts) the memory 100,000 sites take, as a guard against per-site
    /// bloat that a reader can check in the test output.
    #[tokio::test]
    async fn a_hundred_thousand_sites_fit() {
        fn rss_kib() -> Option<u64> {
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        }
        let sim = SiteSim::new(SimConfig::default()).expect("sim");
        let before = rss_kib();
        for i in 0..100_000 {
            let answer = sim
                .mutate(call(&format!("site-{i:06}"), 1))
                .await
                .expect("answer");
            assert_eq!(answer.outcome, Outcome::Applied);
        }
        assert_eq!(sim.stats().sites, 100_000);
        if let (Some(b), Some(a)) = (before, rss_kib()) {
            println!(
                "100000 sites with one resource each: RSS grew {} MiB",
                a.saturating_sub(b) / 1024
            );
        }
    }

    #[tokio::test]
    async fn the_site_cap_is_enforced() {
        let sim = SiteSim::new(SimConfig {
            max_sites: 2,
            ..SimConfig::default()
        })
        .expect("sim");
        sim.mutate(call("a", 1)).await.expect("first site");
        sim.mutate(call("b", 1)).await.expect("second site");
        sim.mutate(call("a", 2)).await.expect("existing site");
        let err = sim.mutate(call("c", 1)).await.expect_err("third site");
        assert!(matches!(err, SimError::TooManySites { max_sites: 2 }));
    }
}
