//! What every client service shares: committing a workflow command through the leader,
//! reading the state behind a read barrier, and parsing the request fields several services
//! take (retry policies, inputs). One place, so the services never borrow from each other.

use moor_domain::command::{Command, CommandResult};
use moor_domain::environment::Inputs;
use moor_domain::execution::RetryPolicy;
use moor_domain::hooks::{HooksCommand, HooksResult};
use moor_domain::rollout::RolloutAction;
use moor_domain::state::MoorState;
use moor_domain::workflow::{WorkflowCommand, WorkflowResult};
use moor_proto::workflow as pb;
use tonic::Status;

use crate::api::auth::caller::audited;
use crate::errors::{workflow_refusal, ApiError};
use crate::raft::member::Member;
use moor_domain::auth::permission::Target;

/// Commits a workflow command through the leader as the current caller's (audited: apply
/// checks the caller's permission and scope on the command's objects again); a refusal
/// becomes its gRPC status.
pub async fn write_workflow(
    member: &Member,
    command: WorkflowCommand,
) -> Result<WorkflowResult, Status> {
    let target = {
        let state = member.state.read().expect("state lock poisoned");
        target_of(&command, &state)
    };
    let object = describe(&target);
    let command = audited(Command::Workflow(command), target, object);
    let audited = matches!(command, Command::Audited { .. });
    match member.write(command).await? {
        (_, CommandResult::Workflow(WorkflowResult::Rejected(e))) => Err(workflow_refusal(e)),
        // Apply refused the caller at this index (revoked, expired, out of scope).
        (_, CommandResult::Refused(reason)) if audited => {
            Err(ApiError::PermissionDenied { reason }.into())
        }
        // Apply could not carry the command out and changed nothing (see moor-domain).
        (_, CommandResult::Refused(reason)) => Err(ApiError::FailedPrecondition { reason }.into()),
        (_, CommandResult::Workflow(r)) => Ok(r),
        (_, other) => Err(ApiError::Internal(format!("workflow write answered {other:?}")).into()),
    }
}

/// Commits a hooks command (receivers, sources, triggers) through the leader as the current
/// caller's, audited on `target`; a refusal becomes its gRPC status.
pub async fn write_hooks(
    member: &Member,
    command: HooksCommand,
    target: Target,
) -> Result<HooksResult, Status> {
    let object = describe(&target);
    let command = audited(Command::Hooks(command), target, object);
    let audited = matches!(command, Command::Audited { .. });
    match member.write(command).await? {
        (_, CommandResult::Hooks(HooksResult::Rejected(e))) => Err(workflow_refusal(e)),
        (_, CommandResult::Refused(reason)) if audited => {
            Err(ApiError::PermissionDenied { reason }.into())
        }
        (_, CommandResult::Refused(reason)) => Err(ApiError::FailedPrecondition { reason }.into()),
        (_, CommandResult::Hooks(r)) => Ok(r),
        (_, other) => Err(ApiError::Internal(format!("hooks write answered {other:?}")).into()),
    }
}

/// The objects a command acts on, as permissions and scopes see them: its name, the group
/// of a rollout, the blueprint of an environment (looked up here for an execution; apply
/// checks the stamp against the command again).
fn target_of(command: &WorkflowCommand, state: &MoorState) -> Target {
    let (name, group, blueprint) = match command {
        WorkflowCommand::PutBlueprint { spec, .. } => {
            (Some(spec.name.clone()), None, Some(spec.name.clone()))
        }
        WorkflowCommand::PutSite { site, .. } => (Some(site.name.clone()), None, None),
        WorkflowCommand::CreateEnvironment {
            name, blueprint, ..
        } => (Some(name.clone()), None, Some(blueprint.clone())),
        WorkflowCommand::StartExecution { environment, .. }
        | WorkflowCommand::SetDriftPolicy { environment, .. } => {
            let blueprint = state
                .workflow
                .environments
                .get(environment)
                .map(|e| e.blueprint.clone());
            (Some(environment.clone()), None, blueprint)
        }
        WorkflowCommand::Resume { execution, .. } | WorkflowCommand::Cancel { execution, .. } => {
            (Some(execution.clone()), None, None)
        }
        WorkflowCommand::PutGroup { group, .. } => {
            (Some(group.name.clone()), Some(group.name.clone()), None)
        }
        WorkflowCommand::DeleteGroup { name } => (Some(name.clone()), Some(name.clone()), None),
        WorkflowCommand::StartRollout { spec, .. } => {
            let blueprint = match &spec.action {
                RolloutAction::Install { blueprint, .. } => Some(blueprint.clone()),
                _ => None,
            };
            (None, Some(spec.group.clone()), blueprint)
        }
        WorkflowCommand::ControlRollout { id, .. } => (Some(id.clone()), None, None),
        _ => (None, None, None),
    };
    Target {
        name,
        group,
        blueprint,
    }
}

/// How the audit log names a request's object: `group edge`, `blueprint web`,
/// `env-1 (blueprint web)`; a name that is the group or blueprint itself is not repeated.
fn describe(target: &Target) -> String {
    let mut parts = Vec::new();
    if let Some(g) = &target.group {
        parts.push(format!("group {g}"));
    }
    if let Some(b) = &target.blueprint {
        parts.push(format!("blueprint {b}"));
    }
    match &target.name {
        Some(n) if target.group.as_ref() != Some(n) && target.blueprint.as_ref() != Some(n) => {
            if parts.is_empty() {
                n.clone()
            } else {
                format!("{n} ({})", parts.join(", "))
            }
        }
        _ => parts.join(", "),
    }
}

/// Runs `f` on the state once it is current enough for the requested consistency.
pub async fn read_state<T>(
    member: &Member,
    stale: bool,
    f: impl FnOnce(&MoorState) -> Result<T, Status>,
) -> Result<T, Status> {
    if !stale {
        member.read_barrier().await?;
    }
    let state = member.state.read().expect("state lock poisoned");
    if !stale {
        crate::api::auth::caller::still_valid(&state)?;
    }
    f(&state)
}

pub fn retry_policy(p: Option<pb::RetryPolicy>) -> Result<RetryPolicy, Status> {
    let d = RetryPolicy::default();
    let Some(p) = p else { return Ok(d) };
    let r = RetryPolicy {
        max_attempts: if p.max_attempts == 0 {
            d.max_attempts
        } else {
            p.max_attempts
        },
        backoff_base_ms: if p.backoff_base_ms == 0 {
            d.backoff_base_ms
        } else {
            p.backoff_base_ms
        },
        backoff_max_ms: if p.backoff_max_ms == 0 {
            d.backoff_max_ms
        } else {
            p.backoff_max_ms
        },
        step_timeout_ms: if p.step_timeout_ms == 0 {
            d.step_timeout_ms
        } else {
            p.step_timeout_ms
        },
    };
    if r.max_attempts > 100 {
        return Err(ApiError::invalid(
            "retry.max_attempts",
            format!("{} is more than 100", r.max_attempts),
        )
        .into());
    }
    if r.backoff_base_ms > r.backoff_max_ms {
        return Err(ApiError::invalid(
            "retry.backoff_base_ms",
            format!(
                "{} exceeds retry.backoff_max_ms {}",
                r.backoff_base_ms, r.backoff_max_ms
            ),
        )
        .into());
    }
    if r.step_timeout_ms < 10 || r.step_timeout_ms > 3_600_000 {
        return Err(ApiError::invalid(
            "retry.step_timeout_ms",
            format!("{} is outside 10..=3600000", r.step_timeout_ms),
        )
        .into());
    }
    Ok(r)
}

/// Parses a request's inputs (a JSON object) once, where the request arrives: commands carry
/// the parsed map, so apply never parses JSON.
pub fn check_inputs(inputs_json: &str) -> Result<Inputs, Status> {
    if inputs_json.trim().is_empty() {
        return Ok(Inputs::new());
    }
    match serde_json::from_str::<serde_json::Value>(inputs_json) {
        Ok(serde_json::Value::Object(map)) => Ok(map.into_iter().collect()),
        Ok(_) => Err(ApiError::invalid(
            "inputs_json",
            "must be a JSON object, e.g. {\"replicas\": 3}",
        )
        .into()),
        Err(e) => Err(ApiError::invalid("inputs_json", format!("is not valid JSON: {e}")).into()),
    }
}
