//! The replicated transitions of groups and rollouts: resolving a group into targets,
//! starting child executions up to the caps, and reacting when a child ends. See
//! `rollout.rs` for the data and why scheduling happens inside apply rather than in the
//! executor.
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

use crate::environment::Inputs;
use crate::execution::{ExecKind, ExecState, RetryPolicy};
use crate::kv::KvState;
use crate::rollout::{
    resolve_waves, Group, GroupKind, Rollout, RolloutAction, RolloutOp, RolloutSpec, RolloutState,
    Target, TargetState, MAX_TARGETS,
};
use crate::site::validate_name;
use crate::workflow::environments::NewEnvironment;

use crate::workflow::types::{Res, WorkflowError, WorkflowResult, WorkflowState};

impl WorkflowState {
    pub(crate) fn put_group(&mut self, group: &Group, now_ms: u64) -> Res<WorkflowResult> {
        validate_name("group", &group.name).map_err(WorkflowError::Invalid)?;
        if let Some(policy) = &group.drift {
            policy.validate().map_err(WorkflowError::Invalid)?;
        }
        let mut group = group.clone();
        group.updated_ms = now_ms;
        let created = match self.rollouts.groups.get(&group.name) {
            Some(old) => {
                group.created_ms = old.created_ms;
                false
            }
            None => {
                group.created_ms = now_ms;
                true
            }
        };
        let matches = self.group_members(&group).len() as u64;
        self.rollouts
            .groups
            .insert(group.name.clone(), group.clone());
        Ok(WorkflowResult::Group {
            name: group.name,
            created,
            matches,
        })
    }

    pub(crate) fn delete_group(&mut self, name: &str) -> Res<WorkflowResult> {
        self.rollouts
            .groups
            .remove(name)
            .map(|_| WorkflowResult::Done)
            .ok_or_else(|| WorkflowError::NotFound(format!("group {name}")))
    }

    /// Names of the sites or environments a group selects now, sorted.
    pub fn group_members(&self, group: &Group) -> Vec<String> {
        match group.kind {
            GroupKind::Sites => self
                .sites
                .values()
                .filter(|s| {
                    group
                        .selector
                        .matches(&s.name, &s.labels, ("region", &s.region))
                })
                .map(|s| s.name.clone())
                .collect(),
            GroupKind::Environments => self
                .environments
                .values()
                .filter(|e| {
                    group
                        .selector
                        .matches(&e.name, &e.labels, ("site", &e.site))
                })
                .map(|e| e.name.clone())
                .collect(),
        }
    }

    pub(crate) fn start_rollout(
        &mut self,
        kv: &KvState,
        spec: &RolloutSpec,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        if spec.max_parallel == 0 {
            return Err(WorkflowError::Invalid(
                "max_parallel must be at least 1".into(),
            ));
        }
        let group = self
            .rollouts
            .groups
            .get(&spec.group)
            .ok_or_else(|| WorkflowError::NotFound(format!("group {}", spec.group)))?;
        let install = matches!(spec.action, RolloutAction::Install { .. });
        match (group.kind, install) {
            (GroupKind::Sites, false) => {
                return Err(WorkflowError::Invalid(format!(
                    "group {} selects sites; a {} rollout needs a group of environments \
                     (an install rollout creates environments on sites)",
                    spec.group,
                    spec.action.name()
                )))
            }
            (GroupKind::Environments, true) => {
                return Err(WorkflowError::Invalid(format!(
                    "group {} selects environments; an install rollout needs a group of sites \
                     to create environments on (use an update rollout for existing ones)",
                    spec.group
                )))
            }
            _ => {}
        }
        for (name, present) in spec.group_explicit_names(group, self) {
            if !present {
                return Err(WorkflowError::NotFound(format!(
                    "{} {name}, listed by name in group {}",
                    if install { "site" } else { "environment" },
                    spec.group
                )));
            }
        }
        let members = self.group_members(group);
        if members.is_empty() {
            return Err(WorkflowError::FailedPrecondition(format!(
                "group {} selects no {} now; nothing was started",
                spec.group,
                if install { "sites" } else { "environments" }
            )));
        }
        if members.len() > MAX_TARGETS {
            return Err(WorkflowError::Invalid(format!(
                "group {} selects {} targets; a rollout takes at most {MAX_TARGETS}: split the group",
                spec.group,
                members.len()
            )));
        }
        let wave_ends =
            resolve_waves(&spec.waves.waves, members.len()).map_err(WorkflowError::Invalid)?;
        let (action, targets) = self.rollout_targets(kv, &spec.action, members)?;
        self.rollouts.next_rollout += 1;
        let id = format!("r{}", self.rollouts.next_rollout);
        let rollout = Rollout::new(
            id.clone(),
            spec.group.clone(),
            action,
            (spec.retry, spec.max_parallel, spec.budget),
            (spec.waves.text.clone(), wave_ends, spec.require_approval),
            targets,
            now_ms,
        );
        self.rollouts.rollouts.insert(id.clone(), rollout);
        self.rollouts.active.insert(id.clone());
        self.fill_rollouts(kv, now_ms);
        Ok(WorkflowResult::Rollout { id })
    }

    /// Checks the action against every target and returns it resolved (latest revision
    /// made explicit) with the targets in order.
    pub(crate) fn rollout_targets(
        &self,
        kv: &KvState,
        action: &RolloutAction,
        members: Vec<String>,
    ) -> Res<(RolloutAction, Vec<Target>)> {
        match action {
            RolloutAction::Install {
                blueprint,
                revision,
                inputs,
                environment_name,
                labels,
            } => {
                let rev = self
                    .blueprint(blueprint, (*revision != 0).then_some(*revision))?
                    .revision;
                self.render_check(kv, blueprint, rev, inputs)?;
                let template = env_name_template(environment_name)?;
                let targets = self.install_targets(template, blueprint, members)?;
                Ok((
                    RolloutAction::Install {
                        blueprint: blueprint.clone(),
                        revision: rev,
                        inputs: inputs.clone(),
                        environment_name: template.to_string(),
                        labels: labels.clone(),
                    },
                    targets,
                ))
            }
            RolloutAction::Update { revision, inputs } => {
                self.check_update(kv, *revision, inputs.as_ref(), &members)?;
                Ok((action.clone(), plain_targets(members)))
            }
            RolloutAction::Uninstall | RolloutAction::Heal | RolloutAction::Rollback => {
                Ok((action.clone(), plain_targets(members)))
            }
        }
    }

    /// One target per site, each named by `template`. Refused if any of those environments
    /// exists already: an install must not take over what another blueprint or rollout made.
    fn install_targets(
        &self,
        template: &str,
        blueprint: &str,
        sites: Vec<String>,
    ) -> Res<Vec<Target>> {
        let mut existing = Vec::new();
        let mut targets = Vec::with_capacity(sites.len());
        for site in sites {
            let env = template
                .replace("{site}", &site)
                .replace("{blueprint}", blueprint);
            validate_name("environment", &env).map_err(WorkflowError::Invalid)?;
            if self.environments.contains_key(&env) {
                existing.push(env.clone());
            }
            targets.push(Target {
                environment: env,
                site: Some(site),
                state: TargetState::Queued,
                execution: None,
            });
        }
        if !existing.is_empty() {
            return Err(WorkflowError::FailedPrecondition(format!(
                "{} of the environments this install would create already exist ({}{}): \
                 update them with an update rollout, or choose another --env-name template",
                existing.len(),
                existing
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                if existing.len() > 3 { ", …" } else { "" }
            )));
        }
        Ok(targets)
    }

    /// Checks that every environment exists and has the revision asked for, and, when new
    /// inputs are given, that they render.
    fn check_update(
        &self,
        kv: &KvState,
        revision: Option<u64>,
        inputs: Option<&Inputs>,
        environments: &[String],
    ) -> Res<()> {
        // Check each (blueprint, revision) pair once, not each environment.
        let mut checked = BTreeSet::new();
        for name in environments {
            let Some(env) = self.environments.get(name) else {
                return Err(WorkflowError::NotFound(format!("environment {name}")));
            };
            let rev = self.blueprint(&env.blueprint, revision)?.revision;
            if let Some(inputs) = inputs {
                if checked.insert((env.blueprint.clone(), rev)) {
                    self.render_check(kv, &env.blueprint, rev, inputs)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn control_rollout(
        &mut self,
        kv: &KvState,
        id: &str,
        op: RolloutOp,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        let r = self
            .rollouts
            .rollouts
            .get_mut(id)
            .ok_or_else(|| WorkflowError::NotFound(format!("rollout {id}")))?;
        let precondition = WorkflowError::FailedPrecondition;
        match op {
            RolloutOp::Pause => r.pause(now_ms).map_err(precondition)?,
            RolloutOp::Resume => {
                r.resume(now_ms).map_err(precondition)?;
                self.rollouts.active.insert(id.to_string());
            }
            RolloutOp::Approve => r.approve(now_ms).map_err(precondition)?,
            RolloutOp::SetMaxParallel(n) => r.set_max_parallel(n, now_ms).map_err(precondition)?,
            RolloutOp::Cancel => {
                for execution in r.cancel(now_ms).map_err(precondition)? {
                    // Running children stop dispatching; their in-flight steps still report.
                    let _ = self.cancel(kv, &execution, now_ms);
                }
            }
            RolloutOp::Rollback => return self.rollback_rollout(kv, id, now_ms),
        }
        self.fill_rollouts(kv, now_ms);
        Ok(WorkflowResult::Rollout { id: id.to_string() })
    }

    /// A new rollout over the targets `id` changed successfully, undoing the change: an
    /// install is undone by uninstalling, an update by rolling back to the previous revision.
    pub(crate) fn rollback_rollout(
        &mut self,
        kv: &KvState,
        id: &str,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        let r = self
            .rollouts
            .rollouts
            .get(id)
            .ok_or_else(|| WorkflowError::NotFound(format!("rollout {id}")))?;
        if matches!(
            r.state,
            RolloutState::Running | RolloutState::WaitingApproval
        ) || (r.state == RolloutState::Paused && r.running > 0)
        {
            return Err(WorkflowError::FailedPrecondition(format!(
                "rollout {id} is {} with {} targets running: pause or cancel it and wait for \
                 them to finish, then roll back",
                crate::rollout::state_name(r.state),
                r.running
            )));
        }
        if let Some(by) = &r.rolled_back_by {
            return Err(WorkflowError::FailedPrecondition(format!(
                "rollout {id} was already rolled back by {by}"
            )));
        }
        let action = match r.action {
            RolloutAction::Install { .. } => RolloutAction::Uninstall,
            RolloutAction::Update { .. } => RolloutAction::Rollback,
            RolloutAction::Uninstall | RolloutAction::Heal | RolloutAction::Rollback => {
                return Err(WorkflowError::FailedPrecondition(format!(
                    "a {} rollout cannot be rolled back: start the opposite rollout instead",
                    r.action.name()
                )))
            }
        };
        let targets: Vec<String> = r
            .targets
            .iter()
            .filter(|t| t.state == TargetState::Succeeded)
            .map(|t| t.environment.clone())
            .collect();
        if targets.is_empty() {
            return Err(WorkflowError::FailedPrecondition(format!(
                "rollout {id} changed no target successfully; there is nothing to roll back"
            )));
        }
        let (retry, max_parallel, budget, group) =
            (r.retry, r.max_parallel, r.budget, r.group.clone());
        let n = targets.len() as u32;
        self.rollouts.next_rollout += 1;
        let new_id = format!("r{}", self.rollouts.next_rollout);
        let mut rollout = Rollout::new(
            new_id.clone(),
            group,
            action,
            (retry, max_parallel, budget),
            (String::new(), vec![n], false),
            plain_targets(targets),
            now_ms,
        );
        rollout.rollback_of = Some(id.to_string());
        if let Some(old) = self.rollouts.rollouts.get_mut(id) {
            old.rolled_back_by = Some(new_id.clone());
        }
        self.rollouts.rollouts.insert(new_id.clone(), rollout);
        self.rollouts.active.insert(new_id.clone());
        self.fill_rollouts(kv, now_ms);
        Ok(WorkflowResult::Rollout { id: new_id })
    }

    pub(crate) fn set_rollout_limits(
        &mut self,
        kv: &KvState,
        max_parallel_total: u32,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        if max_parallel_total == 0 {
            return Err(WorkflowError::Invalid(
                "the global max_parallel must be at least 1".into(),
            ));
        }
        self.rollouts.max_parallel_total = max_parallel_total;
        self.fill_rollouts(kv, now_ms);
        Ok(WorkflowResult::Done)
    }

    /// Starts children of running rollouts until every cap is full or nothing is left to
    /// start, one child per rollout per round so rollouts share the global cap fairly.
    /// Returns the executions it started (their first steps may be dispatched at once).
    pub(crate) fn fill_rollouts(&mut self, kv: &KvState, now_ms: u64) -> Vec<String> {
        let mut started = Vec::new();
        if self.rollouts.active.is_empty() {
            return started;
        }
        let mut order: Vec<String> = self.rollouts.active.iter().cloned().collect();
        if let Some(from) = &self.rollouts.fill_from {
            let pos = order.iter().position(|id| id > from).unwrap_or(0);
            order.rotate_left(pos);
        }
        let cap = self.rollouts.max_parallel_total();
        let mut total = self.rollouts.running_total();
        loop {
            let mut progressed = false;
            for id in &order {
                let Some(r) = self.rollouts.rollouts.get_mut(id) else {
                    continue;
                };
                r.advance(now_ms);
                if total >= cap || !r.can_start() {
                    continue;
                }
                let Some(i) = r.next_startable() else {
                    continue;
                };
                r.take(i);
                let before = r.running;
                if let Some(x) = self.start_child(kv, id, i, now_ms) {
                    started.push(x);
                }
                let after = self.rollouts.rollouts.get(id).map_or(before, |r| r.running);
                total = (total + after).saturating_sub(before);
                self.rollouts.fill_from = Some(id.clone());
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        for id in &order {
            let Some(r) = self.rollouts.rollouts.get_mut(id) else {
                self.rollouts.active.remove(id);
                continue;
            };
            r.advance(now_ms);
            if r.running == 0 && r.state.is_ended() {
                self.rollouts.active.remove(id);
            }
        }
        started
    }

    /// Starts (or resumes) the child of target `i` of rollout `rid`; returns its execution
    /// if it is running.
    pub(crate) fn start_child(
        &mut self,
        kv: &KvState,
        rid: &str,
        i: u32,
        now_ms: u64,
    ) -> Option<String> {
        let r = self.rollouts.rollouts.get(rid)?;
        let target = r.targets.get(i as usize)?.clone();
        let (action, retry) = (r.action.clone(), r.retry);
        // A target queued again by a resume continues its failed execution from the
        // failed steps, touching nothing that succeeded.
        if let Some(x) = &target.execution {
            if self.is_resumable(x) {
                return match self.resume(x, now_ms) {
                    Ok(_) => {
                        self.rollout_mut(rid)?.started(i, x.clone());
                        Some(x.clone())
                    }
                    Err(e) => {
                        self.rollout_mut(rid)?.start_failed(i, &e.to_string());
                        None
                    }
                };
            }
        }
        let result = self.start_target(kv, rid, &target, &action, retry, now_ms);
        self.note_child_start(rid, i, result, now_ms)
    }

    /// Whether execution `x` failed and nothing else runs in its environment since.
    fn is_resumable(&self, x: &str) -> bool {
        self.executions.get(x).is_some_and(|e| {
            e.state == ExecState::Failed
                && self
                    .environments
                    .get(&e.environment)
                    .is_some_and(|env| env.current_execution.is_none())
        })
    }

    /// Starts a new execution of `action` for `target`, creating its environment on an
    /// install.
    fn start_target(
        &mut self,
        kv: &KvState,
        rid: &str,
        target: &Target,
        action: &RolloutAction,
        retry: RetryPolicy,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        let env = target.environment.as_str();
        match action {
            RolloutAction::Install {
                blueprint,
                revision,
                inputs,
                labels,
                ..
            } if !self.environments.contains_key(env) => {
                let mut labels = labels.clone();
                labels.insert("moor.rollout".into(), rid.to_string());
                self.create_environment(
                    kv,
                    NewEnvironment {
                        name: env,
                        site: target.site.as_deref().unwrap_or_default(),
                        blueprint,
                        revision: Some(*revision),
                        inputs,
                        labels: &labels,
                        retry,
                        // A group's policy applies to the environments it creates.
                        drift: None,
                    },
                    now_ms,
                )
            }
            RolloutAction::Install { revision, .. } => {
                // Created by an earlier attempt whose execution is gone or not resumable:
                // install the revision again (the planner skips what is in place).
                self.start_execution(
                    kv,
                    env,
                    ExecKind::Install,
                    Some(*revision),
                    None,
                    retry,
                    now_ms,
                )
            }
            RolloutAction::Update { revision, inputs } => self.start_execution(
                kv,
                env,
                ExecKind::Update,
                *revision,
                inputs.as_ref(),
                retry,
                now_ms,
            ),
            RolloutAction::Uninstall => {
                self.start_execution(kv, env, ExecKind::Uninstall, None, None, retry, now_ms)
            }
            RolloutAction::Heal => {
                self.start_execution(kv, env, ExecKind::Heal, None, None, retry, now_ms)
            }
            RolloutAction::Rollback => {
                self.start_execution(kv, env, ExecKind::Rollback, None, None, retry, now_ms)
            }
        }
    }

    /// Ties the execution `start_target` returned to target `i` of rollout `rid`, or marks
    /// the target failed to start; returns the execution if it is running.
    fn note_child_start(
        &mut self,
        rid: &str,
        i: u32,
        result: Res<WorkflowResult>,
        now_ms: u64,
    ) -> Option<String> {
        match result {
            Ok(WorkflowResult::Execution { id, state }) => {
                let exec = self.executions.get_mut(&id)?;
                exec.rollout = Some(rid.to_string());
                exec.rollout_target = Some(i);
                let error = exec.error.clone();
                let r = self.rollout_mut(rid)?;
                r.started(i, id.clone());
                if state.is_terminal() {
                    // Nothing to do (or nothing plannable): it ended within this command.
                    r.child_ended(i, state, error.as_deref(), now_ms);
                    None
                } else {
                    Some(id)
                }
            }
            Ok(other) => {
                self.rollout_mut(rid)?
                    .start_failed(i, &format!("unexpected result {other:?}"));
                None
            }
            Err(e) => {
                self.rollout_mut(rid)?.start_failed(i, &e.to_string());
                None
            }
        }
    }

    pub(crate) fn rollout_mut(&mut self, id: &str) -> Option<&mut Rollout> {
        self.rollouts.rollouts.get_mut(id)
    }

    /// Called whenever execution `id` ends (succeeded, failed, cancelled, or could not be
    /// planned): tells its rollout, if it has one.
    pub(crate) fn rollout_child_ended(&mut self, id: &str, now_ms: u64) {
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        let (Some(rid), Some(i)) = (exec.rollout.clone(), exec.rollout_target) else {
            return;
        };
        let (state, error) = (exec.state, exec.error.clone());
        if let Some(r) = self.rollouts.rollouts.get_mut(&rid) {
            r.child_ended(i, state, error.as_deref(), now_ms);
        }
    }

    /// Called when a failed execution is resumed by hand.
    pub(crate) fn rollout_child_resumed(&mut self, id: &str) {
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        let (Some(rid), Some(i)) = (exec.rollout.clone(), exec.rollout_target) else {
            return;
        };
        if let Some(r) = self.rollouts.rollouts.get_mut(&rid) {
            r.child_resumed(i);
            self.rollouts.active.insert(rid);
        }
    }
}

impl RolloutSpec {
    /// For each name listed explicitly in the group: whether it exists.
    fn group_explicit_names<'a>(
        &self,
        group: &'a Group,
        state: &WorkflowState,
    ) -> Vec<(&'a str, bool)> {
        group
            .selector
            .names
            .iter()
            .map(|n| {
                let present = match group.kind {
                    GroupKind::Sites => state.sites.contains_key(n),
                    GroupKind::Environments => state.environments.contains_key(n),
                };
                (n.as_str(), present)
            })
            .collect()
    }
}

/// The install's environment name template, the default one if none was given. Refused
/// without `{site}`: every site gets its own environment.
fn env_name_template(environment_name: &str) -> Res<&str> {
    let template = if environment_name.is_empty() {
        "{blueprint}-{site}"
    } else {
        environment_name
    };
    if !template.contains("{site}") {
        return Err(WorkflowError::Invalid(format!(
            "environment name template {template:?} must contain {{site}}: \
             every site gets its own environment"
        )));
    }
    Ok(template)
}

fn plain_targets(environments: Vec<String>) -> Vec<Target> {
    environments
        .into_iter()
        .map(|environment| Target {
            environment,
            site: None,
            state: TargetState::Queued,
            execution: None,
        })
        .collect()
}
