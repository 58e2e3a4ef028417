//! Executions in the registry: resume, cancel, step checkpoints (dispatches and results, in
//! batches, with the follow-up dispatches an entry makes) and what happens when one ends.
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

use std::collections::{BTreeMap, BTreeSet};

use crate::environment::{
    AppliedResource, EnvStatus, Environment, ObservedResource, RevisionRecord, HISTORY_LIMIT,
};
use crate::execution::{
    At, CheckpointRejected, ExecKind, ExecState, Execution, Step, StepAction, StepOutcome,
    StepState,
};
use crate::kv::KvState;

use crate::workflow::pools::Pools;
use crate::workflow::types::{
    Checkpoint, CheckpointResult, Res, WorkflowError, WorkflowResult, WorkflowState,
};

impl WorkflowState {
    /// The executions of `environment`, oldest first, found through the index.
    pub fn executions_of<'a>(&'a self, environment: &str) -> impl Iterator<Item = &'a Execution> {
        self.by_environment
            .get(environment)
            .into_iter()
            .flatten()
            .filter_map(|id| self.executions.get(id))
    }

    /// Rebuilds the derived data after a state was decoded (none of it is encoded): the
    /// index of executions per environment, in creation order (the number after `x`, which
    /// rises by one per execution), and the pools of shared properties and strings, so each
    /// distinct properties value, resource name, type and digest is held once again.
    pub fn reindex(&mut self) {
        self.by_environment = self.index_from_executions();
        let mut pools = Pools::default();
        for exec in self.executions.values_mut() {
            pools.share_steps(&mut exec.steps);
        }
        for env in self.environments.values_mut() {
            pools.share_environment(env);
        }
        self.shared_properties = pools.properties;
        self.shared_atoms = pools.atoms;
    }

    /// Points the properties and strings of new `steps` at the pooled ones.
    pub(crate) fn share_steps(&mut self, steps: &mut [Step]) {
        let mut pools = Pools {
            properties: std::mem::take(&mut self.shared_properties),
            atoms: std::mem::take(&mut self.shared_atoms),
        };
        pools.share_steps(steps);
        self.shared_properties = pools.properties;
        self.shared_atoms = pools.atoms;
    }

    /// The index [`WorkflowState::reindex`] builds, from `executions` alone.
    pub(crate) fn index_from_executions(&self) -> BTreeMap<String, Vec<String>> {
        let mut by_environment: BTreeMap<String, Vec<(u64, &String)>> = BTreeMap::new();
        for (id, e) in &self.executions {
            by_environment
                .entry(e.environment.clone())
                .or_default()
                .push((execution_number(id), id));
        }
        by_environment
            .into_iter()
            .map(|(env, mut ids)| {
                ids.sort();
                (env, ids.into_iter().map(|(_, id)| id.clone()).collect())
            })
            .collect()
    }

    pub(crate) fn resume(&mut self, id: &str, now_ms: u64) -> Res<WorkflowResult> {
        let exec = self
            .executions
            .get_mut(id)
            .ok_or_else(|| WorkflowError::NotFound(format!("execution {id}")))?;
        let env_name = exec.environment.clone();
        let Some(env) = self.environments.get_mut(&env_name) else {
            return Err(WorkflowError::NotFound(format!(
                "environment {env_name} of execution {id}"
            )));
        };
        let current = env.current_execution.clone();
        if current.is_some() && current.as_deref() != Some(id) {
            return Err(WorkflowError::FailedPrecondition(format!(
                "environment {env_name} is running execution {}; resume {id} after it ends",
                current.unwrap_or_default()
            )));
        }
        let was_interrupted = exec.state == ExecState::Interrupted;
        exec.resume(now_ms)
            .map_err(WorkflowError::FailedPrecondition)?;
        env.current_execution = Some(id.to_string());
        env.latest_execution = Some(id.to_string());
        env.status = match exec.kind {
            ExecKind::Install => EnvStatus::Installing,
            ExecKind::Update => EnvStatus::Updating,
            ExecKind::Heal => EnvStatus::Healing,
            ExecKind::Rollback => EnvStatus::RollingBack,
            ExecKind::Uninstall => EnvStatus::Uninstalling,
        };
        self.running.insert(id.to_string());
        // An interrupted child never stopped counting as running in its rollout; a failed
        // one did, and counts again now.
        if !was_interrupted {
            self.rollout_child_resumed(id);
        }
        Ok(WorkflowResult::Execution {
            id: id.to_string(),
            state: ExecState::Running,
        })
    }

    /// Marks every running execution interrupted (a state restored from a backup: the
    /// calls they had in flight belong to the old cluster); their ids, in order.
    pub(crate) fn interrupt_running(&mut self) -> Vec<String> {
        let ids: Vec<String> = std::mem::take(&mut self.running).into_iter().collect();
        for id in &ids {
            if let Some(exec) = self.executions.get_mut(id) {
                // Only running executions are in the running set (an invariant).
                let _ = exec.interrupt();
            }
        }
        ids
    }

    pub(crate) fn cancel(&mut self, kv: &KvState, id: &str, now_ms: u64) -> Res<WorkflowResult> {
        let exec = self
            .executions
            .get_mut(id)
            .ok_or_else(|| WorkflowError::NotFound(format!("execution {id}")))?;
        let was_queued = exec.state == ExecState::Queued;
        let Some(env) = self.environments.get_mut(&exec.environment) else {
            return Err(WorkflowError::NotFound(format!(
                "environment {} of execution {id}",
                exec.environment
            )));
        };
        exec.cancel(now_ms)
            .map_err(WorkflowError::FailedPrecondition)?;
        if was_queued {
            env.queue.retain(|q| q != id);
            self.rollout_child_ended(id, now_ms);
        } else {
            self.end_execution(kv, id, now_ms);
        }
        Ok(WorkflowResult::Execution {
            id: id.to_string(),
            state: ExecState::Cancelled,
        })
    }

    /// Applies a batch of checkpoints, lets rollouts refill the slots their children freed,
    /// then dispatches up to `budget` steps made ready by all of it under this `term`.
    pub(crate) fn checkpoints(
        &mut self,
        kv: &KvState,
        at: At,
        items: &[Checkpoint],
        budget: u32,
    ) -> WorkflowResult {
        let At { term, now_ms, .. } = at;
        let results: Vec<CheckpointResult> =
            items.iter().map(|c| self.checkpoint(kv, at, c)).collect();
        let mut touched: Vec<String> = items
            .iter()
            .zip(&results)
            .filter_map(|(c, r)| match (c, r) {
                (Checkpoint::Result { execution, .. }, CheckpointResult::Recorded) => {
                    Some(execution.clone())
                }
                _ => None,
            })
            .collect();
        touched.extend(self.fill_rollouts(kv, now_ms));
        let mut dispatched = Vec::new();
        let mut seen = BTreeSet::new();
        for id in touched {
            if dispatched.len() >= budget as usize {
                break;
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(exec) = self.executions.get_mut(&id) else {
                continue;
            };
            for step in exec.dispatchable(term, now_ms) {
                if dispatched.len() >= budget as usize {
                    break;
                }
                if let Ok(attempt) = exec.dispatch_at(step, at) {
                    dispatched.push((id.clone(), step, attempt));
                }
            }
        }
        WorkflowResult::Checkpoints {
            results,
            dispatched,
        }
    }

    pub(crate) fn checkpoint(&mut self, kv: &KvState, at: At, c: &Checkpoint) -> CheckpointResult {
        match c {
            Checkpoint::Dispatch { execution, step } => {
                let Some(exec) = self.executions.get_mut(execution) else {
                    return CheckpointResult::Rejected(CheckpointRejected::NotRunning(
                        execution.clone(),
                    ));
                };
                match exec.dispatch_at(*step, at) {
                    Ok(attempt) => CheckpointResult::Dispatched { attempt },
                    Err(e) => CheckpointResult::Rejected(e),
                }
            }
            Checkpoint::Result {
                execution,
                step,
                attempt,
                outcome,
            } => self.record_result(kv, at, execution, *step, *attempt, outcome),
        }
    }

    /// Records the outcome of one attempt of a step and what it did to the environment.
    fn record_result(
        &mut self,
        kv: &KvState,
        at: At,
        execution: &str,
        step: u32,
        attempt: u32,
        outcome: &StepOutcome,
    ) -> CheckpointResult {
        let Some(exec) = self.executions.get_mut(execution) else {
            return CheckpointResult::Rejected(CheckpointRejected::NotRunning(
                execution.to_string(),
            ));
        };
        let Some(env) = self.environments.get_mut(&exec.environment) else {
            return CheckpointResult::Rejected(CheckpointRejected::NotRunning(
                execution.to_string(),
            ));
        };
        let now_ms = at.now_ms;
        if let Err(e) = exec.record_at(step, attempt, outcome, at) {
            return CheckpointResult::Rejected(e);
        }
        let Some(s) = exec.steps.get(step as usize).cloned() else {
            return CheckpointResult::Rejected(CheckpointRejected::NoSuchStep {
                execution: execution.to_string(),
                step,
            });
        };
        if s.state == StepState::Succeeded {
            record_step_effect(env, &exec.steps, &s, now_ms);
        }
        self.finish_if_ended(kv, execution, now_ms);
        CheckpointResult::Recorded
    }

    /// If execution `id` reached an end state, updates its environment and starts the next.
    pub(crate) fn finish_if_ended(&mut self, kv: &KvState, id: &str, now_ms: u64) {
        let Some(exec) = self.executions.get_mut(id) else {
            return;
        };
        if exec.state == ExecState::Running && exec.steps.is_empty() {
            exec.state = ExecState::Succeeded;
            exec.finished_ms = now_ms;
        }
        if exec.state.is_terminal() && self.running.contains(id) {
            self.end_execution(kv, id, now_ms);
        }
    }

    pub(crate) fn end_execution(&mut self, kv: &KvState, id: &str, now_ms: u64) {
        self.running.remove(id);
        self.rollout_child_ended(id, now_ms);
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        let Some(env) = self.environments.get_mut(&exec.environment) else {
            return;
        };
        if env.current_execution.as_deref() == Some(id) {
            env.current_execution = None;
        }
        env.updated_ms = now_ms;
        env.status = match (exec.state, exec.kind) {
            (ExecState::Succeeded, ExecKind::Uninstall) => EnvStatus::Uninstalled,
            (ExecState::Succeeded, _) => {
                if let Some(rev) = exec.target_revision {
                    env.revision = rev;
                    let record = RevisionRecord {
                        revision: rev,
                        inputs: env.inputs.clone(),
                    };
                    if exec.kind == ExecKind::Rollback {
                        // Rolling back pops the revision we left.
                        env.history.pop();
                        if let Some(prev) = env.history.last() {
                            env.inputs = prev.inputs.clone();
                        }
                    } else if env.history.last() != Some(&record) {
                        env.history.push(record);
                        if env.history.len() > HISTORY_LIMIT {
                            env.history.remove(0);
                        }
                    }
                }
                if env.drift().is_empty() {
                    EnvStatus::InSync
                } else {
                    EnvStatus::Drifted
                }
            }
            _ => EnvStatus::Failed,
        };
        let env_name = env.name.clone();
        self.start_next(kv, &env_name, now_ms);
    }
}

/// The resource at the site is what succeeded step `s` (one of `steps`) made it.
fn record_step_effect(env: &mut Environment, steps: &[Step], s: &Step, now_ms: u64) {
    match s.action {
        StepAction::Delete => {
            env.applied.remove(&s.resource);
            env.observed.remove(&s.resource);
        }
        StepAction::Create | StepAction::Modify => {
            let depends_on = s
                .depends_on
                .iter()
                .filter_map(|d| steps.get(*d as usize))
                .map(|d| d.resource.clone())
                .collect();
            env.applied.insert(
                s.resource.clone(),
                AppliedResource {
                    resource_type: s.resource_type.clone(),
                    properties: s.properties.clone(),
                    digest: s.desired_digest.clone(),
                    depends_on,
                },
            );
            env.observed.insert(
                s.resource.clone(),
                ObservedResource {
                    digest: Some(s.observed_digest.clone()),
                    observed_ms: now_ms,
                },
            );
        }
    }
}

/// The creation number of execution id `x42` or `x42-r…` (0 for an id of another shape,
/// which then sorts first).
pub(crate) fn execution_number(id: &str) -> u64 {
    let digits = id.strip_prefix('x').unwrap_or("");
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits.get(..end).and_then(|d| d.parse().ok()).unwrap_or(0)
}
