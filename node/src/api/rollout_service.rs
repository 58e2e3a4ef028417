//! The rollout API ([`RolloutApi`]): groups and rollouts. Requests are validated here so a
//! bad one costs no log entry and gets an error naming the field; `apply` checks again
//! against the state it runs on.

use crate::api::drift::policy_from_parts;
use std::collections::BTreeMap;
use std::sync::Arc;

use moor_proto::rollout as pb;
use moor_proto::rollout::rollout_api_server::RolloutApi;
use moor_proto::workflow as wpb;
use tonic::{Request, Response, Status};

use crate::api::sealing::seal_rollout_inputs;
use crate::api::shared::{check_inputs, read_state, retry_policy, write_workflow};
use crate::errors::ApiError;
use crate::exec::executor::now_ms;
use crate::raft::member::Member;
use moor_domain::names::WireName;
use moor_domain::rollout::{
    state_name, FailureBudget, Group, GroupKind, Rollout, RolloutAction, Selector, TargetState,
};
use moor_domain::rollout::{RolloutOp, RolloutSpec, WavesSpec};
use moor_domain::state::MoorState;
use moor_domain::workflow::{WorkflowCommand, WorkflowResult, WorkflowState};

/// Most targets returned in one page.
const MAX_TARGETS_PAGE: u32 = 1000;
/// Most names an explicit group may list.
const MAX_GROUP_NAMES: usize = 100_000;

/// Serves [`RolloutApi`] for one member.
pub struct RolloutService {
    member: Arc<Member>,
}

impl RolloutService {
    pub fn new(member: Arc<Member>) -> Self {
        RolloutService { member }
    }

    async fn control(&self, id: String, op: RolloutOp) -> Result<Response<pb::Rollout>, Status> {
        if id.is_empty() {
            return Err(ApiError::invalid("id", "is empty: name a rollout, e.g. r1").into());
        }
        let result = write_workflow(
            &self.member,
            WorkflowCommand::ControlRollout {
                id,
                op,
                now_ms: now_ms(),
            },
        )
        .await?;
        self.answer(result).await
    }

    /// The rollout a write produced. Read through a barrier: when this member forwarded the
    /// write it may not have applied it yet.
    async fn answer(&self, result: WorkflowResult) -> Result<Response<pb::Rollout>, Status> {
        let WorkflowResult::Rollout { id } = result else {
            return Err(ApiError::Internal(format!("expected a rollout, got {result:?}")).into());
        };
        read_state(&self.member, false, |s| {
            rollout_msg(&s.workflow, &id, "", 0, 0).map(Response::new)
        })
        .await
    }
}

fn parallel(field: &str, v: i64) -> Result<u32, Status> {
    if v <= 0 {
        return Err(ApiError::invalid(
            field,
            format!("{v} is not a parallelism: give at least 1 (how many targets run at once)"),
        )
        .into());
    }
    u32::try_from(v)
        .map_err(|_| ApiError::invalid(field, format!("{v} is more than {}", u32::MAX)).into())
}

fn group_from_msg(g: pb::Group) -> Result<Group, Status> {
    let kind = match g.kind.as_str() {
        "sites" => GroupKind::Sites,
        "environments" => GroupKind::Environments,
        other => {
            return Err(ApiError::invalid(
                "group.kind",
                format!("{other:?} is not a group kind: use sites or environments"),
            )
            .into())
        }
    };
    if g.names.len() > MAX_GROUP_NAMES {
        return Err(ApiError::invalid(
            "group.names",
            format!(
                "lists {} names; at most {MAX_GROUP_NAMES}: select by labels instead",
                g.names.len()
            ),
        )
        .into());
    }
    Ok(Group {
        name: g.name,
        kind,
        selector: Selector {
            match_labels: g.match_labels.into_iter().collect(),
            names: g.names,
        },
        created_ms: 0,
        updated_ms: 0,
        drift: policy_from_parts(
            "group.drift",
            g.drift_check_every_ms,
            &g.drift_on_drift,
            g.drift_max_heals_per_hour,
        )?,
    })
}

fn group_msg(state: &WorkflowState, g: &Group) -> pb::Group {
    pb::Group {
        name: g.name.clone(),
        kind: g.kind.as_str().to_string(),
        match_labels: g.selector.match_labels.clone().into_iter().collect(),
        names: g.selector.names.clone(),
        matches: state.group_members(g).len() as u64,
        created_ms: g.created_ms,
        updated_ms: g.updated_ms,
        drift_check_every_ms: g.drift.map_or(0, |p| p.check_every_ms),
        drift_on_drift: g
            .drift
            .map(|p| p.on_drift.as_str().to_string())
            .unwrap_or_default(),
        drift_max_heals_per_hour: g.drift.map_or(0, |p| p.max_heals_per_hour),
    }
}

fn budget_value(field: &str, v: Option<i64>, max: i64) -> Result<Option<u32>, Status> {
    match v {
        None => Ok(None),
        Some(v) if v < 0 || v > max => {
            Err(ApiError::invalid(field, format!("{v} is outside 0..={max}")).into())
        }
        Some(v) => Ok(Some(v as u32)),
    }
}

pub(crate) fn spec_from_msg(r: pb::StartRolloutRequest) -> Result<RolloutSpec, Status> {
    if r.group.is_empty() {
        return Err(ApiError::invalid("group", "is empty: name the group to roll out to").into());
    }
    let max_parallel = parallel("max_parallel", r.max_parallel)?;
    // Parsed once, here: the command carries the parsed waves and apply never parses.
    let waves =
        WavesSpec::parse(&r.waves).map_err(|e| Status::from(ApiError::invalid("waves", e)))?;
    let retry = retry_policy(Some(wpb::RetryPolicy {
        max_attempts: r.max_attempts,
        backoff_base_ms: r.backoff_base_ms,
        backoff_max_ms: r.backoff_max_ms,
        step_timeout_ms: r.step_timeout_ms,
    }))?;
    let budget = FailureBudget {
        max_failed: budget_value("max_failed", r.max_failed, u32::MAX as i64)?,
        max_failed_percent: budget_value("max_failed_percent", r.max_failed_percent, 100)?,
    };
    let action = action_from_msg(&r)?;
    Ok(RolloutSpec {
        group: r.group,
        action,
        retry,
        max_parallel,
        waves,
        require_approval: r.require_approval,
        budget,
    })
}

/// The rollout's action and the fields that belong to it; fields of another action are
/// refused rather than ignored.
fn action_from_msg(r: &pb::StartRolloutRequest) -> Result<RolloutAction, Status> {
    let no_install_fields = |action: &str| -> Result<(), Status> {
        if !r.blueprint.is_empty() || !r.environment_name.is_empty() || !r.labels.is_empty() {
            return Err(ApiError::invalid(
                "blueprint",
                format!(
                    "a {action} rollout changes existing environments; blueprint, \
                     environment_name and labels apply to install rollouts only"
                ),
            )
            .into());
        }
        Ok(())
    };
    match r.action.as_str() {
        "install" => {
            if r.blueprint.is_empty() {
                return Err(ApiError::invalid(
                    "blueprint",
                    "is empty: an install rollout needs the blueprint to install",
                )
                .into());
            }
            Ok(RolloutAction::Install {
                blueprint: r.blueprint.clone(),
                revision: r.revision,
                inputs: check_inputs(&r.inputs_json)?,
                environment_name: r.environment_name.clone(),
                labels: r.labels.clone().into_iter().collect::<BTreeMap<_, _>>(),
            })
        }
        "update" => {
            no_install_fields("update")?;
            Ok(RolloutAction::Update {
                revision: (r.revision != 0).then_some(r.revision),
                inputs: if r.inputs_json.trim().is_empty() {
                    None
                } else {
                    Some(check_inputs(&r.inputs_json)?)
                },
            })
        }
        other @ ("uninstall" | "heal" | "rollback") => {
            no_install_fields(other)?;
            if r.revision != 0 || !r.inputs_json.trim().is_empty() {
                return Err(ApiError::invalid(
                    "revision",
                    format!("a {other} rollout takes no revision or inputs"),
                )
                .into());
            }
            Ok(match other {
                "uninstall" => RolloutAction::Uninstall,
                "heal" => RolloutAction::Heal,
                _ => RolloutAction::Rollback,
            })
        }
        other => Err(ApiError::invalid(
            "action",
            format!("{other:?} is not a rollout action: use install, update, uninstall, heal or rollback"),
        )
        .into()),
    }
}

/// A rollout as a wire message; `targets` selects which targets to include ("" none, "all",
/// or a target state), paged by `offset` and `limit`.
pub fn rollout_msg(
    state: &WorkflowState,
    id: &str,
    targets: &str,
    offset: u32,
    limit: u32,
) -> Result<pb::Rollout, Status> {
    let r = state
        .rollouts
        .rollouts
        .get(id)
        .ok_or_else(|| Status::not_found(format!("rollout {id} not found")))?;
    let filter: Option<Option<TargetState>> = match targets {
        "" => None,
        "all" => Some(None),
        s => Some(Some(
            serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
                Status::from(ApiError::invalid(
                    "targets",
                    format!("{s:?} is not a target state: use all, queued, running, succeeded, failed or skipped"),
                ))
            })?,
        )),
    };
    let limit = if limit == 0 {
        MAX_TARGETS_PAGE
    } else {
        limit.min(MAX_TARGETS_PAGE)
    };
    Ok(message(r, filter, offset, limit))
}

fn message(
    r: &Rollout,
    filter: Option<Option<TargetState>>,
    offset: u32,
    limit: u32,
) -> pb::Rollout {
    let (blueprint, revision) = match &r.action {
        RolloutAction::Install {
            blueprint,
            revision,
            ..
        } => (blueprint.clone(), *revision),
        RolloutAction::Update { revision, .. } => (String::new(), revision.unwrap_or(0)),
        _ => (String::new(), 0),
    };
    let failures = r
        .failures
        .iter()
        .map(|(error, count)| pb::FailureGroup {
            error: error.clone(),
            count: *count,
            examples: Vec::new(),
        })
        .collect();
    let targets = match filter {
        None => Vec::new(),
        Some(want) => target_msgs(r, want, offset, limit),
    };
    pb::Rollout {
        id: r.id.clone(),
        group: r.group.clone(),
        action: r.action.name().to_string(),
        blueprint,
        revision,
        state: state_name(r.state).to_string(),
        pause_reason: r.pause_reason.clone().unwrap_or_default(),
        max_parallel: r.max_parallel,
        waves_spec: r.waves_spec.clone(),
        current_wave: r.wave,
        require_approval: r.require_approval,
        max_failed: r.budget.max_failed,
        max_failed_percent: r.budget.max_failed_percent,
        total: r.targets.len() as u32,
        queued: r.queued(),
        running: r.running,
        succeeded: r.succeeded,
        failed: r.failed,
        skipped: r.skipped,
        waves: wave_msgs(r),
        failures,
        rollback_of: r.rollback_of.clone().unwrap_or_default(),
        rolled_back_by: r.rolled_back_by.clone().unwrap_or_default(),
        created_ms: r.created_ms,
        finished_ms: r.finished_ms,
        updated_ms: r.updated_ms,
        targets,
        starts: r.starts,
    }
}

/// The targets `want` selects (all when `None`), paged by `offset` and `limit`.
fn target_msgs(
    r: &Rollout,
    want: Option<TargetState>,
    offset: u32,
    limit: u32,
) -> Vec<pb::RolloutTarget> {
    r.targets
        .iter()
        .enumerate()
        .filter(|(_, t)| want.is_none_or(|w| t.state == w))
        .skip(offset as usize)
        .take(limit as usize)
        .map(|(i, t)| pb::RolloutTarget {
            index: i as u32,
            environment: t.environment.clone(),
            site: t.site.clone().unwrap_or_default(),
            state: t.state.as_str().to_string(),
            execution: t.execution.clone().unwrap_or_default(),
        })
        .collect()
}

/// Per-wave counts, in wave order.
fn wave_msgs(r: &Rollout) -> Vec<pb::Wave> {
    r.wave_counts()
        .into_iter()
        .enumerate()
        .map(|(i, c)| pb::Wave {
            index: i as u32,
            size: c.size,
            queued: c.queued,
            running: c.running,
            succeeded: c.succeeded,
            failed: c.failed,
            skipped: c.skipped,
        })
        .collect()
}

/// Fills the examples of each failure group from the failed targets' executions.
fn with_examples(state: &WorkflowState, r: &Rollout, mut msg: pb::Rollout) -> pb::Rollout {
    if msg.failures.is_empty() {
        return msg;
    }
    let mut by_error: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for t in r.targets.iter().filter(|t| t.state == TargetState::Failed) {
        let error = t
            .execution
            .as_ref()
            .and_then(|x| state.executions.get(x))
            .and_then(|e| e.error.as_deref())
            .unwrap_or("");
        let list = by_error.entry(error).or_default();
        if list.len() < 3 {
            list.push(t.environment.clone());
        }
    }
    for f in &mut msg.failures {
        let key = f.error.trim_end_matches('…');
        if let Some((_, examples)) = by_error.iter().find(|(e, _)| e.starts_with(key)) {
            f.examples = examples.clone();
        }
    }
    msg
}

#[tonic::async_trait]
impl RolloutApi for RolloutService {
    async fn put_group(
        &self,
        request: Request<pb::PutGroupRequest>,
    ) -> Result<Response<pb::PutGroupResponse>, Status> {
        let g = request
            .into_inner()
            .group
            .ok_or_else(|| Status::from(ApiError::invalid("group", "is missing")))?;
        let group = group_from_msg(g)?;
        match write_workflow(
            &self.member,
            WorkflowCommand::PutGroup {
                group,
                now_ms: now_ms(),
            },
        )
        .await?
        {
            WorkflowResult::Group {
                created, matches, ..
            } => Ok(Response::new(pb::PutGroupResponse { created, matches })),
            other => Err(ApiError::Internal(format!("expected a group, got {other:?}")).into()),
        }
    }

    async fn get_group(
        &self,
        request: Request<pb::GetGroupRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        let r = request.into_inner();
        read_state(&self.member, r.stale, |s: &MoorState| {
            let g = s
                .workflow
                .rollouts
                .groups
                .get(&r.name)
                .ok_or_else(|| Status::not_found(format!("group {} not found", r.name)))?;
            Ok(Response::new(group_msg(&s.workflow, g)))
        })
        .await
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        read_state(&self.member, request.into_inner().stale, |s| {
            Ok(Response::new(pb::ListGroupsResponse {
                groups: s
                    .workflow
                    .rollouts
                    .groups
                    .values()
                    .map(|g| group_msg(&s.workflow, g))
                    .collect(),
            }))
        })
        .await
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        let name = request.into_inner().name;
        write_workflow(&self.member, WorkflowCommand::DeleteGroup { name }).await?;
        Ok(Response::new(pb::DeleteGroupResponse {}))
    }

    async fn start_rollout(
        &self,
        request: Request<pb::StartRolloutRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        let mut spec = spec_from_msg(request.into_inner())?;
        seal_rollout_inputs(&self.member, &mut spec.action, None).await?;
        let result = write_workflow(
            &self.member,
            WorkflowCommand::StartRollout {
                spec,
                now_ms: now_ms(),
            },
        )
        .await?;
        self.answer(result).await
    }

    async fn get_rollout(
        &self,
        request: Request<pb::GetRolloutRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        let r = request.into_inner();
        read_state(&self.member, r.stale, |s| {
            let msg = rollout_msg(
                &s.workflow,
                &r.id,
                &r.targets,
                r.targets_offset,
                r.targets_limit,
            )?;
            let rollout = &s.workflow.rollouts.rollouts[&r.id];
            Ok(Response::new(with_examples(&s.workflow, rollout, msg)))
        })
        .await
    }

    async fn list_rollouts(
        &self,
        request: Request<pb::ListRolloutsRequest>,
    ) -> Result<Response<pb::ListRolloutsResponse>, Status> {
        read_state(&self.member, request.into_inner().stale, |s| {
            let ro = &s.workflow.rollouts;
            Ok(Response::new(pb::ListRolloutsResponse {
                rollouts: ro
                    .rollouts
                    .values()
                    .map(|r| message(r, None, 0, 0))
                    .collect(),
                max_parallel_total: ro.max_parallel_total(),
                running_total: ro.running_total(),
            }))
        })
        .await
    }

    async fn pause_rollout(
        &self,
        request: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.control(request.into_inner().id, RolloutOp::Pause)
            .await
    }

    async fn resume_rollout(
        &self,
        request: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.control(request.into_inner().id, RolloutOp::Resume)
            .await
    }

    async fn cancel_rollout(
        &self,
        request: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.control(request.into_inner().id, RolloutOp::Cancel)
            .await
    }

    async fn approve_rollout(
        &self,
        request: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.control(request.into_inner().id, RolloutOp::Approve)
            .await
    }

    async fn rollback_rollout(
        &self,
        request: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.control(request.into_inner().id, RolloutOp::Rollback)
            .await
    }

    async fn set_rollout_parallel(
        &self,
        request: Request<pb::SetRolloutParallelRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        let r = request.into_inner();
        let n = parallel("max_parallel", r.max_parallel)?;
        self.control(r.id, RolloutOp::SetMaxParallel(n)).await
    }

    async fn set_rollout_limits(
        &self,
        request: Request<pb::SetRolloutLimitsRequest>,
    ) -> Result<Response<pb::SetRolloutLimitsResponse>, Status> {
        let n = parallel(
            "max_parallel_total",
            request.into_inner().max_parallel_total,
        )?;
        write_workflow(
            &self.member,
            WorkflowCommand::SetRolloutLimits {
                max_parallel_total: n,
                now_ms: now_ms(),
            },
        )
        .await?;
        Ok(Response::new(pb::SetRolloutLimitsResponse {
            max_parallel_total: n,
        }))
    }
}
