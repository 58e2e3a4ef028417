//! The workflow API ([`WorkflowApi`]): blueprints, sites, environments and executions.
//! Writes become [`WorkflowCommand`]s committed through the leader; reads are served from
//! this member's state after a read barrier (unless the caller asked for a stale read).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use moor_proto::workflow as pb;
use moor_proto::workflow::workflow_api_server::WorkflowApi;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::api::blueprint_check::{parse_blueprint, validation_response};
use crate::api::drift;
use crate::api::sealing::{seal_inputs, Scope};
use crate::api::shared::{check_inputs, read_state, retry_policy, write_workflow};
use crate::errors::{refused_with_problems, workflow_refusal, ApiError};
use crate::exec::driver::SiteDriver;
use crate::exec::executor::now_ms;
use crate::raft::member::Member;
use moor_domain::execution::{action_name, AttemptOutcome, ExecKind, Execution};
use moor_domain::names::WireName;
use moor_domain::site::{Driver, Site};
use moor_domain::state::MoorState;
use moor_domain::workflow::{WorkflowCommand, WorkflowResult};

/// Serves [`WorkflowApi`] for one member.
pub struct WorkflowService {
    member: Arc<Member>,
    /// The sites, for `DiffEnvironment`.
    drivers: Arc<dyn SiteDriver>,
    /// One permit per open `WatchExecution` stream ([`MAX_EXEC_WATCHES`]).
    watches: Arc<tokio::sync::Semaphore>,
}

/// `WatchExecution` streams one service (one per member's client port) serves at once; past
/// it, RESOURCE_EXHAUSTED. Each holds a task that wakes on every applied entry, so they are
/// bounded like the map view's event streams.
pub const MAX_EXEC_WATCHES: usize = 256;

impl WorkflowService {
    pub fn new(member: Arc<Member>, drivers: Arc<dyn SiteDriver>) -> Self {
        WorkflowService {
            member,
            drivers,
            watches: Arc::new(tokio::sync::Semaphore::new(MAX_EXEC_WATCHES)),
        }
    }

    async fn write(&self, command: WorkflowCommand) -> Result<WorkflowResult, Status> {
        write_workflow(&self.member, command).await
    }

    async fn read<T>(
        &self,
        stale: bool,
        f: impl FnOnce(&MoorState) -> Result<T, Status>,
    ) -> Result<T, Status> {
        read_state(&self.member, stale, f).await
    }

    async fn start(&self, command: WorkflowCommand) -> Result<Response<pb::ExecutionRef>, Status> {
        match self.write(command).await? {
            WorkflowResult::Execution { id, state } => Ok(Response::new(pb::ExecutionRef {
                id,
                state: state.as_str().to_string(),
            })),
            other => {
                Err(ApiError::Internal(format!("expected an execution, got {other:?}")).into())
            }
        }
    }
}

fn site_msg(state: &MoorState, s: &Site) -> pb::Site {
    let unreachable = state.workflow.unreachable.get(&s.name);
    let mut msg = pb::Site {
        unreachable_since_ms: unreachable.map_or(0, |u| u.since_ms),
        unreachable_error: unreachable.map(|u| u.error.clone()).unwrap_or_default(),
        name: s.name.clone(),
        region: s.region.clone(),
        latitude: s.latitude,
        longitude: s.longitude,
        labels: s.labels.clone().into_iter().collect(),
        ..Default::default()
    };
    match &s.driver {
        Driver::Agent { endpoint } => msg.agent_endpoint = endpoint.clone(),
        Driver::Kubernetes {
            kubeconfig,
            context,
        } => {
            msg.kubeconfig = kubeconfig.clone();
            msg.kube_context = context.clone().unwrap_or_default();
        }
    }
    msg
}

/// The driver a site message names: an agent endpoint or a kubeconfig, exactly one.
fn driver_of(site: &pb::Site) -> Result<Driver, Status> {
    match (site.agent_endpoint.is_empty(), site.kubeconfig.is_empty()) {
        (false, true) => Ok(Driver::Agent {
            endpoint: site.agent_endpoint.clone(),
        }),
        (true, false) => Ok(Driver::Kubernetes {
            kubeconfig: site.kubeconfig.clone(),
            context: (!site.kube_context.is_empty()).then(|| site.kube_context.clone()),
        }),
        (true, true) => Err(ApiError::invalid(
            "site",
            format!(
                "site {} names no driver: set agent_endpoint (a moor-agent or sitesim) or kubeconfig (a Kubernetes cluster)",
                site.name
            ),
        )
        .into()),
        (false, false) => Err(ApiError::invalid(
            "site",
            format!(
                "site {} names both agent_endpoint and kubeconfig: keep one",
                site.name
            ),
        )
        .into()),
    }
}

fn env_msg(state: &MoorState, name: &str) -> Result<pb::Environment, Status> {
    let wf = &state.workflow;
    let env = wf
        .environments
        .get(name)
        .ok_or_else(|| Status::not_found(format!("environment {name} not found")))?;
    let secrets = wf
        .blueprint(&env.blueprint, Some(env.revision))
        .map(|b| b.spec.secret_inputs())
        .unwrap_or_default();
    let mut inputs = env.inputs.clone();
    for s in &secrets {
        if let Some(v) = inputs.get_mut(s) {
            *v = serde_json::Value::String("***".into());
        }
    }
    let drift = env.drift();
    let mut msg = pb::Environment {
        name: env.name.clone(),
        site: env.site.clone(),
        blueprint: env.blueprint.clone(),
        revision: env.revision,
        status: env.status.as_str().to_string(),
        inputs_json: serde_json::Value::Object(inputs.into_iter().collect()).to_string(),
        labels: env.labels.clone().into_iter().collect(),
        latest_execution: env.latest_execution.clone().unwrap_or_default(),
        current_execution: env.current_execution.clone().unwrap_or_default(),
        queued: env.queue.iter().cloned().collect(),
        resources: env
            .applied
            .iter()
            .map(|(n, a)| pb::ResourceStatus {
                name: n.to_string(),
                resource_type: a.resource_type.to_string(),
                applied_digest: a.digest.to_string(),
                observed_digest: env
                    .observed
                    .get(n)
                    .and_then(|o| o.digest.as_ref().map(|d| d.to_string()))
                    .unwrap_or_default(),
                drifted: drift.contains_key(n.as_str()),
            })
            .collect(),
        created_ms: env.created_ms,
        updated_ms: env.updated_ms,
        ..Default::default()
    };
    drift::fill_env_drift(state, env, now_ms(), &mut msg);
    Ok(msg)
}

/// An execution as a wire message; `with_steps` false leaves the step list out.
pub fn exec_msg(e: &Execution, with_steps: bool) -> pb::Execution {
    let [_, running, succeeded, failed, _] = e.counts();
    pb::Execution {
        id: e.id.clone(),
        environment: e.environment.clone(),
        kind: e.kind.as_str().to_string(),
        state: e.state.as_str().to_string(),
        target_revision: e.target_revision.unwrap_or(0),
        created_ms: e.created_ms,
        started_ms: e.started_ms,
        finished_ms: e.finished_ms,
        error: e.error.clone().unwrap_or_default(),
        steps: if with_steps {
            e.steps
                .iter()
                .enumerate()
                .map(|(i, s)| pb::Step {
                    index: i as u32,
                    resource: s.resource.to_string(),
                    resource_type: s.resource_type.to_string(),
                    action: action_name(s.action).to_string(),
                    state: s.state.as_str().to_string(),
                    attempt: s.attempt,
                    fence_token: s.fence_token,
                    depends_on: s.depends_on.clone(),
                    last_error: s.last_error.clone().unwrap_or_default(),
                    dispatched_ms: s.dispatched_ms,
                    finished_ms: s.finished_ms,
                    attempts: s
                        .attempts
                        .iter()
                        .map(|a| pb::StepAttempt {
                            attempt: a.attempt,
                            fence_token: a.fence_token,
                            dispatched_ms: a.dispatched_ms,
                            finished_ms: a.finished_ms,
                            outcome: a.outcome.name().to_string(),
                            error: match &a.outcome {
                                AttemptOutcome::Failed { error } => error.clone(),
                                _ => String::new(),
                            },
                            result_term: a.result_term,
                        })
                        .collect(),
                })
                .collect()
        } else {
            Vec::new()
        },
        steps_total: e.steps.len() as u32,
        steps_succeeded: succeeded as u32,
        steps_failed: failed as u32,
        steps_running: running as u32,
    }
}

fn parse_kind(kind: &str) -> Result<ExecKind, Status> {
    ExecKind::parse(kind).ok_or_else(|| {
        ApiError::invalid(
            "kind",
            format!("{kind:?} is not one of {}", ExecKind::one_of()),
        )
        .into()
    })
}

type ExecStream = Pin<Box<dyn Stream<Item = Result<pb::Execution, Status>> + Send>>;

#[tonic::async_trait]
impl WorkflowApi for WorkflowService {
    async fn apply_blueprint(
        &self,
        request: Request<pb::ApplyBlueprintRequest>,
    ) -> Result<Response<pb::ApplyBlueprintResponse>, Status> {
        let r = request.into_inner();
        let source_name = if r.source_name.is_empty() {
            "blueprint".to_string()
        } else {
            r.source_name
        };
        // Parsed once, here: the command carries the validated spec and apply never parses.
        let parsed = parse_blueprint(&source_name, &r.yaml);
        if r.validate_only {
            return Ok(Response::new(validation_response(parsed)));
        }
        let spec = parsed.map_err(|diags| {
            let problems: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            refused_with_problems(
                &format!("blueprint {source_name} is not valid"),
                &problems,
                &format!("run `moorctl blueprint validate {source_name}` to list them all"),
            )
        })?;
        match self
            .write(WorkflowCommand::PutBlueprint {
                spec,
                source: r.yaml,
                now_ms: now_ms(),
            })
            .await?
        {
            WorkflowResult::Blueprint {
                name,
                revision,
                created,
            } => Ok(Response::new(pb::ApplyBlueprintResponse {
                name,
                revision,
                created,
                problems: Vec::new(),
            })),
            other => Err(ApiError::Internal(format!("expected a blueprint, got {other:?}")).into()),
        }
    }

    async fn list_blueprints(
        &self,
        request: Request<pb::ListBlueprintsRequest>,
    ) -> Result<Response<pb::ListBlueprintsResponse>, Status> {
        let stale = request.into_inner().stale;
        self.read(stale, |s| {
            Ok(Response::new(pb::ListBlueprintsResponse {
                blueprints: s
                    .workflow
                    .blueprints
                    .values()
                    .filter_map(|revs| revs.last())
                    .map(|b| pb::BlueprintSummary {
                        name: b.name.clone(),
                        latest_revision: b.revision,
                        description: b.spec.description.clone(),
                        created_ms: b.created_ms,
                        resources: b.spec.resources.iter().map(|r| r.name.clone()).collect(),
                    })
                    .collect(),
            }))
        })
        .await
    }

    async fn get_blueprint(
        &self,
        request: Request<pb::GetBlueprintRequest>,
    ) -> Result<Response<pb::GetBlueprintResponse>, Status> {
        let r = request.into_inner();
        self.read(r.stale, |s| {
            let revision = (r.revision != 0).then_some(r.revision);
            let b = s
                .workflow
                .blueprint(&r.name, revision)
                .map_err(workflow_refusal)?;
            Ok(Response::new(pb::GetBlueprintResponse {
                name: b.name.clone(),
                revision: b.revision,
                source: b.source.clone(),
                created_ms: b.created_ms,
                revisions: s.workflow.blueprints[&r.name]
                    .iter()
                    .map(|b| b.revision)
                    .collect(),
                origin_source: b
                    .origin
                    .as_ref()
                    .map(|o| o.source.clone())
                    .unwrap_or_default(),
                origin_commit: b
                    .origin
                    .as_ref()
                    .map(|o| o.commit.clone())
                    .unwrap_or_default(),
                origin_path: b
                    .origin
                    .as_ref()
                    .map(|o| o.path.clone())
                    .unwrap_or_default(),
                origins: s.workflow.blueprints[&r.name]
                    .iter()
                    .map(|b| pb::RevisionOrigin {
                        revision: b.revision,
                        source: b
                            .origin
                            .as_ref()
                            .map(|o| o.source.clone())
                            .unwrap_or_default(),
                        commit: b
                            .origin
                            .as_ref()
                            .map(|o| o.commit.clone())
                            .unwrap_or_default(),
                        path: b
                            .origin
                            .as_ref()
                            .map(|o| o.path.clone())
                            .unwrap_or_default(),
                        created_ms: b.created_ms,
                    })
                    .collect(),
            }))
        })
        .await
    }

    async fn put_site(
        &self,
        request: Request<pb::PutSiteRequest>,
    ) -> Result<Response<pb::PutSiteResponse>, Status> {
        let site = request
            .into_inner()
            .site
            .ok_or_else(|| Status::invalid_argument("site is required"))?;
        let driver = driver_of(&site)?;
        let site = Site {
            name: site.name,
            region: site.region,
            latitude: site.latitude,
            longitude: site.longitude,
            labels: site.labels.into_iter().collect(),
            driver,
        };
        site.validate().map_err(|e| {
            refused_with_problems("site is not valid", &e, "fix these and apply again")
        })?;
        match self
            .write(WorkflowCommand::PutSite {
                site,
                now_ms: now_ms(),
            })
            .await?
        {
            WorkflowResult::Site { created, .. } => {
                Ok(Response::new(pb::PutSiteResponse { created }))
            }
            other => Err(ApiError::Internal(format!("expected a site, got {other:?}")).into()),
        }
    }

    async fn list_sites(
        &self,
        request: Request<pb::ListSitesRequest>,
    ) -> Result<Response<pb::ListSitesResponse>, Status> {
        let stale = request.into_inner().stale;
        self.read(stale, |s| {
            Ok(Response::new(pb::ListSitesResponse {
                sites: s.workflow.sites.values().map(|x| site_msg(s, x)).collect(),
            }))
        })
        .await
    }

    async fn get_site(
        &self,
        request: Request<pb::GetSiteRequest>,
    ) -> Result<Response<pb::Site>, Status> {
        let r = request.into_inner();
        self.read(r.stale, |s| {
            s.workflow
                .sites
                .get(&r.name)
                .map(|site| Response::new(site_msg(s, site)))
                .ok_or_else(|| Status::not_found(format!("site {} not found", r.name)))
        })
        .await
    }

    async fn create_environment(
        &self,
        request: Request<pb::CreateEnvironmentRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        let r = request.into_inner();
        let mut inputs = check_inputs(&r.inputs_json)?;
        seal_inputs(&self.member, Scope::Blueprint(&r.blueprint), &mut inputs).await?;
        let retry = retry_policy(r.retry)?;
        self.start(WorkflowCommand::CreateEnvironment {
            name: r.name,
            site: r.site,
            blueprint: r.blueprint,
            revision: (r.revision != 0).then_some(r.revision),
            inputs,
            labels: r.labels.into_iter().collect::<BTreeMap<_, _>>(),
            retry,
            now_ms: now_ms(),
            drift: drift::policy_from_msg("drift", r.drift)?,
        })
        .await
    }

    async fn set_environment_drift(
        &self,
        request: Request<pb::SetEnvironmentDriftRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        let r = request.into_inner();
        let policy = drift::policy_from_msg("drift", r.drift)?;
        self.write(WorkflowCommand::SetDriftPolicy {
            environment: r.environment.clone(),
            policy,
            now_ms: now_ms(),
        })
        .await?;
        // The write committed through the leader; this member shows it once applied here.
        self.read(false, |s| env_msg(s, &r.environment).map(Response::new))
            .await
    }

    async fn diff_environment(
        &self,
        request: Request<pb::EnvironmentDiffRequest>,
    ) -> Result<Response<pb::EnvironmentDiffResponse>, Status> {
        let name = request.into_inner().name;
        let basis = self.read(false, |s| drift::diff_basis(s, &name)).await?;
        drift::diff(
            self.drivers.as_ref(),
            basis,
            self.member.secrets.as_deref(),
            now_ms(),
        )
        .await
        .map(Response::new)
    }

    async fn list_environments(
        &self,
        request: Request<pb::ListEnvironmentsRequest>,
    ) -> Result<Response<pb::ListEnvironmentsResponse>, Status> {
        let r = request.into_inner();
        self.read(r.stale, |s| {
            let mut out = Vec::new();
            for env in s.workflow.environments.values() {
                if !r.site.is_empty() && env.site != r.site {
                    continue;
                }
                let msg = env_msg(s, &env.name)?;
                if !r.status.is_empty() && msg.status != r.status {
                    continue;
                }
                out.push(msg);
            }
            Ok(Response::new(pb::ListEnvironmentsResponse {
                environments: out,
            }))
        })
        .await
    }

    async fn get_environment(
        &self,
        request: Request<pb::GetEnvironmentRequest>,
    ) -> Result<Response<pb::Environment>, Status> {
        let r = request.into_inner();
        self.read(r.stale, |s| env_msg(s, &r.name).map(Response::new))
            .await
    }

    async fn start_execution(
        &self,
        request: Request<pb::StartExecutionRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        let r = request.into_inner();
        let kind = parse_kind(&r.kind)?;
        let mut inputs = r.inputs_json.as_deref().map(check_inputs).transpose()?;
        if inputs.is_some() && kind != ExecKind::Update {
            return Err(
                ApiError::invalid("inputs_json", "new inputs are only taken by an update").into(),
            );
        }
        if let Some(inputs) = inputs.as_mut() {
            seal_inputs(&self.member, Scope::Environment(&r.environment), inputs).await?;
        }
        let retry = retry_policy(r.retry)?;
        self.start(WorkflowCommand::StartExecution {
            environment: r.environment,
            kind,
            revision: (r.revision != 0).then_some(r.revision),
            inputs,
            retry,
            now_ms: now_ms(),
        })
        .await
    }

    async fn list_executions(
        &self,
        request: Request<pb::ListExecutionsRequest>,
    ) -> Result<Response<pb::ListExecutionsResponse>, Status> {
        let r = request.into_inner();
        self.read(r.stale, |s| {
            let wf = &s.workflow;
            let executions = if r.environment.is_empty() {
                wf.executions.values().map(|e| exec_msg(e, false)).collect()
            } else {
                // The environment's own executions through the index, in id order as the
                // whole list is.
                let mut of: Vec<&Execution> = wf.executions_of(&r.environment).collect();
                of.sort_by(|a, b| a.id.cmp(&b.id));
                of.into_iter().map(|e| exec_msg(e, false)).collect()
            };
            Ok(Response::new(pb::ListExecutionsResponse { executions }))
        })
        .await
    }

    async fn get_execution(
        &self,
        request: Request<pb::GetExecutionRequest>,
    ) -> Result<Response<pb::Execution>, Status> {
        let r = request.into_inner();
        self.read(r.stale, |s| {
            s.workflow
                .executions
                .get(&r.id)
                .map(|e| Response::new(exec_msg(e, true)))
                .ok_or_else(|| Status::not_found(format!("execution {} not found", r.id)))
        })
        .await
    }

    async fn resume_execution(
        &self,
        request: Request<pb::ExecutionActionRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        let id = request.into_inner().id;
        self.start(WorkflowCommand::Resume {
            execution: id,
            now_ms: now_ms(),
        })
        .await
    }

    async fn cancel_execution(
        &self,
        request: Request<pb::ExecutionActionRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        let id = request.into_inner().id;
        self.start(WorkflowCommand::Cancel {
            execution: id,
            now_ms: now_ms(),
        })
        .await
    }

    async fn rollback(
        &self,
        request: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::ExecutionRef>, Status> {
        let r = request.into_inner();
        let retry = retry_policy(r.retry)?;
        self.start(WorkflowCommand::StartExecution {
            environment: r.environment,
            kind: ExecKind::Rollback,
            revision: None,
            inputs: None,
            retry,
            now_ms: now_ms(),
        })
        .await
    }

    type WatchExecutionStream = ExecStream;

    async fn watch_execution(
        &self,
        request: Request<pb::WatchExecutionRequest>,
    ) -> Result<Response<ExecStream>, Status> {
        let id = request.into_inner().id;
        let permit = self.watches.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "this member serves {MAX_EXEC_WATCHES} execution watches at most; retry later, watch through another member, or poll with `moorctl exec show`"
            ))
        })?;
        self.member.read_barrier().await?;
        let member = self.member.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            // Held until the task ends: when the execution ends, the member stops, or the
            // watcher goes away (noticed at once, not at the next change).
            let _permit = permit;
            let mut metrics = member.raft.metrics();
            let mut last: Option<pb::Execution> = None;
            loop {
                let current = {
                    let state = member.state.read().expect("state lock poisoned");
                    state
                        .workflow
                        .executions
                        .get(&id)
                        .map(|e| (exec_msg(e, true), e.state.is_terminal()))
                };
                let Some((msg, terminal)) = current else {
                    let _ = tx
                        .send(Err(Status::not_found(format!("execution {id} not found"))))
                        .await;
                    return;
                };
                if last.as_ref() != Some(&msg) {
                    if tx.send(Ok(msg.clone())).await.is_err() {
                        return; // the watcher went away
                    }
                    last = Some(msg);
                }
                if terminal {
                    return;
                }
                // Wake on the next applied entry (or any metrics change), or end when the
                // watcher has gone away.
                tokio::select! {
                    changed = metrics.changed() => {
                        if changed.is_err() {
                            let _ = tx
                                .send(Err(Status::unavailable("member is shutting down")))
                                .await;
                            return;
                        }
                    }
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moor_domain::environment::EnvStatus;
    use moor_domain::execution::{RetryPolicy, StepState};

    #[test]
    fn snake_case_names() {
        assert_eq!(EnvStatus::InSync.as_str(), "in_sync");
        assert_eq!(EnvStatus::RollingBack.as_str(), "rolling_back");
        assert_eq!(StepState::Dispatched.as_str(), "dispatched");
        assert_eq!(parse_kind("heal").unwrap(), ExecKind::Heal);
        assert!(parse_kind("reboot")
            .unwrap_err()
            .message()
            .contains("install, update"));
    }

    #[test]
    fn retry_policy_defaults_and_limits() {
        assert_eq!(retry_policy(None).unwrap(), RetryPolicy::default());
        let bad = pb::RetryPolicy {
            max_attempts: 1000,
            ..Default::default()
        };
        assert_eq!(
            retry_policy(Some(bad)).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let bad = pb::RetryPolicy {
            backoff_base_ms: 10_000,
            backoff_max_ms: 100,
            ..Default::default()
        };
        assert!(retry_policy(Some(bad)).is_err());
    }

    #[test]
    fn inputs_must_be_an_object() {
        assert!(check_inputs("").unwrap().is_empty());
        assert_eq!(
            check_inputs("{\"a\": 1}").unwrap()["a"],
            serde_json::json!(1)
        );
        assert!(check_inputs("[1]").is_err());
        assert!(check_inputs("{")
            .unwrap_err()
            .message()
            .contains("not valid JSON"));
    }
}
