//! The replicated transitions of groups and rollouts: resolving a group into targets,
//! starting child executions up to the caps, and reacting when a child ends. Part of the
//! pure `apply` of [`WorkflowState`]; see `rollout.rs` for the data and why scheduling
//! happens here rather than in the executor.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::execution::{ExecKind, ExecState, RetryPolicy};
use crate::kv::KvState;
use crate::rollout::{
    parse_waves, resolve_waves, FailureBudget, Group, GroupKind, Rollout, RolloutAction,
    RolloutState, Target, TargetState, DEFAULT_MAX_PARALLEL_TOTAL, MAX_TARGETS,
};
use crate::site::validate_name;
use crate::workflow::{WorkflowError, WorkflowResult, WorkflowState};

type Res<T> = Result<T, WorkflowError>;

/// What a user asked for when starting a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutSpec {
    pub group: String,
    pub action: RolloutAction,
    pub retry: RetryPolicy,
    pub max_parallel: u32,
    pub waves: String,
    pub require_approval: bool,
    pub budget: FailureBudget,
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

/// Rollout bookkeeping kept in [`WorkflowState`].
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
        self.active.iter().map(|id| self.rollouts[id].running).sum()
    }
}

impl WorkflowState {
    pub(crate) fn put_group(&mut self, group: &Group, now_ms: u64) -> Res<WorkflowResult> {
        validate_name("group", &group.name).map_err(WorkflowError::Invalid)?;
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
        let waves = parse_waves(&spec.waves).map_err(WorkflowError::Invalid)?;
        let wave_ends = resolve_waves(&waves, members.len()).map_err(WorkflowError::Invalid)?;
        let (action, targets) = self.rollout_targets(kv, &spec.action, members)?;
        self.rollouts.next_rollout += 1;
        let id = format!("r{}", self.rollouts.next_rollout);
        let rollout = Rollout::new(
            id.clone(),
            spec.group.clone(),
            action,
            (spec.retry, spec.max_parallel, spec.budget),
            (spec.waves.clone(), wave_ends, spec.require_approval),
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
    fn rollout_targets(
        &self,
        kv: &KvState,
        action: &RolloutAction,
        members: Vec<String>,
    ) -> Res<(RolloutAction, Vec<Target>)> {
        match action {
            RolloutAction::Install {
                blueprint,
                revision,
                inputs_json,
                environment_name,
                labels,
            } => {
                let rev = self
                    .blueprint(blueprint, (*revision != 0).then_some(*revision))?
                    .revision;
                self.render_check(kv, blueprint, rev, inputs_json)?;
                let template = if environment_name.is_empty() {
                    "{blueprint}-{site}"
                } else {
                    environment_name.as_str()
                };
                if !template.contains("{site}") {
                    return Err(WorkflowError::Invalid(format!(
                        "environment name template {template:?} must contain {{site}}: \
                         every site gets its own environment"
                    )));
                }
                let mut existing = Vec::new();
                let mut targets = Vec::with_capacity(members.len());
                for site in members {
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
                        existing[..existing.len().min(3)].join(", "),
                        if existing.len() > 3 { ", …" } else { "" }
                    )));
                }
                Ok((
                    RolloutAction::Install {
                        blueprint: blueprint.clone(),
                        revision: rev,
                        inputs_json: inputs_json.clone(),
                        environment_name: template.to_string(),
                        labels: labels.clone(),
                    },
                    targets,
                ))
            }
            RolloutAction::Update {
                revision,
                inputs_json,
            } => {
                // Check each (blueprint, revision) pair once, not each environment.
                let mut checked = BTreeSet::new();
                for name in &members {
                    let env = &self.environments[name];
                    let rev = self.blueprint(&env.blueprint, *revision)?.revision;
                    if let Some(inputs) = inputs_json {
                        if checked.insert((env.blueprint.clone(), rev)) {
                            self.render_check(kv, &env.blueprint, rev, inputs)?;
                        }
                    }
                }
                Ok((action.clone(), plain_targets(members)))
            }
            RolloutAction::Uninstall | RolloutAction::Heal | RolloutAction::Rollback => {
                Ok((action.clone(), plain_targets(members)))
            }
        }
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
    fn rollback_rollout(&mut self, kv: &KvState, id: &str, now_ms: u64) -> Res<WorkflowResult> {
        let r = &self.rollouts.rollouts[id];
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
        self.rollouts
            .rollouts
            .get_mut(id)
            .expect("checked above")
            .rolled_back_by = Some(new_id.clone());
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
                let r = self.rollouts.rollouts.get_mut(id).expect("active exists");
                r.advance(now_ms);
                if total >= cap || !r.can_start() {
                    continue;
                }
                let i = r.next_startable().expect("can_start checked");
                r.take(i);
                let before = r.running;
                if let Some(x) = self.start_child(kv, id, i, now_ms) {
                    started.push(x);
                }
                let after = self.rollouts.rollouts[id].running;
                total = total + after - before;
                self.rollouts.fill_from = Some(id.clone());
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        for id in &order {
            let r = self.rollouts.rollouts.get_mut(id).expect("active exists");
            r.advance(now_ms);
            if r.running == 0 && r.state.is_ended() {
                self.rollouts.active.remove(id);
            }
        }
        started
    }

    /// Starts (or resumes) the child of target `i` of rollout `rid`; returns its execution
    /// if it is running.
    fn start_child(&mut self, kv: &KvState, rid: &str, i: u32, now_ms: u64) -> Option<String> {
        let r = &self.rollouts.rollouts[rid];
        let target = r.targets[i as usize].clone();
        let (action, retry) = (r.action.clone(), r.retry);
        // A target queued again by a resume continues its failed execution from the
        // failed steps, touching nothing that succeeded.
        if let Some(x) = &target.execution {
            let resumable = self.executions.get(x).is_some_and(|e| {
                e.state == ExecState::Failed
                    && self
                        .environments
                        .get(&e.environment)
                        .is_some_and(|env| env.current_execution.is_none())
            });
            if resumable {
                return match self.resume(x, now_ms) {
                    Ok(_) => {
                        self.rollout_mut(rid).started(i, x.clone());
                        Some(x.clone())
                    }
                    Err(e) => {
                        self.rollout_mut(rid).start_failed(i, &e.to_string());
                        None
                    }
                };
            }
        }
        let env = target.environment.as_str();
        let result = match &action {
            RolloutAction::Install {
                blueprint,
                revision,
                inputs_json,
                labels,
                ..
            } if !self.environments.contains_key(env) => {
                let mut labels = labels.clone();
                labels.insert("moor.rollout".into(), rid.to_string());
                self.create_environment(
                    kv,
                    env,
                    target.site.as_deref().unwrap_or_default(),
                    blueprint,
                    Some(*revision),
                    inputs_json,
                    &labels,
                    retry,
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
            RolloutAction::Update {
                revision,
                inputs_json,
            } => self.start_execution(
                kv,
                env,
                ExecKind::Update,
                *revision,
                inputs_json.as_deref(),
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
        };
        match result {
            Ok(WorkflowResult::Execution { id, state }) => {
                let exec = self.executions.get_mut(&id).expect("just created");
                exec.rollout = Some(rid.to_string());
                exec.rollout_target = Some(i);
                let error = exec.error.clone();
                let r = self.rollout_mut(rid);
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
                self.rollout_mut(rid)
                    .start_failed(i, &format!("unexpected result {other:?}"));
                None
            }
            Err(e) => {
                self.rollout_mut(rid).start_failed(i, &e.to_string());
                None
            }
        }
    }

    fn rollout_mut(&mut self, id: &str) -> &mut Rollout {
        self.rollouts.rollouts.get_mut(id).expect("rollout exists")
    }

    /// Called whenever execution `id` ends (succeeded, failed, cancelled, or could not be
    /// planned): tells its rollout, if it has one.
    pub(crate) fn rollout_child_ended(&mut self, id: &str, now_ms: u64) {
        let exec = &self.executions[id];
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
        let exec = &self.executions[id];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::StepOutcome;
    use crate::rollout::Selector;
    use crate::site::{Driver, Site};
    use crate::workflow::{Checkpoint, CheckpointResult, WorkflowCommand};

    const BP1: &str = "name: app\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: 1 }\n  - name: b\n    type: sim.resource\n    depends_on: [a]\n    properties: { v: 2 }\n";
    const BP2: &str = "name: app\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: 10 }\n  - name: b\n    type: sim.resource\n    depends_on: [a]\n    properties: { v: 20 }\n";

    fn world(sites: usize) -> (WorkflowState, KvState) {
        let mut w = WorkflowState::default();
        let kv = KvState::default();
        w.apply(
            &kv,
            1,
            &WorkflowCommand::PutBlueprint {
                source_name: "app.yaml".into(),
                source: BP1.into(),
                now_ms: 1,
            },
        );
        for i in 0..sites {
            let labels = [("tier".to_string(), "edge".to_string())].into();
            let r = w.apply(
                &kv,
                1,
                &WorkflowCommand::PutSite {
                    site: Site {
                        name: format!("s{i:03}"),
                        region: if i % 2 == 0 { "eu" } else { "us" }.into(),
                        latitude: 0.0,
                        longitude: 0.0,
                        labels,
                        driver: Driver::Agent {
                            endpoint: "127.0.0.1:9".into(),
                        },
                    },
                    now_ms: 1,
                },
            );
            assert!(matches!(r, WorkflowResult::Site { .. }), "{r:?}");
        }
        for (name, kind) in [
            ("edge", GroupKind::Sites),
            ("apps", GroupKind::Environments),
        ] {
            let r = w.put_group(
                &Group {
                    name: name.into(),
                    kind,
                    selector: Selector::default(),
                    created_ms: 0,
                    updated_ms: 0,
                },
                1,
            );
            assert!(r.is_ok());
        }
        (w, kv)
    }

    fn spec(group: &str, action: RolloutAction, parallel: u32, waves: &str) -> RolloutSpec {
        RolloutSpec {
            group: group.into(),
            action,
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            max_parallel: parallel,
            waves: waves.into(),
            require_approval: false,
            budget: FailureBudget::default(),
        }
    }

    fn install() -> RolloutAction {
        RolloutAction::Install {
            blueprint: "app".into(),
            revision: 0,
            inputs_json: "{}".into(),
            environment_name: String::new(),
            labels: BTreeMap::new(),
        }
    }

    fn start(w: &mut WorkflowState, kv: &KvState, s: RolloutSpec) -> WorkflowResult {
        w.apply(kv, 1, &WorkflowCommand::StartRollout { spec: s, now_ms: 5 })
    }

    fn control(w: &mut WorkflowState, kv: &KvState, id: &str, op: RolloutOp) -> WorkflowResult {
        w.apply(
            kv,
            1,
            &WorkflowCommand::ControlRollout {
                id: id.into(),
                op,
                now_ms: 6,
            },
        )
    }

    /// Plays the executor until nothing can be dispatched: every dispatchable step is
    /// dispatched and answered in one entry each round; steps of environments `fails`
    /// names fail for good. Returns the most children of `rollout` seen running at once.
    fn drive(
        w: &mut WorkflowState,
        kv: &KvState,
        rollout: &str,
        fails: &dyn Fn(&str) -> bool,
    ) -> u32 {
        let mut max_running = w.rollouts.rollouts[rollout].running;
        let mut now = 10;
        loop {
            now += 1;
            let ready: Vec<(String, u32)> = w
                .running
                .iter()
                .flat_map(|id| {
                    w.executions[id]
                        .dispatchable(1, now)
                        .into_iter()
                        .map(move |s| (id.clone(), s))
                })
                .collect();
            if ready.is_empty() {
                return max_running;
            }
            let items = ready
                .iter()
                .map(|(execution, step)| Checkpoint::Dispatch {
                    execution: execution.clone(),
                    step: *step,
                })
                .collect();
            let r = w.apply(
                kv,
                1,
                &WorkflowCommand::Checkpoints {
                    now_ms: now,
                    items,
                    dispatch_budget: 0,
                },
            );
            let WorkflowResult::Checkpoints { results, .. } = r else {
                panic!("{r:?}")
            };
            let items = ready
                .iter()
                .zip(results)
                .filter_map(|((execution, step), r)| {
                    let CheckpointResult::Dispatched { attempt } = r else {
                        return None;
                    };
                    let env = &w.executions[execution].environment;
                    let s = &w.executions[execution].steps[*step as usize];
                    Some(Checkpoint::Result {
                        execution: execution.clone(),
                        step: *step,
                        attempt,
                        outcome: if fails(env) {
                            StepOutcome::Failed {
                                error: "site says no".into(),
                                retryable: false,
                            }
                        } else {
                            StepOutcome::Done {
                                observed_digest: s.desired_digest.clone(),
                            }
                        },
                    })
                })
                .collect();
            w.apply(
                kv,
                1,
                &WorkflowCommand::Checkpoints {
                    now_ms: now,
                    items,
                    dispatch_budget: 0,
                },
            );
            let r = &w.rollouts.rollouts[rollout];
            max_running = max_running.max(r.running);
            assert!(r.running <= r.max_parallel, "cap exceeded: {}", r.running);
        }
    }

    fn rollout_id(r: &WorkflowResult) -> String {
        match r {
            WorkflowResult::Rollout { id } => id.clone(),
            other => panic!("expected a rollout, got {other:?}"),
        }
    }

    #[test]
    fn install_rollout_runs_in_waves_at_the_cap() {
        let (mut w, kv) = world(20);
        let id = rollout_id(&start(
            &mut w,
            &kv,
            spec("edge", install(), 3, "1,25%,100%"),
        ));
        let r = &w.rollouts.rollouts[&id];
        assert_eq!(r.wave_ends, vec![1, 5, 20]);
        // The canary wave holds one target, so only one started.
        assert_eq!((r.running, r.wave), (1, 0));
        let max = drive(&mut w, &kv, &id, &|_| false);
        assert_eq!(max, 3);
        let r = &w.rollouts.rollouts[&id];
        assert_eq!(r.state, RolloutState::Succeeded);
        assert_eq!(
            (r.succeeded, r.failed, r.running, r.queued()),
            (20, 0, 0, 0)
        );
        assert_eq!(w.environments.len(), 20);
        for e in w.environments.values() {
            assert_eq!(
                e.status,
                crate::environment::EnvStatus::InSync,
                "{}",
                e.name
            );
            assert_eq!(e.labels.get("moor.rollout"), Some(&id));
            assert!(e.name.starts_with("app-s"));
        }
        assert!(w.rollouts.active.is_empty());
    }

    #[test]
    fn budget_pauses_resume_retries_only_failed_and_rollback_reverts() {
        let (mut w, kv) = world(30);
        let id = rollout_id(&start(&mut w, &kv, spec("edge", install(), 4, "")));
        drive(&mut w, &kv, &id, &|_| false);
        // Update everything to revision 2; environments of sites 5..=12 fail.
        w.apply(
            &kv,
            1,
            &WorkflowCommand::PutBlueprint {
                source_name: "app.yaml".into(),
                source: BP2.into(),
                now_ms: 7,
            },
        );
        let mut s = spec(
            "apps",
            RolloutAction::Update {
                revision: None,
                inputs_json: None,
            },
            4,
            "",
        );
        s.budget.max_failed = Some(2);
        let up = rollout_id(&start(&mut w, &kv, s));
        let failing = |env: &str| ("app-s005".."app-s013").contains(&env);
        drive(&mut w, &kv, &up, &failing);
        let r = &w.rollouts.rollouts[&up];
        assert_eq!(r.state, RolloutState::Paused, "{r:?}");
        assert!(r.pause_reason.as_deref().unwrap().contains("budget"));
        // Paused as soon as the third failure arrived; children already running finished.
        assert!(r.failed >= 3 && r.failed <= 3 + 3, "{}", r.failed);
        assert_eq!(r.running, 0);
        assert!(r.queued() > 0, "paused before the end");
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert!(r.failures.keys().all(|k| k.contains("site says no")));
        assert_eq!(r.failures.values().sum::<u32>(), r.failed);
        let failed_execs: Vec<String> = r
            .targets
            .iter()
            .filter(|t| t.state == TargetState::Failed)
            .map(|t| t.execution.clone().unwrap())
            .collect();
        let succeeded_before = r.succeeded;
        // Resume with the sites healthy again: failed targets resume their own executions.
        assert!(matches!(
            control(&mut w, &kv, &up, RolloutOp::Resume),
            WorkflowResult::Rollout { .. }
        ));
        drive(&mut w, &kv, &up, &|_| false);
        let r = &w.rollouts.rollouts[&up];
        assert_eq!(r.state, RolloutState::Succeeded, "{r:?}");
        assert_eq!(r.succeeded, 30);
        for x in &failed_execs {
            let e = &w.executions[x];
            assert_eq!(e.state, ExecState::Succeeded);
            // Step b depends on a, which failed: a ran twice (attempt reset by resume),
            // nothing that had succeeded ran again.
            assert!(e.steps.iter().all(|s| s.attempt == 1), "{:?}", e.steps);
        }
        assert!(r.succeeded > succeeded_before);
        for e in w.environments.values() {
            assert_eq!(e.revision, 2);
        }
        // Rolling back the update takes every environment back to revision 1.
        let back = rollout_id(&control(&mut w, &kv, &up, RolloutOp::Rollback));
        assert_ne!(back, up);
        assert_eq!(
            w.rollouts.rollouts[&up].rolled_back_by.as_deref(),
            Some(back.as_str())
        );
        drive(&mut w, &kv, &back, &|_| false);
        let b = &w.rollouts.rollouts[&back];
        assert_eq!((b.state, b.succeeded), (RolloutState::Succeeded, 30));
        for e in w.environments.values() {
            assert_eq!(e.revision, 1, "{}", e.name);
        }
        // A second rollback of the same rollout is refused.
        assert!(matches!(
            control(&mut w, &kv, &up, RolloutOp::Rollback),
            WorkflowResult::Rejected(WorkflowError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn approval_between_waves_pause_and_cancel() {
        let (mut w, kv) = world(10);
        let mut s = spec("edge", install(), 2, "2,100%");
        s.require_approval = true;
        let id = rollout_id(&start(&mut w, &kv, s));
        drive(&mut w, &kv, &id, &|_| false);
        let r = &w.rollouts.rollouts[&id];
        assert_eq!(
            (r.state, r.succeeded, r.wave),
            (RolloutState::WaitingApproval, 2, 0)
        );
        assert!(matches!(
            control(&mut w, &kv, &id, RolloutOp::Resume),
            WorkflowResult::Rejected(WorkflowError::FailedPrecondition(m)) if m.contains("approve")
        ));
        control(&mut w, &kv, &id, RolloutOp::Approve);
        let r = &w.rollouts.rollouts[&id];
        assert_eq!((r.state, r.running, r.wave), (RolloutState::Running, 2, 1));
        control(&mut w, &kv, &id, RolloutOp::Pause);
        assert_eq!(w.rollouts.rollouts[&id].state, RolloutState::Paused);
        // Paused: the two running children finish, nothing new starts.
        drive(&mut w, &kv, &id, &|_| false);
        let r = &w.rollouts.rollouts[&id];
        assert_eq!((r.succeeded, r.running), (4, 0));
        control(&mut w, &kv, &id, RolloutOp::Resume);
        assert_eq!(w.rollouts.rollouts[&id].running, 2);
        control(&mut w, &kv, &id, RolloutOp::SetMaxParallel(3));
        assert_eq!(w.rollouts.rollouts[&id].running, 3);
        control(&mut w, &kv, &id, RolloutOp::Cancel);
        let r = &w.rollouts.rollouts[&id];
        assert_eq!(r.state, RolloutState::Cancelled);
        assert_eq!((r.succeeded, r.running, r.skipped), (4, 0, 6));
        assert!(w.running.is_empty(), "running children were cancelled");
        assert!(w.rollouts.active.is_empty());
    }

    #[test]
    fn bad_rollouts_are_refused_and_change_nothing() {
        let (mut w, kv) = world(5);
        let before = w.clone();
        let update = RolloutAction::Update {
            revision: None,
            inputs_json: None,
        };
        for (s, want) in [
            (spec("edge", install(), 0, ""), "at least 1"),
            (spec("edge", install(), 2, "1,50%"), "do not add up"),
            (spec("edge", install(), 2, "3,2,100%"), "must grow"),
            (spec("nope", install(), 2, ""), "group nope"),
            (spec("edge", update.clone(), 2, ""), "selects sites"),
            (spec("apps", install(), 2, ""), "selects environments"),
            (spec("apps", update, 2, ""), "selects no environments"),
        ] {
            let r = start(&mut w, &kv, s);
            let WorkflowResult::Rejected(e) = r else {
                panic!("accepted: {r:?}")
            };
            assert!(e.to_string().contains(want), "{e} lacks {want}");
            assert_eq!(w, before);
        }
        // Installing twice onto the same sites would overwrite environments: refused.
        let id = rollout_id(&start(&mut w, &kv, spec("edge", install(), 5, "")));
        drive(&mut w, &kv, &id, &|_| false);
        let after = w.clone();
        let r = start(&mut w, &kv, spec("edge", install(), 5, ""));
        assert!(
            matches!(&r, WorkflowResult::Rejected(WorkflowError::FailedPrecondition(m)) if m.contains("already exist")),
            "{r:?}"
        );
        assert_eq!(w, after);
    }

    #[test]
    fn rollouts_share_the_global_cap_fairly() {
        let (mut w, kv) = world(40);
        w.set_rollout_limits(&kv, 6, 1).unwrap();
        let mut s = spec("edge", install(), 10, "");
        s.group = "east".into();
        w.put_group(
            &Group {
                name: "east".into(),
                kind: GroupKind::Sites,
                selector: Selector {
                    match_labels: [("region".to_string(), "eu".to_string())].into(),
                    names: vec![],
                },
                created_ms: 0,
                updated_ms: 0,
            },
            1,
        )
        .unwrap();
        let a = rollout_id(&start(&mut w, &kv, s));
        assert_eq!(w.rollouts.rollouts[&a].running, 6, "global cap");
        assert_eq!(w.rollouts.rollouts[&a].targets.len(), 20, "eu sites only");
        let mut s = spec("edge", install(), 10, "");
        if let RolloutAction::Install {
            environment_name, ..
        } = &mut s.action
        {
            *environment_name = "second-{site}".into();
        }
        let b = rollout_id(&start(&mut w, &kv, s));
        // No room yet for b; as a's children end, the freed slots alternate between them.
        assert_eq!(w.rollouts.rollouts[&b].running, 0);
        drive(&mut w, &kv, &a, &|_| false);
        assert_eq!(w.rollouts.rollouts[&a].state, RolloutState::Succeeded);
        assert_eq!(w.rollouts.rollouts[&b].state, RolloutState::Succeeded);
        let starts_b_before_a_done = w
            .executions
            .values()
            .filter(|e| e.rollout.as_deref() == Some(b.as_str()))
            .filter(|e| e.created_ms < w.rollouts.rollouts[&a].finished_ms)
            .count();
        assert!(starts_b_before_a_done > 0, "b starved until a finished");
    }

    #[test]
    fn a_result_dispatches_the_next_step_in_the_same_entry() {
        let (mut w, kv) = world(3);
        let id = rollout_id(&start(&mut w, &kv, spec("edge", install(), 1, "")));
        let x = w.rollouts.rollouts[&id].targets[0]
            .execution
            .clone()
            .unwrap();
        let r = w.apply(
            &kv,
            3,
            &WorkflowCommand::Checkpoints {
                now_ms: 20,
                items: vec![Checkpoint::Dispatch {
                    execution: x.clone(),
                    step: 0,
                }],
                dispatch_budget: 10,
            },
        );
        assert!(
            matches!(&r, WorkflowResult::Checkpoints { dispatched, .. } if dispatched.is_empty())
        );
        let digest = w.executions[&x].steps[0].desired_digest.clone();
        let r = w.apply(
            &kv,
            3,
            &WorkflowCommand::Checkpoints {
                now_ms: 21,
                items: vec![Checkpoint::Result {
                    execution: x.clone(),
                    step: 0,
                    attempt: 1,
                    outcome: StepOutcome::Done {
                        observed_digest: digest,
                    },
                }],
                dispatch_budget: 10,
            },
        );
        let WorkflowResult::Checkpoints { dispatched, .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!(dispatched, vec![(x.clone(), 1, 1)]);
        let s = &w.executions[&x].steps[1];
        assert_eq!((s.fence_token, s.dispatched_ms), (3, 21));
        // Finishing the last step starts the next target and dispatches its first step.
        let digest = w.executions[&x].steps[1].desired_digest.clone();
        let r = w.apply(
            &kv,
            3,
            &WorkflowCommand::Checkpoints {
                now_ms: 22,
                items: vec![Checkpoint::Result {
                    execution: x.clone(),
                    step: 1,
                    attempt: 1,
                    outcome: StepOutcome::Done {
                        observed_digest: digest,
                    },
                }],
                dispatch_budget: 10,
            },
        );
        let WorkflowResult::Checkpoints { dispatched, .. } = r else {
            panic!("{r:?}")
        };
        let next = w.rollouts.rollouts[&id].targets[1]
            .execution
            .clone()
            .unwrap();
        assert_eq!(dispatched, vec![(next, 0, 1)]);
        // A zero budget dispatches nothing by itself.
        let (mut w2, kv2) = world(1);
        let id2 = rollout_id(&start(&mut w2, &kv2, spec("edge", install(), 1, "")));
        let x2 = w2.rollouts.rollouts[&id2].targets[0]
            .execution
            .clone()
            .unwrap();
        let r = w2.apply(
            &kv2,
            3,
            &WorkflowCommand::Checkpoints {
                now_ms: 20,
                items: vec![Checkpoint::Dispatch {
                    execution: x2,
                    step: 0,
                }],
                dispatch_budget: 0,
            },
        );
        assert!(
            matches!(&r, WorkflowResult::Checkpoints { dispatched, .. } if dispatched.is_empty())
        );
    }
}
