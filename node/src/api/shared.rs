//! What every client service shares: committing a workflow command through the leader,
//! reading the state behind a read barrier, and parsing the request fields several services
//! take (retry policies, inputs). One place, so the services never borrow from each other.

use moor_domain::command::{Command, CommandResult};
use moor_domain::environment::Inputs;
use moor_domain::execution::RetryPolicy;
use moor_domain::state::MoorState;
use moor_domain::workflow::{WorkflowCommand, WorkflowResult};
use moor_proto::workflow as pb;
use tonic::Status;

use crate::errors::{workflow_refusal, ApiError};
use crate::raft::member::Member;

/// Commits a workflow command through the leader; a refusal becomes its gRPC status.
pub async fn write_workflow(
    member: &Member,
    command: WorkflowCommand,
) -> Result<WorkflowResult, Status> {
    match member.write(Command::Workflow(command)).await? {
        (_, CommandResult::Workflow(WorkflowResult::Rejected(e))) => Err(workflow_refusal(e)),
        // Apply could not carry the command out and changed nothing (see moor-domain).
        (_, CommandResult::Refused(reason)) => Err(ApiError::FailedPrecondition { reason }.into()),
        (_, CommandResult::Workflow(r)) => Ok(r),
        (_, other) => Err(ApiError::Internal(format!("workflow write answered {other:?}")).into()),
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
