//! The invariants of the whole workflow registry, checked after every apply in tests and
//! debug builds (`MoorState::apply`). Each names what it found, so a broken transition is
//! caught at the command that broke it, not at a later, unrelated one.
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

use std::collections::BTreeSet;

use crate::execution::{Attempt, AttemptOutcome, ExecState, Step, StepState, MAX_ATTEMPTS_KEPT};
use crate::rollout::{Rollout, TargetState};
use crate::workflow::types::WorkflowState;

impl WorkflowState {
    /// The first invariant the registry breaks, described; `Ok` when all hold.
    pub fn invariants(&self) -> Result<(), String> {
        self.executions_hold()?;
        self.environments_hold()?;
        self.rollouts_hold()
    }

    fn executions_hold(&self) -> Result<(), String> {
        if let Some(site) = self
            .unreachable
            .keys()
            .find(|s| !self.sites.contains_key(*s))
        {
            return Err(format!("missing site {site} is recorded as unreachable"));
        }
        if self.index_from_executions() != self.by_environment {
            return Err(
                "the index of executions per environment disagrees with the executions".into(),
            );
        }
        for id in &self.running {
            match self.executions.get(id) {
                None => return Err(format!("running set names missing execution {id}")),
                Some(e) if e.state != ExecState::Running => {
                    return Err(format!("running set holds {id} in state {}", e.state))
                }
                Some(_) => {}
            }
        }
        for (id, e) in &self.executions {
            if &e.id != id {
                return Err(format!("execution stored under {id} calls itself {}", e.id));
            }
            let Some(env) = self.environments.get(&e.environment) else {
                return Err(format!(
                    "execution {id} belongs to missing environment {}",
                    e.environment
                ));
            };
            if e.state == ExecState::Running && !self.running.contains(id) {
                return Err(format!("running execution {id} is not in the running set"));
            }
            if matches!(e.state, ExecState::Running | ExecState::Interrupted)
                && env.current_execution.as_deref() != Some(id)
            {
                return Err(format!(
                    "{} execution {id} is not the current execution of {}",
                    e.state, e.environment
                ));
            }
            if e.state == ExecState::Queued && !env.queue.contains(id) {
                return Err(format!(
                    "queued execution {id} is not in the queue of {}",
                    e.environment
                ));
            }
            let n = e.steps.len();
            for (i, s) in e.steps.iter().enumerate() {
                if let Some(d) = s.depends_on.iter().find(|d| **d as usize >= n) {
                    return Err(format!(
                        "execution {id} step {i} depends on missing step {d}"
                    ));
                }
                if s.state == StepState::Dispatched && s.attempt == 0 {
                    return Err(format!(
                        "execution {id} step {i} is dispatched with no attempt"
                    ));
                }
                attempts_hold(id, i, s)?;
                // A cancel leaves calls in flight as they are (their outcome is unknown);
                // every other end state waits for them.
                if s.state == StepState::Dispatched
                    && !matches!(
                        e.state,
                        ExecState::Running | ExecState::Cancelled | ExecState::Interrupted
                    )
                {
                    return Err(format!(
                        "execution {id} is {} but its step {i} is still dispatched",
                        e.state
                    ));
                }
            }
            if e.state == ExecState::Succeeded
                && e.steps.iter().any(|s| s.state != StepState::Succeeded)
            {
                return Err(format!(
                    "execution {id} succeeded with a step not succeeded"
                ));
            }
            if let Some(rid) = &e.rollout {
                if !self.rollouts.rollouts.contains_key(rid) {
                    return Err(format!("execution {id} belongs to missing rollout {rid}"));
                }
            }
        }
        Ok(())
    }

    fn environments_hold(&self) -> Result<(), String> {
        for (name, env) in &self.environments {
            if &env.name != name {
                return Err(format!(
                    "environment stored under {name} calls itself {}",
                    env.name
                ));
            }
            if !self.sites.contains_key(&env.site) {
                return Err(format!(
                    "environment {name} is on missing site {}",
                    env.site
                ));
            }
            if let Some(id) = &env.current_execution {
                match self.executions.get(id) {
                    Some(e)
                        if e.environment == *name
                            && matches!(e.state, ExecState::Running | ExecState::Interrupted) => {}
                    Some(e) => {
                        return Err(format!(
                            "environment {name}'s current execution {id} is {} on {}",
                            e.state, e.environment
                        ))
                    }
                    None => {
                        return Err(format!(
                            "environment {name}'s current execution {id} is missing"
                        ))
                    }
                }
            }
            let mut seen = BTreeSet::new();
            for id in &env.queue {
                if !seen.insert(id) {
                    return Err(format!("environment {name} queues {id} twice"));
                }
                match self.executions.get(id) {
                    Some(e) if e.environment == *name && e.state == ExecState::Queued => {}
                    _ => {
                        return Err(format!(
                            "environment {name} queues {id}, which is not a queued execution of it"
                        ))
                    }
                }
            }
            if let Some(id) = &env.latest_execution {
                if !self.executions.contains_key(id) {
                    return Err(format!(
                        "environment {name}'s latest execution {id} is missing"
                    ));
                }
            }
        }
        Ok(())
    }

    fn rollouts_hold(&self) -> Result<(), String> {
        let rs = &self.rollouts;
        for id in &rs.active {
            if !rs.rollouts.contains_key(id) {
                return Err(format!("active set names missing rollout {id}"));
            }
        }
        for (id, r) in &rs.rollouts {
            counts_hold(id, r)?;
            if r.running > 0 && !rs.active.contains(id) {
                return Err(format!(
                    "rollout {id} runs {} children but is not active",
                    r.running
                ));
            }
            progress_holds(id, r)?;
            self.children_hold(id, r)?;
        }
        Ok(())
    }

    /// Every running target of rollout `id` has a child execution that points back at it.
    fn children_hold(&self, id: &str, r: &Rollout) -> Result<(), String> {
        for (i, t) in r.targets.iter().enumerate() {
            if t.state == TargetState::Running {
                let Some(x) = &t.execution else {
                    return Err(format!("rollout {id} target {i} runs with no execution"));
                };
                match self.executions.get(x) {
                    Some(e)
                        if e.rollout.as_deref() == Some(id)
                            && e.rollout_target == Some(i as u32) => {}
                    _ => {
                        return Err(format!(
                            "rollout {id} target {i}'s child {x} is missing or belongs elsewhere"
                        ))
                    }
                }
            }
        }
        Ok(())
    }
}

/// The counters of rollout `id` match its targets' states.
/// A step's attempt history: bounded, and only its latest attempt may be running, the one
/// the step is dispatched with.
fn attempts_hold(id: &str, i: usize, s: &Step) -> Result<(), String> {
    if s.attempts.len() > MAX_ATTEMPTS_KEPT {
        return Err(format!(
            "execution {id} step {i} keeps {} attempts, more than {MAX_ATTEMPTS_KEPT}",
            s.attempts.len()
        ));
    }
    let running: Vec<&Attempt> = s
        .attempts
        .iter()
        .filter(|a| a.outcome == AttemptOutcome::Running)
        .collect();
    match running.as_slice() {
        [] => Ok(()),
        [a] if s.state == StepState::Dispatched
            && a.attempt == s.attempt
            && s.attempts.last() == Some(*a) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "execution {id} step {i} ({:?}, attempt {}) has running attempts {:?}",
            s.state,
            s.attempt,
            running.iter().map(|a| a.attempt).collect::<Vec<_>>()
        )),
    }
}

fn counts_hold(id: &str, r: &Rollout) -> Result<(), String> {
    let count = |s: TargetState| r.targets.iter().filter(|t| t.state == s).count() as u64;
    let counts = [
        ("running", r.running, TargetState::Running),
        ("succeeded", r.succeeded, TargetState::Succeeded),
        ("failed", r.failed, TargetState::Failed),
        ("skipped", r.skipped, TargetState::Skipped),
    ];
    for (what, counter, state) in counts {
        if u64::from(counter) != count(state) {
            return Err(format!(
                "rollout {id} counts {counter} {what} targets but {} are",
                count(state)
            ));
        }
    }
    Ok(())
}

/// The waves, the cursor and the retry queue of rollout `id` stay within its targets.
fn progress_holds(id: &str, r: &Rollout) -> Result<(), String> {
    if r.wave_ends.is_empty() || r.wave as usize >= r.wave_ends.len() {
        return Err(format!(
            "rollout {id} is in wave {} of {}",
            r.wave,
            r.wave_ends.len()
        ));
    }
    if r.wave_ends.last().map(|e| *e as usize) != Some(r.targets.len())
        || r.wave_ends
            .iter()
            .zip(r.wave_ends.iter().skip(1))
            .any(|(a, b)| a > b)
    {
        return Err(format!(
            "rollout {id}'s waves {:?} do not cover its {} targets",
            r.wave_ends,
            r.targets.len()
        ));
    }
    if r.next as usize > r.targets.len() {
        return Err(format!(
            "rollout {id}'s cursor {} is past its {} targets",
            r.next,
            r.targets.len()
        ));
    }
    if let Some(i) = r
        .retry_queue
        .iter()
        .find(|i| **i as usize >= r.targets.len())
    {
        return Err(format!("rollout {id} queues missing target {i} for retry"));
    }
    Ok(())
}
