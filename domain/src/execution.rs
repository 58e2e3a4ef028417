//! Executions: one workflow run (install, update, uninstall, heal, rollback) on one
//! environment, as a DAG of steps, and the pure transitions checkpoints make on it.
//!
//! Every transition here is applied inside the replicated state machine, so it must be
//! deterministic; times come from the command (stamped by the leader). The executor on the
//! leader only proposes checkpoints; whether a checkpoint takes effect is decided here, on
//! every member alike. That is what makes a cancel safe: a dispatch checkpoint that reaches
//! the log after the cancel is rejected by `apply`, and the executor calls a driver only for
//! a dispatch that was accepted.
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

use crate::atom::Atom;
use crate::properties::Properties;
use crate::text::bounded;
use serde::{Deserialize, Serialize};

use moor_proto::names::WireName;
pub use moor_proto::names::{ExecKind, ExecState, StepAction, StepState};

/// One step of an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub resource: Atom,
    pub resource_type: Atom,
    pub action: StepAction,
    /// Desired properties (null for deletes), shared through the state's pool.
    pub properties: Properties,
    pub desired_digest: Atom,
    /// Indexes of steps that must succeed first.
    pub depends_on: Vec<u32>,
    pub state: StepState,
    /// Attempts dispatched so far (1 after the first dispatch).
    pub attempt: u32,
    /// Fence token (leader term) of the latest dispatch.
    pub fence_token: u64,
    /// Earliest time the next attempt may be dispatched (retry backoff).
    pub not_before_ms: u64,
    pub dispatched_ms: u64,
    pub finished_ms: u64,
    pub observed_digest: Atom,
    pub last_error: Option<String>,
    /// Every attempt, oldest first, at most the latest [`MAX_ATTEMPTS_KEPT`]; recorded only
    /// at feature level 2 on (see [`crate::feature`]), left out of the encoding while empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
}

/// How many attempts a step keeps in its history; older ones are dropped first.
pub const MAX_ATTEMPTS_KEPT: usize = 32;

/// The longest error text an attempt keeps (the step's `last_error` keeps the whole one).
pub const MAX_ATTEMPT_ERROR: usize = 512;

/// One dispatch of a step and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The step's attempt number (counted again from 1 after a resume).
    pub attempt: u32,
    /// The fence token of the dispatch: the term of the leader that dispatched it.
    pub fence_token: u64,
    pub dispatched_ms: u64,
    /// 0 while running.
    pub finished_ms: u64,
    pub outcome: AttemptOutcome,
    /// The term of the entry that recorded the outcome (0 while running).
    pub result_term: u64,
}

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    /// Dispatched, no result recorded yet.
    Running,
    Succeeded,
    /// The site's error (at most [`MAX_ATTEMPT_ERROR`] bytes of it).
    Failed {
        error: String,
    },
    /// Dispatched again (a new leader, or no answer within twice the step timeout) before a
    /// result came back: a result for it is stale from then on.
    Superseded,
}

impl AttemptOutcome {
    /// The wire name (`StepAttempt.outcome`).
    pub fn name(&self) -> &'static str {
        match self {
            AttemptOutcome::Running => "running",
            AttemptOutcome::Succeeded => "succeeded",
            AttemptOutcome::Failed { .. } => "failed",
            AttemptOutcome::Superseded => "superseded",
        }
    }
}

/// Where a transition happens: the entry's term, the leader's time stamped into the
/// command, and whether the cluster's feature level keeps attempt histories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub term: u64,
    pub now_ms: u64,
    pub attempts: bool,
}

impl Step {
    /// A step not yet run.
    pub fn new(
        resource: impl Into<Atom>,
        resource_type: impl Into<Atom>,
        action: StepAction,
        properties: Properties,
        desired_digest: impl Into<Atom>,
        depends_on: Vec<u32>,
    ) -> Step {
        Step {
            resource: resource.into(),
            resource_type: resource_type.into(),
            action,
            properties,
            desired_digest: desired_digest.into(),
            depends_on,
            state: StepState::Pending,
            attempt: 0,
            fence_token: 0,
            not_before_ms: 0,
            dispatched_ms: 0,
            finished_ms: 0,
            observed_digest: Atom::default(),
            last_error: None,
            attempts: Vec::new(),
        }
    }
}

/// Retry policy, fixed per execution when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts per step before it fails for good (at least 1).
    pub max_attempts: u32,
    /// Backoff before attempt n+1 is `base * 2^(n-1)`, capped.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// A dispatched step with no result after this long counts as a failed attempt.
    pub step_timeout_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            backoff_base_ms: 200,
            backoff_max_ms: 5_000,
            step_timeout_ms: 10_000,
        }
    }
}

impl RetryPolicy {
    /// Backoff after `attempt` failed attempts.
    pub fn backoff_ms(&self, attempt: u32) -> u64 {
        let shift = attempt.saturating_sub(1).min(20);
        self.backoff_base_ms
            .saturating_mul(1u64 << shift)
            .min(self.backoff_max_ms)
    }
}

/// One workflow run on one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub id: String,
    pub environment: String,
    pub kind: ExecKind,
    pub state: ExecState,
    pub steps: Vec<Step>,
    /// Blueprint revision the environment has once this execution succeeds (None for
    /// uninstall).
    pub target_revision: Option<u64>,
    pub retry: RetryPolicy,
    pub created_ms: u64,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub error: Option<String>,
    /// Rollout this execution belongs to, if any.
    pub rollout: Option<String>,
    /// Index of this execution's target in that rollout.
    pub rollout_target: Option<u32>,
    /// New inputs this execution applies (updates only); None keeps the environment's.
    pub inputs: Option<crate::environment::Inputs>,
}

/// The outcome a driver reported for one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepOutcome {
    /// The site applied it (now or earlier under the same idempotency key).
    Done { observed_digest: String },
    /// The attempt failed; `retryable` false fails the step at once.
    Failed { error: String, retryable: bool },
}

/// Why a checkpoint did not take effect. Not an error of the system: the executor learns
/// from it that it must not (or need not) act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CheckpointRejected {
    #[error("execution {0} is not running")]
    NotRunning(String),
    #[error("step {step} of {execution} is not ready: {reason}")]
    NotReady {
        execution: String,
        step: u32,
        reason: String,
    },
    #[error(
        "stale result for step {step} of {execution}: attempt {attempt} is not the latest dispatch"
    )]
    Stale {
        execution: String,
        step: u32,
        attempt: u32,
    },
    #[error("no step {step} in execution {execution}")]
    NoSuchStep { execution: String, step: u32 },
}

impl Execution {
    /// Indexes of steps that may be dispatched now by a leader of term `term`: pending steps
    /// whose dependencies succeeded and whose backoff has passed, and steps dispatched under
    /// an older term (their leader is gone; the new one re-dispatches with a new token).
    pub fn dispatchable(&self, term: u64, now_ms: u64) -> Vec<u32> {
        if self.state != ExecState::Running {
            return Vec::new();
        }
        // Fail fast: after a step failed for good nothing new starts, but steps in flight
        // under a deposed leader are still re-dispatched so their outcome gets recorded.
        let failing = self.has_failed_step();
        (0..self.steps.len() as u32)
            .filter(|&i| {
                let Some(s) = self.steps.get(i as usize) else {
                    return false;
                };
                match s.state {
                    StepState::Pending => {
                        !failing && s.not_before_ms <= now_ms && self.deps_succeeded(i)
                    }
                    // Dispatched under an older term: that leader is gone. Dispatched under
                    // this term but silent for twice the step timeout (the driver call has
                    // that timeout as its deadline): the call was lost with its executor
                    // round, so it is dispatched again under the same key.
                    StepState::Dispatched => {
                        s.fence_token < term
                            || now_ms
                                >= s.dispatched_ms
                                    .saturating_add(self.retry.step_timeout_ms.saturating_mul(2))
                    }
                    _ => false,
                }
            })
            .collect()
    }

    fn deps_succeeded(&self, i: u32) -> bool {
        self.steps.get(i as usize).is_some_and(|s| {
            s.depends_on.iter().all(|d| {
                self.steps
                    .get(*d as usize)
                    .is_some_and(|d| d.state == StepState::Succeeded)
            })
        })
    }

    fn step_mut(&mut self, step: u32) -> Result<&mut Step, CheckpointRejected> {
        let id = self.id.clone();
        self.steps
            .get_mut(step as usize)
            .ok_or(CheckpointRejected::NoSuchStep {
                execution: id,
                step,
            })
    }

    /// Records a dispatch: the step's next attempt under fence token `term`. Rejected
    /// unless the step is dispatchable now; the new attempt number is returned. Keeps no
    /// attempt history (feature level 1); [`Execution::dispatch_at`] says whether to.
    pub fn dispatch(
        &mut self,
        step: u32,
        term: u64,
        now_ms: u64,
    ) -> Result<u32, CheckpointRejected> {
        self.dispatch_at(
            step,
            At {
                term,
                now_ms,
                attempts: false,
            },
        )
    }

    /// [`Execution::dispatch`] at `at`; with `at.attempts`, the dispatch starts a new
    /// attempt in the step's history, and an attempt still running is superseded.
    pub fn dispatch_at(&mut self, step: u32, at: At) -> Result<u32, CheckpointRejected> {
        let At { term, now_ms, .. } = at;
        if self.state != ExecState::Running {
            return Err(CheckpointRejected::NotRunning(self.id.clone()));
        }
        if !self.dispatchable(term, now_ms).contains(&step) {
            let s = self
                .steps
                .get(step as usize)
                .ok_or(CheckpointRejected::NoSuchStep {
                    execution: self.id.clone(),
                    step,
                })?;
            return Err(CheckpointRejected::NotReady {
                execution: self.id.clone(),
                step,
                reason: format!("state {:?}, token {}", s.state, s.fence_token),
            });
        }
        let s = self.step_mut(step)?;
        s.state = StepState::Dispatched;
        s.attempt += 1;
        s.fence_token = term;
        s.dispatched_ms = now_ms;
        if at.attempts {
            if let Some(last) = s.attempts.last_mut() {
                if last.outcome == AttemptOutcome::Running {
                    last.outcome = AttemptOutcome::Superseded;
                    last.finished_ms = now_ms;
                    last.result_term = term;
                }
            }
            if s.attempts.len() >= MAX_ATTEMPTS_KEPT {
                s.attempts.remove(0);
            }
            s.attempts.push(Attempt {
                attempt: s.attempt,
                fence_token: term,
                dispatched_ms: now_ms,
                finished_ms: 0,
                outcome: AttemptOutcome::Running,
                result_term: 0,
            });
        }
        Ok(s.attempt)
    }

    /// Records the outcome of attempt `attempt` of `step`. Only the latest dispatch counts:
    /// a late answer from an older attempt is ignored. Keeps no attempt history (feature
    /// level 1); [`Execution::record_at`] says whether to.
    pub fn record(
        &mut self,
        step: u32,
        attempt: u32,
        outcome: &StepOutcome,
        now_ms: u64,
    ) -> Result<(), CheckpointRejected> {
        self.record_at(
            step,
            attempt,
            outcome,
            At {
                term: 0,
                now_ms,
                attempts: false,
            },
        )
    }

    /// [`Execution::record`] at `at`; with `at.attempts`, the outcome also ends the step's
    /// running attempt in its history (when the history has it: it may have begun before
    /// the cluster kept histories).
    pub fn record_at(
        &mut self,
        step: u32,
        attempt: u32,
        outcome: &StepOutcome,
        at: At,
    ) -> Result<(), CheckpointRejected> {
        let now_ms = at.now_ms;
        let retry = self.retry;
        let exec_id = self.id.clone();
        let s = self.step_mut(step)?;
        if s.state != StepState::Dispatched || s.attempt != attempt {
            return Err(CheckpointRejected::Stale {
                execution: exec_id,
                step,
                attempt,
            });
        }
        s.finished_ms = now_ms;
        if at.attempts {
            if let Some(last) = s
                .attempts
                .last_mut()
                .filter(|a| a.attempt == attempt && a.outcome == AttemptOutcome::Running)
            {
                last.outcome = match outcome {
                    StepOutcome::Done { .. } => AttemptOutcome::Succeeded,
                    StepOutcome::Failed { error, .. } => AttemptOutcome::Failed {
                        error: bounded(error, MAX_ATTEMPT_ERROR),
                    },
                };
                last.finished_ms = now_ms;
                last.result_term = at.term;
            }
        }
        match outcome {
            StepOutcome::Done { observed_digest } => {
                s.state = StepState::Succeeded;
                // Almost always the digest the step asked for: share its allocation.
                s.observed_digest = Atom::reuse(&s.desired_digest, observed_digest);
                s.last_error = None;
            }
            StepOutcome::Failed { error, retryable } => {
                s.last_error = Some(error.clone());
                if *retryable && s.attempt < retry.max_attempts {
                    s.state = StepState::Pending;
                    s.not_before_ms = now_ms + retry.backoff_ms(s.attempt);
                } else {
                    s.state = StepState::Failed;
                }
            }
        }
        self.settle(now_ms);
        Ok(())
    }

    /// Moves the execution to its end state once nothing can run any more.
    fn settle(&mut self, now_ms: u64) {
        if self.state != ExecState::Running {
            return;
        }
        let in_flight = self.steps.iter().any(|s| s.state == StepState::Dispatched);
        let failed = self
            .steps
            .iter()
            .enumerate()
            .find(|(_, s)| s.state == StepState::Failed);
        if self.steps.iter().all(|s| s.state == StepState::Succeeded) {
            self.state = ExecState::Succeeded;
            self.finished_ms = now_ms;
        } else if let Some((i, s)) = failed {
            // Fail fast: nothing new is dispatched after a step failed for good, but steps
            // already in flight are allowed to report, so their effects are recorded.
            if !in_flight {
                self.state = ExecState::Failed;
                self.finished_ms = now_ms;
                self.error = Some(format!(
                    "step {i} ({} {}) failed after {} attempt(s): {}",
                    action_name(s.action),
                    s.resource,
                    s.attempt,
                    s.last_error.as_deref().unwrap_or("unknown error")
                ));
            }
        }
    }

    /// True when a failed step blocks new dispatches.
    pub fn has_failed_step(&self) -> bool {
        self.steps.iter().any(|s| s.state == StepState::Failed)
    }

    /// Restarts a failed execution: failed and skipped steps go back to pending with their
    /// attempt counters reset; succeeded steps are kept, so only what failed runs again.
    ///
    /// An interrupted execution (running when the backup its cluster was restored from was
    /// taken) goes back to running as it was: its dispatched steps are sent again under
    /// their recorded idempotency keys by the executor, like after a failover.
    pub fn resume(&mut self, now_ms: u64) -> Result<(), String> {
        if self.state == ExecState::Interrupted {
            self.state = ExecState::Running;
            return Ok(());
        }
        if self.state != ExecState::Failed {
            return Err(format!(
                "execution {} is {}; only a failed or interrupted execution can be resumed",
                self.id, self.state
            ));
        }
        for s in &mut self.steps {
            if matches!(s.state, StepState::Failed | StepState::Skipped) {
                s.state = StepState::Pending;
                s.attempt = 0;
                s.not_before_ms = now_ms;
            }
        }
        self.state = ExecState::Running;
        self.error = None;
        self.finished_ms = 0;
        Ok(())
    }

    /// Marks a running execution interrupted (a restore from a backup): nothing is dispatched
    /// until it is resumed. Steps keep their states, attempts and fence tokens.
    pub fn interrupt(&mut self) -> Result<(), String> {
        if self.state != ExecState::Running {
            return Err(format!(
                "execution {} is {}; only a running execution can be interrupted",
                self.id, self.state
            ));
        }
        self.state = ExecState::Interrupted;
        Ok(())
    }

    /// Cancels: no step is dispatched after this. Steps already dispatched keep their state
    /// until their result arrives, so a late effect is still recorded.
    pub fn cancel(&mut self, now_ms: u64) -> Result<(), String> {
        if self.state.is_terminal() {
            return Err(format!(
                "execution {} already ended ({:?}); nothing to cancel",
                self.id, self.state
            ));
        }
        for s in &mut self.steps {
            if s.state == StepState::Pending {
                s.state = StepState::Skipped;
            }
        }
        self.state = ExecState::Cancelled;
        self.finished_ms = now_ms;
        Ok(())
    }

    /// Counts of steps per state: (pending, dispatched, succeeded, failed, skipped).
    pub fn counts(&self) -> [usize; 5] {
        let count = |state| self.steps.iter().filter(|s| s.state == state).count();
        [
            count(StepState::Pending),
            count(StepState::Dispatched),
            count(StepState::Succeeded),
            count(StepState::Failed),
            count(StepState::Skipped),
        ]
    }
}

/// Lower-case name of an action, for messages.
pub fn action_name(a: StepAction) -> &'static str {
    a.as_str()
}

#[cfg(test)]
#[path = "tests/execution_unit.rs"]
mod tests;
