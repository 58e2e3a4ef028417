//! The `StartRolloutRequest` that `rollout start` sends and that `trigger create` stores as
//! its template: made in one place, so a trigger's rollouts run exactly as the same flags
//! make `rollout start` run one.

use moor_proto::names::{RolloutActionKind, WireName};
use moor_proto::rollout as pb;

use crate::cli::RolloutPlanArgs;

/// A rollout of `action` over `group`, run as `plan` says; what the action changes (the
/// blueprint, revision, inputs, environment names and labels) is left empty for the caller.
pub(super) fn rollout_request(
    group: &str,
    action: RolloutActionKind,
    plan: &RolloutPlanArgs,
) -> pb::StartRolloutRequest {
    pb::StartRolloutRequest {
        group: group.to_string(),
        action: action.as_str().into(),
        max_parallel: plan.max_parallel as i64,
        waves: plan.waves.clone(),
        require_approval: plan.approval,
        max_failed: plan.max_failed.map(i64::from),
        max_failed_percent: plan.max_failed_percent.map(i64::from),
        max_attempts: plan.max_attempts.unwrap_or(0),
        backoff_base_ms: 0,
        backoff_max_ms: 0,
        step_timeout_ms: plan.step_timeout_ms.unwrap_or(0),
        ..Default::default()
    }
}
