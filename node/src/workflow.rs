//! The replicated workflow domain: blueprint revisions, sites, environments and executions,
//! and the pure `apply` of every workflow command. Deterministic: times and terms come from
//! the command, ids from counters in the state.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::blueprint::{self, BlueprintSpec, Rendered};
use crate::environment::{
    AppliedResource, EnvStatus, Environment, ObservedResource, RevisionRecord, HISTORY_LIMIT,
};
use crate::execution::{
    CheckpointRejected, ExecKind, ExecState, Execution, RetryPolicy, Step, StepAction, StepOutcome,
    StepState,
};
use crate::kv::KvState;
use crate::plan::{self, PlannedStep};
use crate::rollout::Group;
use crate::rollout_apply::{RolloutOp, RolloutSpec, Rollouts};
use crate::site::{validate_name, Site};

/// One immutable blueprint revision (`name@revision`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintRevision {
    pub name: String,
    pub revision: u64,
    pub spec: BlueprintSpec,
    pub source: String,
    pub created_ms: u64,
}

/// A change to the workflow domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkflowCommand {
    /// Store a new revision of a blueprint (no new revision if the source is unchanged).
    PutBlueprint {
        source_name: String,
        source: String,
        now_ms: u64,
    },
    /// Create or replace a site.
    PutSite {
        site: Site,
        now_ms: u64,
    },
    /// Create an environment and start installing it.
    CreateEnvironment {
        name: String,
        site: String,
        blueprint: String,
        /// None: the latest revision.
        revision: Option<u64>,
        inputs_json: String,
        labels: BTreeMap<String, String>,
        retry: RetryPolicy,
        now_ms: u64,
    },
    /// Start (or queue) an execution on an environment.
    StartExecution {
        environment: String,
        kind: ExecKind,
        /// For updates: the revision to move to (None: the latest).
        revision: Option<u64>,
        /// For updates: new inputs (None: keep).
        inputs_json: Option<String>,
        retry: RetryPolicy,
        now_ms: u64,
    },
    Resume {
        execution: String,
        now_ms: u64,
    },
    Cancel {
        execution: String,
        now_ms: u64,
    },
    /// Step checkpoints, batched: many dispatches and results in one log entry.
    Checkpoints {
        now_ms: u64,
        items: Vec<Checkpoint>,
        /// How many follow-up steps this entry may dispatch by itself: steps made ready by
        /// its results and first steps of rollout children it starts. The proposing leader
        /// calls the drivers for them, so a step costs one entry, not two.
        dispatch_budget: u32,
    },
    /// What a site reported for an environment's resources (drift detection).
    Observed {
        environment: String,
        resources: BTreeMap<String, Option<String>>,
        now_ms: u64,
    },
    /// Create or replace a group.
    PutGroup {
        group: Group,
        now_ms: u64,
    },
    DeleteGroup {
        name: String,
    },
    /// Start a rollout over a group.
    StartRollout {
        spec: RolloutSpec,
        now_ms: u64,
    },
    /// Pause, resume, cancel, approve, re-cap or roll back a rollout.
    ControlRollout {
        id: String,
        op: RolloutOp,
        now_ms: u64,
    },
    /// Set the cap on running children over all rollouts.
    SetRolloutLimits {
        max_parallel_total: u32,
        now_ms: u64,
    },
}

/// One step checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Checkpoint {
    /// The leader is about to call the driver for this step.
    Dispatch { execution: String, step: u32 },
    /// The driver answered for this attempt.
    Result {
        execution: String,
        step: u32,
        attempt: u32,
        outcome: StepOutcome,
    },
}

/// What a checkpoint did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointResult {
    /// Dispatch accepted: call the driver with this attempt number.
    Dispatched {
        attempt: u32,
    },
    Recorded,
    Rejected(CheckpointRejected),
}

/// Why a workflow command was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum WorkflowError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
}

/// The result of a workflow command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkflowResult {
    Blueprint {
        name: String,
        revision: u64,
        created: bool,
    },
    Site {
        name: String,
        created: bool,
    },
    /// An environment or execution command: the execution started or queued.
    Execution {
        id: String,
        state: ExecState,
    },
    Done,
    Checkpoints {
        results: Vec<CheckpointResult>,
        /// Follow-up dispatches this entry made: (execution, step, attempt).
        dispatched: Vec<(String, u32, u32)>,
    },
    Group {
        name: String,
        created: bool,
        matches: u64,
    },
    Rollout {
        id: String,
    },
    Rejected(WorkflowError),
}

/// Blueprints, sites, environments and executions.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowState {
    pub blueprints: BTreeMap<String, Vec<BlueprintRevision>>,
    pub sites: BTreeMap<String, Site>,
    pub environments: BTreeMap<String, Environment>,
    pub executions: BTreeMap<String, Execution>,
    /// Ids of running executions: what the executor scans.
    pub running: BTreeSet<String>,
    next_execution: u64,
    /// Groups and rollouts.
    pub rollouts: Rollouts,
}

type Res<T> = Result<T, WorkflowError>;

impl WorkflowState {
    /// Applies one command committed in `term`; `kv` resolves `${var:...}` references in
    /// blueprint inputs. The term of the entry is the fence token of the dispatches it
    /// carries: only the leader of that term can have proposed them.
    pub fn apply(&mut self, kv: &KvState, term: u64, command: &WorkflowCommand) -> WorkflowResult {
        let r = match command {
            WorkflowCommand::PutBlueprint {
                source_name,
                source,
                now_ms,
            } => self.put_blueprint(source_name, source, *now_ms),
            WorkflowCommand::PutSite { site, now_ms: _ } => self.put_site(site),
            WorkflowCommand::CreateEnvironment {
                name,
                site,
                blueprint,
                revision,
                inputs_json,
                labels,
                retry,
                now_ms,
            } => self.create_environment(
                kv,
                name,
                site,
                blueprint,
                *revision,
                inputs_json,
                labels,
                *retry,
                *now_ms,
            ),
            WorkflowCommand::StartExecution {
                environment,
                kind,
                revision,
                inputs_json,
                retry,
                now_ms,
            } => self.start_execution(
                kv,
                environment,
                *kind,
                *revision,
                inputs_json.as_deref(),
                *retry,
                *now_ms,
            ),
            WorkflowCommand::Resume { execution, now_ms } => {
                let r = self.resume(execution, *now_ms);
                self.fill_rollouts(kv, *now_ms);
                r
            }
            WorkflowCommand::Cancel { execution, now_ms } => {
                let r = self.cancel(kv, execution, *now_ms);
                self.fill_rollouts(kv, *now_ms);
                r
            }
            WorkflowCommand::Checkpoints {
                now_ms,
                items,
                dispatch_budget,
            } => Ok(self.checkpoints(kv, term, *now_ms, items, *dispatch_budget)),
            WorkflowCommand::Observed {
                environment,
                resources,
                now_ms,
            } => self.observed(environment, resources, *now_ms),
            WorkflowCommand::PutGroup { group, now_ms } => self.put_group(group, *now_ms),
            WorkflowCommand::DeleteGroup { name } => self.delete_group(name),
            WorkflowCommand::StartRollout { spec, now_ms } => self.start_rollout(kv, spec, *now_ms),
            WorkflowCommand::ControlRollout { id, op, now_ms } => {
                self.control_rollout(kv, id, *op, *now_ms)
            }
            WorkflowCommand::SetRolloutLimits {
                max_parallel_total,
                now_ms,
            } => self.set_rollout_limits(kv, *max_parallel_total, *now_ms),
        };
        r.unwrap_or_else(WorkflowResult::Rejected)
    }

    // ---- blueprints and sites ----

    fn put_blueprint(
        &mut self,
        source_name: &str,
        source: &str,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        let spec = blueprint::parse(source_name, source).map_err(|diags| {
            WorkflowError::Invalid(
                diags
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
        let revisions = self.blueprints.entry(spec.name.clone()).or_default();
        if let Some(last) = revisions.last() {
            if last.source == source {
                return Ok(WorkflowResult::Blueprint {
                    name: last.name.clone(),
                    revision: last.revision,
                    created: false,
                });
            }
        }
        let revision = revisions.len() as u64 + 1;
        let name = spec.name.clone();
        revisions.push(BlueprintRevision {
            name: name.clone(),
            revision,
            spec,
            source: source.to_string(),
            created_ms: now_ms,
        });
        Ok(WorkflowResult::Blueprint {
            name,
            revision,
            created: true,
        })
    }

    fn put_site(&mut self, site: &Site) -> Res<WorkflowResult> {
        site.validate()
            .map_err(|e| WorkflowError::Invalid(e.join("\n")))?;
        let created = self.sites.insert(site.name.clone(), site.clone()).is_none();
        Ok(WorkflowResult::Site {
            name: site.name.clone(),
            created,
        })
    }

    /// The blueprint revision `name@revision` (latest when `revision` is None).
    pub fn blueprint(&self, name: &str, revision: Option<u64>) -> Res<&BlueprintRevision> {
        let revisions = self
            .blueprints
            .get(name)
            .ok_or_else(|| WorkflowError::NotFound(format!("blueprint {name}")))?;
        match revision {
            None => revisions.last(),
            Some(r) => r.checked_sub(1).and_then(|i| revisions.get(i as usize)),
        }
        .ok_or_else(|| {
            WorkflowError::NotFound(format!(
                "blueprint revision {name}@{} (it has {} revisions)",
                revision.unwrap_or(0),
                revisions.len()
            ))
        })
    }

    /// Checks that `name@revision` renders with these inputs.
    pub(crate) fn render_check(
        &self,
        kv: &KvState,
        name: &str,
        revision: u64,
        inputs_json: &str,
    ) -> Res<()> {
        self.render(kv, name, revision, inputs_json).map(|_| ())
    }

    fn render(&self, kv: &KvState, name: &str, revision: u64, inputs_json: &str) -> Res<Rendered> {
        let bp = self.blueprint(name, Some(revision))?;
        let inputs: BTreeMap<String, serde_json::Value> = serde_json::from_str(inputs_json)
            .map_err(|e| WorkflowError::Invalid(format!("inputs are not a JSON object: {e}")))?;
        let lookup = |key: &str| {
            kv.get(key)
                .map(|e| String::from_utf8_lossy(&e.value).into_owned())
        };
        blueprint::render(&bp.spec, &inputs, &lookup).map_err(|errors| {
            WorkflowError::Invalid(format!(
                "cannot render {name}@{revision}: {}",
                errors.join("; ")
            ))
        })
    }

    // ---- environments and executions ----

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_environment(
        &mut self,
        kv: &KvState,
        name: &str,
        site: &str,
        blueprint: &str,
        revision: Option<u64>,
        inputs_json: &str,
        labels: &BTreeMap<String, String>,
        retry: RetryPolicy,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        validate_name("environment", name).map_err(WorkflowError::Invalid)?;
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
        self.render(kv, blueprint, revision, inputs_json)?;
        self.environments.insert(
            name.to_string(),
            Environment {
                name: name.to_string(),
                site: site.to_string(),
                blueprint: blueprint.to_string(),
                revision,
                inputs_json: inputs_json.to_string(),
                labels: labels.clone(),
                applied: BTreeMap::new(),
                observed: BTreeMap::new(),
                status: EnvStatus::Pending,
                history: Vec::new(),
                current_execution: None,
                queue: Default::default(),
                latest_execution: None,
                created_ms: now_ms,
                updated_ms: now_ms,
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
        inputs_json: Option<&str>,
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
        if let (Some(rev), Some(inputs)) = (target, inputs_json) {
            self.render(kv, &env.blueprint.clone(), rev, inputs)?;
        }
        self.enqueue(kv, environment, kind, target, inputs_json, retry, now_ms)
    }

    /// Creates an execution and starts it, or queues it behind the running one.
    #[allow(clippy::too_many_arguments)]
    fn enqueue(
        &mut self,
        kv: &KvState,
        environment: &str,
        kind: ExecKind,
        target_revision: Option<u64>,
        inputs_json: Option<&str>,
        retry: RetryPolicy,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        self.next_execution += 1;
        let id = format!("x{}", self.next_execution);
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
            inputs_json: None,
        };
        exec.inputs_json = inputs_json.map(str::to_string);
        self.environments
            .get_mut(environment)
            .expect("caller checked the environment exists")
            .queue
            .push_back(id.clone());
        self.executions.insert(id.clone(), exec);
        self.start_next(kv, environment, now_ms);
        let state = self.executions[&id].state;
        Ok(WorkflowResult::Execution { id, state })
    }

    /// Starts the oldest queued execution of `environment` if none is running.
    fn start_next(&mut self, kv: &KvState, environment: &str, now_ms: u64) {
        loop {
            let env = &self.environments[environment];
            if env.current_execution.is_some() {
                return;
            }
            let Some(id) = env.queue.front().cloned() else {
                return;
            };
            self.environments
                .get_mut(environment)
                .expect("exists")
                .queue
                .pop_front();
            match self.plan_for(kv, &id) {
                Ok(steps) => {
                    let exec = self
                        .executions
                        .get_mut(&id)
                        .expect("queued execution exists");
                    exec.steps = steps;
                    exec.state = ExecState::Running;
                    exec.started_ms = now_ms;
                    let kind = exec.kind;
                    let new_inputs = exec.inputs_json.clone();
                    let env = self.environments.get_mut(environment).expect("exists");
                    if let Some(inputs) = new_inputs {
                        env.inputs_json = inputs;
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
                    let exec = self
                        .executions
                        .get_mut(&id)
                        .expect("queued execution exists");
                    exec.state = ExecState::Failed;
                    exec.error = Some(format!("cannot plan: {e}"));
                    exec.finished_ms = now_ms;
                    let env = self.environments.get_mut(environment).expect("exists");
                    env.latest_execution = Some(id.clone());
                    self.rollout_child_ended(&id, now_ms);
                }
            }
        }
    }

    /// The steps of execution `id`, planned against the environment's applied state now.
    fn plan_for(&self, kv: &KvState, id: &str) -> Res<Vec<Step>> {
        let exec = &self.executions[id];
        let env = &self.environments[&exec.environment];
        let current = applied_as_rendered(&env.applied);
        let planned: Result<Vec<PlannedStep>, plan::PlanError> = match exec.kind {
            ExecKind::Uninstall => plan::plan_uninstall(&current),
            ExecKind::Heal => {
                let observed: BTreeMap<String, Option<String>> = env
                    .applied
                    .keys()
                    .map(|k| {
                        (
                            k.clone(),
                            env.observed.get(k).and_then(|o| o.digest.clone()),
                        )
                    })
                    .collect();
                plan::plan_heal(&current, &observed)
            }
            ExecKind::Install | ExecKind::Update | ExecKind::Rollback => {
                let revision = exec.target_revision.expect("has a target revision");
                let inputs = match exec.kind {
                    ExecKind::Rollback => env
                        .previous_revision()
                        .map(|p| p.inputs_json.clone())
                        .unwrap_or_else(|| env.inputs_json.clone()),
                    _ => exec
                        .inputs_json
                        .clone()
                        .unwrap_or_else(|| env.inputs_json.clone()),
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
                        String::new()
                    } else {
                        p.properties.to_string()
                    },
                    p.digest,
                    p.depends_on.iter().map(|d| *d as u32).collect(),
                )
            })
            .collect())
    }

    pub(crate) fn resume(&mut self, id: &str, now_ms: u64) -> Res<WorkflowResult> {
        let exec = self
            .executions
            .get_mut(id)
            .ok_or_else(|| WorkflowError::NotFound(format!("execution {id}")))?;
        let env_name = exec.environment.clone();
        let current = self.environments[&env_name].current_execution.clone();
        if current.is_some() && current.as_deref() != Some(id) {
            return Err(WorkflowError::FailedPrecondition(format!(
                "environment {env_name} is running execution {}; resume {id} after it ends",
                current.unwrap_or_default()
            )));
        }
        exec.resume(now_ms)
            .map_err(WorkflowError::FailedPrecondition)?;
        let env = self.environments.get_mut(&env_name).expect("exists");
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
        self.rollout_child_resumed(id);
        Ok(WorkflowResult::Execution {
            id: id.to_string(),
            state: ExecState::Running,
        })
    }

    pub(crate) fn cancel(&mut self, kv: &KvState, id: &str, now_ms: u64) -> Res<WorkflowResult> {
        let exec = self
            .executions
            .get_mut(id)
            .ok_or_else(|| WorkflowError::NotFound(format!("execution {id}")))?;
        let was_queued = exec.state == ExecState::Queued;
        exec.cancel(now_ms)
            .map_err(WorkflowError::FailedPrecondition)?;
        let env_name = exec.environment.clone();
        let env = self.environments.get_mut(&env_name).expect("exists");
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
    fn checkpoints(
        &mut self,
        kv: &KvState,
        term: u64,
        now_ms: u64,
        items: &[Checkpoint],
        budget: u32,
    ) -> WorkflowResult {
        let results: Vec<CheckpointResult> = items
            .iter()
            .map(|c| self.checkpoint(kv, term, now_ms, c))
            .collect();
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
                if let Ok(attempt) = exec.dispatch(step, term, now_ms) {
                    dispatched.push((id.clone(), step, attempt));
                }
            }
        }
        WorkflowResult::Checkpoints {
            results,
            dispatched,
        }
    }

    fn checkpoint(
        &mut self,
        kv: &KvState,
        term: u64,
        now_ms: u64,
        c: &Checkpoint,
    ) -> CheckpointResult {
        match c {
            Checkpoint::Dispatch { execution, step } => {
                let Some(exec) = self.executions.get_mut(execution) else {
                    return CheckpointResult::Rejected(CheckpointRejected::NotRunning(
                        execution.clone(),
                    ));
                };
                match exec.dispatch(*step, term, now_ms) {
                    Ok(attempt) => CheckpointResult::Dispatched { attempt },
                    Err(e) => CheckpointResult::Rejected(e),
                }
            }
            Checkpoint::Result {
                execution,
                step,
                attempt,
                outcome,
            } => {
                let Some(exec) = self.executions.get_mut(execution) else {
                    return CheckpointResult::Rejected(CheckpointRejected::NotRunning(
                        execution.clone(),
                    ));
                };
                if let Err(e) = exec.record(*step, *attempt, outcome, now_ms) {
                    return CheckpointResult::Rejected(e);
                }
                // The resource at the site is what this step made it.
                let s = exec.steps[*step as usize].clone();
                let env = self
                    .environments
                    .get_mut(&exec.environment)
                    .expect("an execution's environment exists");
                if s.state == StepState::Succeeded {
                    match s.action {
                        StepAction::Delete => {
                            env.applied.remove(&s.resource);
                            env.observed.remove(&s.resource);
                        }
                        StepAction::Create | StepAction::Modify => {
                            let depends_on = s
                                .depends_on
                                .iter()
                                .map(|d| exec.steps[*d as usize].resource.clone())
                                .collect();
                            env.applied.insert(
                                s.resource.clone(),
                                AppliedResource {
                                    resource_type: s.resource_type.clone(),
                                    properties_json: s.properties_json.clone(),
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
                let id = execution.clone();
                self.finish_if_ended(kv, &id, now_ms);
                CheckpointResult::Recorded
            }
        }
    }

    /// If execution `id` reached an end state, updates its environment and starts the next.
    fn finish_if_ended(&mut self, kv: &KvState, id: &str, now_ms: u64) {
        let exec = self.executions.get_mut(id).expect("exists");
        if exec.state == ExecState::Running && exec.steps.is_empty() {
            exec.state = ExecState::Succeeded;
            exec.finished_ms = now_ms;
        }
        if exec.state.is_terminal() && self.running.contains(id) {
            self.end_execution(kv, id, now_ms);
        }
    }

    fn end_execution(&mut self, kv: &KvState, id: &str, now_ms: u64) {
        self.running.remove(id);
        self.rollout_child_ended(id, now_ms);
        let exec = &self.executions[id];
        let env = self
            .environments
            .get_mut(&exec.environment)
            .expect("exists");
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
                        inputs_json: env.inputs_json.clone(),
                    };
                    if exec.kind == ExecKind::Rollback {
                        // Rolling back pops the revision we left.
                        env.history.pop();
                        if let Some(prev) = env.history.last() {
                            env.inputs_json = prev.inputs_json.clone();
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

    fn observed(
        &mut self,
        environment: &str,
        resources: &BTreeMap<String, Option<String>>,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        let env = self
            .environments
            .get_mut(environment)
            .ok_or_else(|| WorkflowError::NotFound(format!("environment {environment}")))?;
        for (name, digest) in resources {
            env.observed.insert(
                name.clone(),
                ObservedResource {
                    digest: digest.clone(),
                    observed_ms: now_ms,
                },
            );
        }
        if env.current_execution.is_none()
            && matches!(env.status, EnvStatus::InSync | EnvStatus::Drifted)
        {
            env.status = if env.drift().is_empty() {
                EnvStatus::InSync
            } else {
                EnvStatus::Drifted
            };
        }
        Ok(WorkflowResult::Done)
    }
}

/// The applied resources of an environment in the shape the planner takes.
fn applied_as_rendered(applied: &BTreeMap<String, AppliedResource>) -> Rendered {
    Rendered::from_parts(applied.iter().map(|(name, a)| {
        (
            name.clone(),
            a.resource_type.clone(),
            serde_json::from_str(&a.properties_json).unwrap_or(serde_json::Value::Null),
            a.digest.clone(),
            a.depends_on.clone(),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::Driver;

    const BP: &str = "name: app\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: 1 }\n  - name: b\n    type: sim.resource\n    depends_on: [a]\n    properties: { v: 2 }\n";

    fn world() -> (WorkflowState, KvState) {
        let mut w = WorkflowState::default();
        let kv = KvState::default();
        let r = w.apply(
            &kv,
            1,
            &WorkflowCommand::PutBlueprint {
                source_name: "app.yaml".into(),
                source: BP.into(),
                now_ms: 1,
            },
        );
        assert!(
            matches!(r, WorkflowResult::Blueprint { revision: 1, .. }),
            "{r:?}"
        );
        let r = w.apply(
            &kv,
            1,
            &WorkflowCommand::PutSite {
                site: Site {
                    name: "s1".into(),
                    region: "eu".into(),
                    latitude: 1.0,
                    longitude: 2.0,
                    labels: Default::default(),
                    driver: Driver::Agent {
                        endpoint: "127.0.0.1:9".into(),
                    },
                },
                now_ms: 1,
            },
        );
        assert!(matches!(r, WorkflowResult::Site { created: true, .. }));
        (w, kv)
    }

    fn create(w: &mut WorkflowState, kv: &KvState, name: &str) -> WorkflowResult {
        w.apply(
            kv,
            1,
            &WorkflowCommand::CreateEnvironment {
                name: name.into(),
                site: "s1".into(),
                blueprint: "app".into(),
                revision: None,
                inputs_json: "{}".into(),
                labels: Default::default(),
                retry: RetryPolicy::default(),
                now_ms: 2,
            },
        )
    }

    /// Runs every dispatchable step of `id` to success under `term`.
    fn finish(w: &mut WorkflowState, kv: &KvState, id: &str, term: u64) {
        while let Some(step) = w.executions[id].dispatchable(term, 10).first().copied() {
            let r = w.apply(
                kv,
                term,
                &WorkflowCommand::Checkpoints {
                    now_ms: 10,
                    items: vec![Checkpoint::Dispatch {
                        execution: id.into(),
                        step,
                    }],
                    dispatch_budget: 0,
                },
            );
            let WorkflowResult::Checkpoints { results: rs, .. } = r else {
                panic!("{r:?}")
            };
            let CheckpointResult::Dispatched { attempt } = rs[0] else {
                panic!("{rs:?}")
            };
            w.apply(
                kv,
                term,
                &WorkflowCommand::Checkpoints {
                    now_ms: 11,
                    items: vec![Checkpoint::Result {
                        execution: id.into(),
                        step,
                        attempt,
                        outcome: StepOutcome::Done {
                            observed_digest: w.executions[id].steps[step as usize]
                                .desired_digest
                                .clone(),
                        },
                    }],
                    dispatch_budget: 0,
                },
            );
        }
    }

    #[test]
    fn executions_of_one_environment_queue_behind_each_other() {
        let (mut w, kv) = world();
        let WorkflowResult::Execution { id: install, state } = create(&mut w, &kv, "e1") else {
            panic!()
        };
        assert_eq!(state, ExecState::Running);
        let start = |w: &mut WorkflowState, kind| {
            w.apply(
                &kv,
                1,
                &WorkflowCommand::StartExecution {
                    environment: "e1".into(),
                    kind,
                    revision: None,
                    inputs_json: None,
                    retry: RetryPolicy::default(),
                    now_ms: 3,
                },
            )
        };
        // Heal needs something installed: refused while the install has not finished.
        assert!(matches!(
            start(&mut w, ExecKind::Heal),
            WorkflowResult::Rejected(WorkflowError::FailedPrecondition(_))
        ));
        let WorkflowResult::Execution {
            id: uninstall,
            state,
        } = start(&mut w, ExecKind::Uninstall)
        else {
            panic!()
        };
        assert_eq!(state, ExecState::Queued);
        assert_eq!(w.running.len(), 1);
        assert!(w.executions[&uninstall].dispatchable(1, 10).is_empty());

        finish(&mut w, &kv, &install, 1);
        assert_eq!(w.executions[&install].state, ExecState::Succeeded);
        // The queued execution started by itself, planned against what is applied now.
        assert_eq!(
            w.environments["e1"].current_execution,
            Some(uninstall.clone())
        );
        assert_eq!(w.executions[&uninstall].steps.len(), 2);
        finish(&mut w, &kv, &uninstall, 1);
        assert_eq!(w.executions[&uninstall].state, ExecState::Succeeded);
        assert_eq!(w.environments["e1"].status, EnvStatus::Uninstalled);
        assert!(w.environments["e1"].applied.is_empty());
        assert!(w.running.is_empty());
    }

    #[test]
    fn refused_commands_change_nothing() {
        let (mut w, kv) = world();
        let before = w.clone();
        for (cmd, want) in [
            (
                WorkflowCommand::PutBlueprint {
                    source_name: "bad.yaml".into(),
                    source: "name: x\nresources:\n  - name: a\n    type: nope\n".into(),
                    now_ms: 5,
                },
                "bad.yaml:4:",
            ),
            (
                WorkflowCommand::StartExecution {
                    environment: "missing".into(),
                    kind: ExecKind::Update,
                    revision: None,
                    inputs_json: None,
                    retry: RetryPolicy::default(),
                    now_ms: 5,
                },
                "environment missing",
            ),
            (
                WorkflowCommand::Resume {
                    execution: "x99".into(),
                    now_ms: 5,
                },
                "execution x99",
            ),
        ] {
            match w.apply(&kv, 1, &cmd) {
                WorkflowResult::Rejected(e) => assert!(e.to_string().contains(want), "{e}"),
                other => panic!("{cmd:?} was not refused: {other:?}"),
            }
        }
        assert_eq!(w, before);

        // Unknown input and unknown site are refused before anything is created.
        let r = w.apply(
            &kv,
            1,
            &WorkflowCommand::CreateEnvironment {
                name: "e2".into(),
                site: "s1".into(),
                blueprint: "app".into(),
                revision: None,
                inputs_json: "{\"nope\": 1}".into(),
                labels: Default::default(),
                retry: RetryPolicy::default(),
                now_ms: 5,
            },
        );
        assert!(
            matches!(r, WorkflowResult::Rejected(WorkflowError::Invalid(_))),
            "{r:?}"
        );
        assert_eq!(w, before);
    }

    #[test]
    fn an_unchanged_blueprint_makes_no_new_revision() {
        let (mut w, kv) = world();
        let r = w.apply(
            &kv,
            1,
            &WorkflowCommand::PutBlueprint {
                source_name: "app.yaml".into(),
                source: BP.into(),
                now_ms: 9,
            },
        );
        assert_eq!(
            r,
            WorkflowResult::Blueprint {
                name: "app".into(),
                revision: 1,
                created: false
            }
        );
    }
}
