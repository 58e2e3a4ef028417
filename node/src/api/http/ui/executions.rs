//! The execution page, `/ui/executions/{id}`: the execution's facts, its steps and its
//! timeline (every attempt with its fence token, outcome and the term that recorded it,
//! drawn on one time axis), with the resume and cancel buttons the caller's role allows.
//!
//! It reads through `WorkflowApi::get_execution`, behind its read barrier, so it shows
//! what `moorctl exec show` and `moorctl exec timeline` show.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use moor_dashboard::{execution_page, AttemptView, ExecutionView, StepView};
use moor_proto::workflow as pb;
use moor_proto::workflow::workflow_api_server::WorkflowApi;

use super::{form, html, status_page};
use crate::api::auth::methods::UI_EXECUTION_ACTIONS;
use crate::api::http::HookHttp;
use crate::exec::executor::now_ms;

fn step(s: pb::Step) -> StepView {
    StepView {
        index: s.index,
        resource: s.resource,
        resource_type: s.resource_type,
        action: s.action,
        state: s.state,
        attempt: s.attempt,
        fence_token: s.fence_token,
        depends_on: s.depends_on,
        last_error: s.last_error,
        dispatched_ms: s.dispatched_ms,
        finished_ms: s.finished_ms,
        attempts: s
            .attempts
            .into_iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                fence_token: a.fence_token,
                dispatched_ms: a.dispatched_ms,
                finished_ms: a.finished_ms,
                outcome: a.outcome,
                error: a.error,
                result_term: a.result_term,
            })
            .collect(),
    }
}

/// `GET /ui/executions/{id}`.
pub async fn page(
    State(h): State<Arc<HookHttp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let answer = h
        .workflow
        .get_execution(tonic::Request::new(pb::GetExecutionRequest {
            id,
            stale: false,
        }))
        .await;
    let x = match answer {
        Ok(x) => x.into_inner(),
        Err(status) => return status_page(&status, moor_dashboard::routes::MAP_PAGE),
    };
    let site = {
        let state = h.member.state.read().expect("state lock poisoned");
        state
            .workflow
            .environments
            .get(&x.environment)
            .map(|e| e.site.clone())
            .unwrap_or_default()
    };
    // Shown only where it leads somewhere: when this member exports traces.
    let trace_id = if crate::telemetry::enabled() {
        moor_proto::trace::execution_trace_id(&x.id)
    } else {
        String::new()
    };
    let view = ExecutionView {
        trace_id,
        id: x.id,
        environment: x.environment,
        site,
        kind: x.kind,
        state: x.state,
        target_revision: x.target_revision,
        created_ms: x.created_ms,
        started_ms: x.started_ms,
        finished_ms: x.finished_ms,
        error: x.error,
        steps: x.steps.into_iter().map(step).collect(),
        now_ms: now_ms(),
    };
    let forms = form::offer(&h.csrf, &h.member, &headers, &UI_EXECUTION_ACTIONS);
    html(StatusCode::OK, execution_page(&view, &forms))
}
