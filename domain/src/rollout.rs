//! Groups and rollouts: one change over many environments (or sites), in waves, with a
//! parallelism cap and a failure budget.
//!
//! A rollout is part of the replicated state and is scheduled *inside* `apply`: when a child
//! execution ends, the same log entry that records its last step starts the next queued
//! target. So the cap is refilled without an extra Raft entry, a new leader continues with
//! exactly the same waves, counts and budget (they are state, not executor memory), and no
//! target is ever started twice. This module holds the data and the pure bookkeeping; the
//! transitions that create executions live in `rollout_apply.rs`.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use moor_proto::names::WireName;
pub use moor_proto::names::{GroupKind, RolloutActionKind, RolloutState, TargetState};

use crate::drift::DriftPolicy;
use crate::execution::{ExecState, RetryPolicy};
use crate::site::Labels;

/// Most distinct error texts a rollout keeps counts for; later ones count as "other".
pub const MAX_FAILURE_KINDS: usize = 50;
/// Error texts are cut to this many bytes before grouping.
const MAX_ERROR_BYTES: usize = 300;
/// Most targets one rollout may have.
pub const MAX_TARGETS: usize = 1_000_000;
/// Default for the cap over all rollouts together.
pub const DEFAULT_MAX_PARALLEL_TOTAL: u32 = 10_000;

/// Which sites or environments a group holds: all labels must match, and, when names are
/// given, only those. Sites also match on the pseudo-label `region`; environments on `site`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    pub match_labels: BTreeMap<String, String>,
    pub names: Vec<String>,
}

impl Selector {
    /// True when an object with `name` and `labels` (plus pseudo-labels) is selected.
    pub fn matches(&self, name: &str, labels: &Labels, pseudo: (&str, &str)) -> bool {
        if !self.names.is_empty() && !self.names.iter().any(|n| n == name) {
            return false;
        }
        self.match_labels.iter().all(|(k, v)| {
            if k == pseudo.0 && !labels.contains_key(k) {
                return v == pseudo.1;
            }
            labels.get(k) == Some(v)
        })
    }
}

/// A named selection of sites or environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub kind: GroupKind,
    pub selector: Selector,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Drift policy of the environments this group selects (environments without their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftPolicy>,
}

/// One wave boundary as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaveSize {
    /// The first `n` targets in all.
    Count(u32),
    /// The first `p` percent of the targets in all (rounded up).
    Percent(u32),
}

/// Parses `1,10%,100%`: cumulative boundaries, the last one covering every target. An empty
/// spec is one wave of everything.
pub fn parse_waves(spec: &str) -> Result<Vec<WaveSize>, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok(vec![WaveSize::Percent(100)]);
    }
    let mut out = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        let size = if let Some(p) = part.strip_suffix('%') {
            let p: u32 = p.trim().parse().map_err(|_| {
                format!("wave {part:?} is not a percentage: write e.g. 10% (from 1% to 100%)")
            })?;
            if p == 0 || p > 100 {
                return Err(format!("wave {part:?} must be between 1% and 100%"));
            }
            WaveSize::Percent(p)
        } else {
            let n: u32 = part.parse().map_err(|_| {
                format!("wave {part:?} is neither a count nor a percentage: write e.g. 1,10%,100%")
            })?;
            if n == 0 {
                return Err(format!(
                    "wave {part:?} is empty: a wave holds at least 1 target"
                ));
            }
            WaveSize::Count(n)
        };
        out.push(size);
    }
    Ok(out)
}

/// Cumulative end index of each wave for `total` targets. Boundaries must grow and the last
/// must cover every target ("waves that add up"); boundaries that round to the same index
/// for a small group are merged.
pub fn resolve_waves(waves: &[WaveSize], total: usize) -> Result<Vec<u32>, String> {
    if total == 0 {
        return Err("the rollout has no targets".into());
    }
    let mut ends: Vec<u32> = Vec::new();
    let mut last_written: Option<WaveSize> = None;
    for (i, w) in waves.iter().enumerate() {
        let end = match *w {
            WaveSize::Count(n) => n as usize,
            WaveSize::Percent(p) => (total * p as usize).div_ceil(100),
        };
        if let Some(prev) = last_written {
            let grows = match (prev, *w) {
                (WaveSize::Count(a), WaveSize::Count(b)) => b > a,
                (WaveSize::Percent(a), WaveSize::Percent(b)) => b > a,
                _ => true,
            };
            if !grows {
                return Err(format!(
                    "waves are cumulative and must grow: wave {} ({}) does not go beyond wave {} ({})",
                    i + 1,
                    show_wave(*w),
                    i,
                    show_wave(prev)
                ));
            }
        }
        last_written = Some(*w);
        let end = end.min(total) as u32;
        if ends.last().is_some_and(|&e| end < e) {
            return Err(format!(
                "waves are cumulative and must grow: wave {} ({}) covers {end} targets, fewer than the wave before it ({})",
                i + 1,
                show_wave(*w),
                ends.last().copied().unwrap_or(0)
            ));
        }
        if ends.last() != Some(&end) {
            ends.push(end);
        }
    }
    let covered = match waves.last() {
        Some(WaveSize::Percent(100)) => true,
        Some(WaveSize::Count(n)) => *n as usize >= total,
        _ => false,
    };
    if !covered {
        return Err(format!(
            "waves do not add up: the last wave must cover all {total} targets (end with 100%), \
             but it covers {}",
            ends.last().copied().unwrap_or(0)
        ));
    }
    Ok(ends)
}

fn show_wave(w: WaveSize) -> String {
    match w {
        WaveSize::Count(n) => n.to_string(),
        WaveSize::Percent(p) => format!("{p}%"),
    }
}

/// When a rollout stops starting new targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureBudget {
    /// Pause once more than this many targets failed.
    pub max_failed: Option<u32>,
    /// Pause once more than this percentage of all targets failed.
    pub max_failed_percent: Option<u32>,
}

impl FailureBudget {
    /// Why the budget is spent with `failed` of `total` failed, if it is.
    pub fn exceeded(&self, failed: u32, total: usize) -> Option<String> {
        if let Some(n) = self.max_failed {
            if failed > n {
                return Some(format!(
                    "failure budget exceeded: {failed} of {total} targets failed (at most {n} allowed)"
                ));
            }
        }
        if let Some(p) = self.max_failed_percent {
            if failed as u64 * 100 > p as u64 * total as u64 {
                return Some(format!(
                    "failure budget exceeded: {failed} of {total} targets failed (more than {p}%)"
                ));
            }
        }
        None
    }
}

/// The change a rollout makes on each target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RolloutAction {
    /// Create an environment on every selected site and install it.
    Install {
        blueprint: String,
        revision: u64,
        inputs: crate::environment::Inputs,
        /// Name template; `{site}` and `{blueprint}` are replaced.
        environment_name: String,
        labels: BTreeMap<String, String>,
    },
    Update {
        revision: Option<u64>,
        inputs: Option<crate::environment::Inputs>,
    },
    Uninstall,
    Heal,
    Rollback,
}

impl RolloutAction {
    pub fn kind(&self) -> RolloutActionKind {
        match self {
            RolloutAction::Install { .. } => RolloutActionKind::Install,
            RolloutAction::Update { .. } => RolloutActionKind::Update,
            RolloutAction::Uninstall => RolloutActionKind::Uninstall,
            RolloutAction::Heal => RolloutActionKind::Heal,
            RolloutAction::Rollback => RolloutActionKind::Rollback,
        }
    }

    /// The action's wire name.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// One environment (or site, for installs) of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The environment this target changes (for installs: the one it creates).
    pub environment: String,
    /// For installs: the site the environment is created on.
    pub site: Option<String>,
    pub state: TargetState,
    /// The child execution, once started.
    pub execution: Option<String>,
}

/// A bulk execution over a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: String,
    pub group: String,
    pub action: RolloutAction,
    pub retry: RetryPolicy,
    pub max_parallel: u32,
    pub waves_spec: String,
    /// Cumulative end index of each wave.
    pub wave_ends: Vec<u32>,
    pub require_approval: bool,
    pub budget: FailureBudget,
    pub state: RolloutState,
    pub pause_reason: Option<String>,
    /// Index of the wave being run.
    pub wave: u32,
    pub targets: Vec<Target>,
    /// Next never-started target.
    pub next: u32,
    /// Failed targets queued again by a resume, oldest first.
    pub retry_queue: VecDeque<u32>,
    pub running: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
    /// Failure counts per error text (bounded; see [`MAX_FAILURE_KINDS`]).
    pub failures: BTreeMap<String, u32>,
    /// Children started so far, retries included.
    pub starts: u64,
    pub rollback_of: Option<String>,
    pub rolled_back_by: Option<String>,
    pub created_ms: u64,
    pub finished_ms: u64,
    pub updated_ms: u64,
}

/// Counts for one wave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaveCounts {
    pub size: u32,
    pub queued: u32,
    pub running: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl Rollout {
    /// A running rollout over `targets`, nothing started yet. `limits` is (retry policy,
    /// max parallel, failure budget); `waves` is (the spec as written, cumulative wave ends,
    /// approval between waves).
    pub fn new(
        id: String,
        group: String,
        action: RolloutAction,
        limits: (RetryPolicy, u32, FailureBudget),
        waves: (String, Vec<u32>, bool),
        targets: Vec<Target>,
        now_ms: u64,
    ) -> Rollout {
        let (retry, max_parallel, budget) = limits;
        let (waves_spec, wave_ends, require_approval) = waves;
        Rollout {
            id,
            group,
            action,
            retry,
            max_parallel,
            waves_spec,
            wave_ends,
            require_approval,
            budget,
            state: RolloutState::Running,
            pause_reason: None,
            wave: 0,
            targets,
            next: 0,
            retry_queue: VecDeque::new(),
            running: 0,
            succeeded: 0,
            failed: 0,
            skipped: 0,
            failures: BTreeMap::new(),
            starts: 0,
            rollback_of: None,
            rolled_back_by: None,
            created_ms: now_ms,
            finished_ms: 0,
            updated_ms: now_ms,
        }
    }

    /// Targets never started or queued again.
    pub fn queued(&self) -> u32 {
        (self.targets.len() as u32)
            .saturating_sub(self.running)
            .saturating_sub(self.succeeded)
            .saturating_sub(self.failed)
            .saturating_sub(self.skipped)
    }

    /// End index of the current wave.
    pub fn wave_end(&self) -> u32 {
        self.wave_ends
            .get(self.wave as usize)
            .or(self.wave_ends.last())
            .copied()
            .unwrap_or(0)
    }

    /// The next target to start under the current wave, if any: retries first (they were
    /// started earlier), then never-started ones in order.
    pub fn next_startable(&self) -> Option<u32> {
        if let Some(&i) = self.retry_queue.front() {
            return Some(i);
        }
        (self.next < self.wave_end()).then_some(self.next)
    }

    /// Takes the target returned by [`Rollout::next_startable`] off the queue.
    pub fn take(&mut self, i: u32) {
        if self.retry_queue.front() == Some(&i) {
            self.retry_queue.pop_front();
        } else {
            debug_assert_eq!(self.next, i, "targets start in order");
            self.next += 1;
        }
    }

    /// May this rollout start another target now (its own cap; the global one is checked
    /// by the caller)?
    pub fn can_start(&self) -> bool {
        self.state == RolloutState::Running
            && self.running < self.max_parallel
            && self.next_startable().is_some()
    }

    /// Records that target `i` started a child.
    pub fn started(&mut self, i: u32, execution: String) {
        let Some(t) = self.targets.get_mut(i as usize) else {
            return;
        };
        t.state = TargetState::Running;
        t.execution = Some(execution);
        self.running += 1;
        self.starts += 1;
    }

    /// Records that target `i` could not even start (e.g. the environment exists).
    pub fn start_failed(&mut self, i: u32, error: &str) {
        let Some(t) = self.targets.get_mut(i as usize) else {
            return;
        };
        t.state = TargetState::Failed;
        self.failed += 1;
        self.count_failure(error);
        self.check_budget();
    }

    /// Records that the child of target `i` ended in `state`.
    pub fn child_ended(&mut self, i: u32, state: ExecState, error: Option<&str>, now_ms: u64) {
        let Some(t) = self.targets.get_mut(i as usize) else {
            return;
        };
        if t.state != TargetState::Running {
            return;
        }
        self.running -= 1;
        self.updated_ms = now_ms;
        match state {
            ExecState::Succeeded => {
                t.state = TargetState::Succeeded;
                self.succeeded += 1;
            }
            ExecState::Cancelled if self.state == RolloutState::Cancelled => {
                t.state = TargetState::Skipped;
                self.skipped += 1;
            }
            _ => {
                t.state = TargetState::Failed;
                self.failed += 1;
                let error = match state {
                    ExecState::Cancelled => "the execution was cancelled",
                    _ => error.unwrap_or("failed"),
                };
                self.count_failure(error);
                self.check_budget();
            }
        }
    }

    /// A failed child was resumed by hand (`moorctl exec resume`): it runs again.
    pub fn child_resumed(&mut self, i: u32) {
        let Some(t) = self.targets.get_mut(i as usize) else {
            return;
        };
        if t.state == TargetState::Failed {
            t.state = TargetState::Running;
            self.failed -= 1;
            self.running += 1;
        }
    }

    fn count_failure(&mut self, error: &str) {
        let mut key = error.to_string();
        if key.len() > MAX_ERROR_BYTES {
            let mut cut = MAX_ERROR_BYTES;
            while !key.is_char_boundary(cut) {
                cut -= 1;
            }
            key.truncate(cut);
            key.push('…');
        }
        if !self.failures.contains_key(&key) && self.failures.len() >= MAX_FAILURE_KINDS {
            key = "other errors".into();
        }
        *self.failures.entry(key).or_default() += 1;
    }

    fn check_budget(&mut self) {
        if self.state != RolloutState::Running {
            return;
        }
        if let Some(reason) = self.budget.exceeded(self.failed, self.targets.len()) {
            self.state = RolloutState::Paused;
            self.pause_reason = Some(reason);
        }
    }

    /// Moves to the next wave or to the end state once the current wave is done.
    pub fn advance(&mut self, now_ms: u64) {
        while self.state == RolloutState::Running
            && self.running == 0
            && self.retry_queue.is_empty()
            && self.next >= self.wave_end()
        {
            if (self.wave as usize) + 1 < self.wave_ends.len() {
                if self.require_approval {
                    self.state = RolloutState::WaitingApproval;
                    self.updated_ms = now_ms;
                    return;
                }
                self.wave += 1;
            } else {
                self.state = if self.failed > 0 {
                    RolloutState::Failed
                } else {
                    RolloutState::Succeeded
                };
                self.finished_ms = now_ms;
                self.updated_ms = now_ms;
            }
        }
    }

    pub fn pause(&mut self, now_ms: u64) -> Result<(), String> {
        match self.state {
            RolloutState::Running | RolloutState::WaitingApproval => {
                self.state = RolloutState::Paused;
                self.pause_reason = Some("paused by a user".into());
                self.updated_ms = now_ms;
                Ok(())
            }
            s => Err(format!(
                "rollout {} is {}; only a running rollout can be paused",
                self.id,
                state_name(s)
            )),
        }
    }

    /// Resumes a paused or failed rollout: failed targets are queued again (their
    /// executions resume from the failed steps), not-yet-run ones continue.
    pub fn resume(&mut self, now_ms: u64) -> Result<(), String> {
        match self.state {
            RolloutState::Paused | RolloutState::Failed => {}
            s => {
                return Err(format!(
                    "rollout {} is {}; only a paused or failed rollout can be resumed{}",
                    self.id,
                    state_name(s),
                    if s == RolloutState::WaitingApproval {
                        " (it waits for approval: use `moorctl rollout approve`)"
                    } else {
                        ""
                    }
                ))
            }
        }
        for (i, t) in self.targets.iter_mut().enumerate() {
            if t.state == TargetState::Failed {
                t.state = TargetState::Queued;
                self.retry_queue.push_back(i as u32);
            }
        }
        self.failed = 0;
        self.failures.clear();
        self.state = RolloutState::Running;
        self.pause_reason = None;
        self.finished_ms = 0;
        self.updated_ms = now_ms;
        Ok(())
    }

    pub fn approve(&mut self, now_ms: u64) -> Result<(), String> {
        if self.state != RolloutState::WaitingApproval {
            return Err(format!(
                "rollout {} is {}; approve applies to a rollout waiting between waves",
                self.id,
                state_name(self.state)
            ));
        }
        self.wave += 1;
        self.state = RolloutState::Running;
        self.updated_ms = now_ms;
        Ok(())
    }

    /// Marks the rollout cancelled and its queued targets skipped; returns the executions
    /// of running targets, which the caller cancels.
    pub fn cancel(&mut self, now_ms: u64) -> Result<Vec<String>, String> {
        if self.state.is_ended() && self.state != RolloutState::Failed {
            return Err(format!(
                "rollout {} already ended ({}); nothing to cancel",
                self.id,
                state_name(self.state)
            ));
        }
        self.state = RolloutState::Cancelled;
        self.retry_queue.clear();
        self.next = self.targets.len() as u32;
        let mut running = Vec::new();
        for t in &mut self.targets {
            match t.state {
                TargetState::Queued => {
                    t.state = TargetState::Skipped;
                    self.skipped += 1;
                }
                TargetState::Running => running.extend(t.execution.clone()),
                _ => {}
            }
        }
        self.finished_ms = now_ms;
        self.updated_ms = now_ms;
        Ok(running)
    }

    pub fn set_max_parallel(&mut self, n: u32, now_ms: u64) -> Result<(), String> {
        if n == 0 {
            return Err("max_parallel must be at least 1".into());
        }
        if self.state.is_ended() && self.state != RolloutState::Failed {
            return Err(format!(
                "rollout {} already ended ({})",
                self.id,
                state_name(self.state)
            ));
        }
        self.max_parallel = n;
        self.updated_ms = now_ms;
        Ok(())
    }

    /// Counts per wave, computed from the targets.
    pub fn wave_counts(&self) -> Vec<WaveCounts> {
        let mut start = 0u32;
        self.wave_ends
            .iter()
            .map(|&end| {
                let mut c = WaveCounts {
                    size: end - start,
                    ..Default::default()
                };
                for t in self.targets.iter().take(end as usize).skip(start as usize) {
                    match t.state {
                        TargetState::Queued => c.queued += 1,
                        TargetState::Running => c.running += 1,
                        TargetState::Succeeded => c.succeeded += 1,
                        TargetState::Failed => c.failed += 1,
                        TargetState::Skipped => c.skipped += 1,
                    }
                }
                start = end;
                c
            })
            .collect()
    }
}

/// The API's name of a rollout state.
pub fn state_name(s: RolloutState) -> &'static str {
    s.as_str()
}

/// What a user asked for when starting a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutSpec {
    pub group: String,
    pub action: RolloutAction,
    pub retry: RetryPolicy,
    pub max_parallel: u32,
    pub waves: WavesSpec,
    pub require_approval: bool,
    pub budget: FailureBudget,
}

/// Waves as a rollout request gives them: parsed once, where the request arrived
/// ([`parse_waves`]), so apply only resolves them against the number of targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WavesSpec {
    /// The spec as the user wrote it (`1,10%,100%`), for display.
    pub text: String,
    /// Its parsed boundaries.
    pub waves: Vec<WaveSize>,
}

impl WavesSpec {
    /// Parses `text` (see [`parse_waves`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(WavesSpec {
            text: text.to_string(),
            waves: parse_waves(text)?,
        })
    }
}

/// A control operation on a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RolloutOp {
    Pause,
    Resume,
    Cancel,
    Approve,
    SetMaxParallel(u32),
    /// Start a new rollout that reverts the targets this one changed successfully.
    Rollback,
}

/// Rollout bookkeeping kept in the workflow registry.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollouts {
    pub groups: BTreeMap<String, Group>,
    pub rollouts: BTreeMap<String, Rollout>,
    /// Rollouts that may have running children or start new ones.
    pub active: BTreeSet<String>,
    /// Cap on running children over all rollouts together (0: the default).
    pub max_parallel_total: u32,
    /// The rollout served first by the next fill, for fairness between rollouts.
    pub fill_from: Option<String>,
    pub next_rollout: u64,
}

impl Rollouts {
    pub fn max_parallel_total(&self) -> u32 {
        if self.max_parallel_total == 0 {
            DEFAULT_MAX_PARALLEL_TOTAL
        } else {
            self.max_parallel_total
        }
    }

    /// Running children over all rollouts.
    pub fn running_total(&self) -> u32 {
        self.active
            .iter()
            .filter_map(|id| self.rollouts.get(id))
            .map(|r| r.running)
            .sum()
    }
}

#[cfg(test)]
#[path = "tests/rollout.rs"]
mod tests;
