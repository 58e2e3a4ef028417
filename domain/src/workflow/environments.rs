//! Environments and their execution queue: creating one, starting (or queueing) an
//! execution on it, and planning the execution's steps when it starts. What sites report
//! (drift) is recorded next door, in `observations.rs`.
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

use std::collections::BTreeMap;

use crate::blueprint::Rendered;
use crate::drift::DriftPolicy;
use crate::environment::{AppliedResource, EnvStatus, Environment, Inputs, ResourceMap};
use crate::execution::{ExecKind, ExecState, Execution, RetryPolicy, Step, StepAction};
use crate::kv::KvState;
use crate::plan::{self, PlannedStep};
use crate::properties::Properties;
use crate::site::validate_name;

use crate::workflow::types::{Res, WorkflowError, WorkflowResult, WorkflowState};

/// A `CreateEnvironment` command's fields, as apply hands them over.
pub(crate) struct NewEnvironment<'a> {
    pub name: &'a str,
    pub site: &'a str,
    pub blueprint: &'a str,
    pub revision: Option<u64>,
    pub inputs: &'a Inputs,
    pub labels: &'a BTreeMap<String, String>,
    pub retry: RetryPolicy,
    pub drift: Option<DriftPolicy>,
}

impl WorkflowState {
    // ---- environments and executions ----

    pub(crate) fn create_environment(
        &mut self,
        kv: &KvState,
        new: NewEnvironment<'_>,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        let NewEnvironment {
            name,
            site,
            blueprint,
            revision,
            inputs,
            labels,
            retry,
            drift,
        } = new;
        validate_name("environment", name).map_err(WorkflowError::Invalid)?;
        if let Some(policy) = &drift {
            policy.validate().map_err(WorkflowError::Invalid)?;
        }
        if self.environments.contains_key(name) {
            return Err(WorkflowError::FailedPrecondition(format!(
                "environment {name} already exists: start an update on it instead"
            )));
        }
        if !self.sites.contains_key(site) {
            return Err(WorkflowError::NotFound(format!(
                "site {site} (create it with `moorctl apply -f` first)"
            )));
        }
        let revision = self.blueprint(blueprint, revision)?.revision;
        // Render now so bad inputs are refused before anything is created.
        self.render(kv, blueprint, revision, inputs)?;
        self.environments.insert(
            name.to_string(),
            Environment {
                name: name.to_string(),
                site: site.to_string(),
                blueprint: blueprint.to_string(),
                revision,
                inputs: inputs.clone(),
                labels: labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                applied: ResourceMap::new(),
                observed: ResourceMap::new(),
                status: EnvStatus::Pending,
                history: Vec::new(),
                current_execution: None,
                queue: Default::default(),
                latest_execution: None,
                created_ms: now_ms,
                updated_ms: now_ms,
                drift,
                heals_ms: Vec::new(),
                heal_suspended: None,
            },
        );
        self.enqueue(
            kv,
            name,
            ExecKind::Install,
            Some(revision),
            None,
            retry,
            now_ms,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_execution(
        &mut self,
        kv: &KvState,
        environment: &str,
        kind: ExecKind,
        revision: Option<u64>,
        inputs: Option<&Inputs>,
        retry: RetryPolicy,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        let env = self
            .environments
            .get(environment)
            .ok_or_else(|| WorkflowError::NotFound(format!("environment {environment}")))?;
        let target = match kind {
            ExecKind::Install | ExecKind::Update => {
                Some(self.blueprint(&env.blueprint, revision)?.revision)
            }
            ExecKind::Heal => {
                if env.applied.is_empty() {
                    return Err(WorkflowError::FailedPrecondition(format!(
                        "environment {environment} has nothing installed to heal: install it first"
                    )));
                }
                Some(env.revision)
            }
            ExecKind::Rollback => match env.previous_revision() {
                Some(p) => Some(p.revision),
                None => {
                    return Err(WorkflowError::FailedPrecondition(format!(
                        "environment {environment} has no previous revision to roll back to"
                    )))
                }
            },
            ExecKind::Uninstall => None,
        };
        if let (Some(rev), Some(inputs)) = (target, inputs) {
            self.render(kv, &env.blueprint.clone(), rev, inputs)?;
        }
        self.enqueue(kv, environment, kind, target, inputs, retry, now_ms)
    }

    /// Creates an execution and starts it, or queues it behind the running one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn enqueue(
        &mut self,
        kv: &KvState,
        environment: &str,
        kind: ExecKind,
        target_revision: Option<u64>,
        inputs: Option<&Inputs>,
        retry: RetryPolicy,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        let Some(env) = self.environments.get_mut(environment) else {
            return Err(WorkflowError::NotFound(format!(
                "environment {environment}"
            )));
        };
        self.next_execution += 1;
        let id = format!("x{}{}", self.next_execution, self.execution_suffix);
        env.queue.push_back(id.clone());
        let mut exec = Execution {
            id: id.clone(),
            environment: environment.to_string(),
            kind,
            state: ExecState::Queued,
            steps: Vec::new(),
            target_revision,
            retry,
            created_ms: now_ms,
            started_ms: 0,
            finished_ms: 0,
            error: None,
            rollout: None,
            rollout_target: None,
            inputs: None,
        };
        exec.inputs = inputs.cloned();
        self.executions.insert(id.clone(), exec);
        self.by_environment
            .entry(environment.to_string())
            .or_default()
            .push(id.clone());
        self.start_next(kv, environment, now_ms);
        let state = self
            .executions
            .get(&id)
            .map_or(ExecState::Queued, |e| e.state);
        Ok(WorkflowResult::Execution { id, state })
    }

    /// Starts the oldest queued execution of `environment` if none is running.
    pub(crate) fn start_next(&mut self, kv: &KvState, environment: &str, now_ms: u64) {
        loop {
            let Some(env) = self.environments.get_mut(environment) else {
                return;
            };
            if env.current_execution.is_some() {
                return;
            }
            let Some(id) = env.queue.pop_front() else {
                return;
            };
            match self.plan_for(kv, &id) {
                Ok(mut steps) => {
                    self.share_steps(&mut steps);
                    let Some(exec) = self.executions.get_mut(&id) else {
                        continue;
                    };
                    exec.steps = steps;
                    exec.state = ExecState::Running;
                    exec.started_ms = now_ms;
                    let kind = exec.kind;
                    let new_inputs = exec.inputs.clone();
                    let Some(env) = self.environments.get_mut(environment) else {
                        return;
                    };
                    if let Some(inputs) = new_inputs {
                        env.inputs = inputs;
                    }
                    env.current_execution = Some(id.clone());
                    env.latest_execution = Some(id.clone());
                    env.status = match kind {
                        ExecKind::Install => EnvStatus::Installing,
                        ExecKind::Update => EnvStatus::Updating,
                        ExecKind::Heal => EnvStatus::Healing,
                        ExecKind::Rollback => EnvStatus::RollingBack,
                        ExecKind::Uninstall => EnvStatus::Uninstalling,
                    };
                    env.updated_ms = now_ms;
                    self.running.insert(id.clone());
                    // An execution with nothing to do ends at once.
                    self.finish_if_ended(kv, &id, now_ms);
                    return;
                }
                Err(e) => {
                    if let Some(exec) = self.executions.get_mut(&id) {
                        exec.state = ExecState::Failed;
                        exec.error = Some(format!("cannot plan: {e}"));
                        exec.finished_ms = now_ms;
                    }
                    if let Some(env) = self.environments.get_mut(environment) {
                        env.latest_execution = Some(id.clone());
                    }
                    self.rollout_child_ended(&id, now_ms);
                }
            }
        }
    }

    /// The steps of execution `id`, planned against the environment's applied state now.
    pub(crate) fn plan_for(&self, kv: &KvState, id: &str) -> Res<Vec<Step>> {
        let exec = self
            .executions
            .get(id)
            .ok_or_else(|| WorkflowError::NotFound(format!("execution {id}")))?;
        let env = self
            .environments
            .get(&exec.environment)
            .ok_or_else(|| WorkflowError::NotFound(format!("environment {}", exec.environment)))?;
        let current = applied_as_rendered(&env.applied);
        let planned: Result<Vec<PlannedStep>, plan::PlanError> = match exec.kind {
            ExecKind::Uninstall => plan::plan_uninstall(&current),
            ExecKind::Heal => {
                let observed: BTreeMap<String, Option<String>> = env
                    .applied
                    .keys()
                    .map(|k| {
                        (
                            k.to_string(),
                            env.observed
                                .get(k)
                                .and_then(|o| o.digest.as_ref().map(String::from)),
                        )
                    })
                    .collect();
                plan::plan_heal(&current, &observed)
            }
            ExecKind::Install | ExecKind::Update | ExecKind::Rollback => {
                let revision = exec.target_revision.ok_or_else(|| {
                    WorkflowError::Invalid(format!(
                        "execution {id} ({}) names no target revision",
                        exec.kind
                    ))
                })?;
                let inputs = match exec.kind {
                    ExecKind::Rollback => env
                        .previous_revision()
                        .map(|p| p.inputs.clone())
                        .unwrap_or_else(|| env.inputs.clone()),
                    _ => exec.inputs.clone().unwrap_or_else(|| env.inputs.clone()),
                };
                let desired = self.render(kv, &env.blueprint, revision, &inputs)?;
                plan::plan_update(&current, &desired)
            }
        };
        let planned = planned.map_err(|e| WorkflowError::Invalid(e.to_string()))?;
        Ok(planned
            .into_iter()
            .map(|p| {
                Step::new(
                    p.resource,
                    p.resource_type,
                    match p.action {
                        plan::Action::Create => StepAction::Create,
                        plan::Action::Modify => StepAction::Modify,
                        plan::Action::Delete => StepAction::Delete,
                    },
                    if p.action == plan::Action::Delete {
                        Properties::default()
                    } else {
                        Properties::new(p.properties)
                    },
                    p.digest,
                    p.depends_on.iter().map(|d| *d as u32).collect(),
                )
            })
            .collect())
    }
}

/// The applied resources of an environment in the shape the planner takes.
fn applied_as_rendered(applied: &ResourceMap<AppliedResource>) -> Rendered {
    Rendered::from_parts(applied.iter().map(|(name, a)| {
        (
            name.to_string(),
            a.resource_type.to_string(),
            a.properties.value().clone(),
            a.digest.to_string(),
            a.depends_on.iter().map(String::from).collect(),
        )
    }))
}
