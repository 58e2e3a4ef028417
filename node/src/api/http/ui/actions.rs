//! The map view's day-2 actions: `POST /ui/rollouts` (start one from the list's form),
//! `POST /ui/rollouts/{id}/{pause|resume|approve|cancel}`, `POST /ui/rollouts/{id}/parallel`
//! (the form's `max_parallel`, as `moorctl rollout parallel ID N`),
//! `POST /ui/environments/{name}/{heal|rollback}` and `POST /ui/executions/{id}/{resume|cancel}`.
//!
//! No second implementation: each calls the gRPC handler `moorctl` reaches
//! ([`RolloutApi`]'s `pause_rollout` …, [`WorkflowApi::start_execution`] with kind `heal`,
//! `rollback`, `resume_execution`, `cancel_execution`),
//! inside the [`Caller`](crate::api::auth::caller::Caller) the gate admitted for the
//! action's own operation ([`methods::ui_operation`]): the role check is the gate's, the
//! write is audited with the caller's stamp and checked again by apply, and a member that
//! does not lead forwards it to the leader (`Member::write`). What the handler answers
//! becomes a page: success redirects to the rollout's or execution's page (POST, redirect,
//! GET);
//! a refusal is a page with its status on HTTP's scale (`status_page`), and a write whose
//! outcome is unknown (the leader went away mid-write) says so, 504, rather than guessing.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use moor_dashboard::forms::rollout_href;
use moor_dashboard::{environment_href, execution_href};
use moor_domain::auth::operation::Operation;
use moor_domain::names::{ExecKind, WireName};
use moor_proto::rollout::rollout_api_server::RolloutApi;
use moor_proto::rollout::{RolloutActionRequest, SetRolloutParallelRequest, StartRolloutRequest};
use moor_proto::workflow::workflow_api_server::WorkflowApi;
use moor_proto::workflow::{ExecutionActionRequest, RollbackRequest, StartExecutionRequest};

use super::{form, not_found, problem, status_page};
use crate::api::auth::methods::{self, UI_HEAL};
use crate::api::http::HookHttp;

/// The heal action: its word and operation, as the site page offers it.
pub const HEAL: (&str, Operation) = UI_HEAL;

/// See other: where the browser goes after an action.
fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_string())]).into_response()
}

/// `POST /ui/rollouts/{id}/{action}`.
pub async fn rollout(
    State(h): State<Arc<HookHttp>>,
    Path((id, action)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(op) = methods::ui_rollout_action(&action) else {
        return not_found().await;
    };
    let back = rollout_href(&id);
    let session = |headers: &HeaderMap| Some(form::session_of(headers));
    let posted = match form::accept(&h.csrf, request, session, &back).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    if op == Operation::RolloutSetParallel {
        let max_parallel = match number::<i64>(&posted, moor_dashboard::PARALLEL_FIELD) {
            Ok(Some(n)) => n,
            Ok(None) => {
                let why = "give the new parallelism: how many targets run at once (at least 1)";
                return problem(StatusCode::BAD_REQUEST, "Refused", why, &back);
            }
            Err(why) => return problem(StatusCode::BAD_REQUEST, "Refused", &why, &back),
        };
        let req = tonic::Request::new(SetRolloutParallelRequest { id, max_parallel });
        return match h.rollouts.set_rollout_parallel(req).await {
            Ok(_) => redirect(&back),
            Err(status) => status_page(&status, &back),
        };
    }
    let req = tonic::Request::new(RolloutActionRequest { id: id.clone() });
    let done = match op {
        Operation::RolloutPause => h.rollouts.pause_rollout(req).await,
        Operation::RolloutResume => h.rollouts.resume_rollout(req).await,
        Operation::RolloutApprove => h.rollouts.approve_rollout(req).await,
        Operation::RolloutCancel => h.rollouts.cancel_rollout(req).await,
        _ => return not_found().await,
    };
    match done {
        Ok(_) => redirect(&back),
        Err(status) => status_page(&status, &back),
    }
}

/// `POST /ui/environments/{name}/{heal|rollback}`: starts a heal execution (as `moorctl
/// exec start NAME --kind heal` does) or a rollback (`moorctl exec rollback NAME`), then
/// shows the new execution's page.
pub async fn environment(
    State(h): State<Arc<HookHttp>>,
    Path((environment, action)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(op) = methods::ui_environment_action(&action) else {
        return not_found().await;
    };
    let back = environment_href(&environment);
    let session = |headers: &HeaderMap| Some(form::session_of(headers));
    if let Err(refused) = form::accept(&h.csrf, request, session, &back).await {
        return refused;
    }
    let started = match op {
        Operation::ExecutionStart => {
            let req = tonic::Request::new(StartExecutionRequest {
                environment,
                kind: ExecKind::Heal.as_str().to_string(),
                ..Default::default()
            });
            h.workflow.start_execution(req).await
        }
        Operation::ExecutionRollback => {
            let req = tonic::Request::new(RollbackRequest {
                environment,
                retry: None,
            });
            h.workflow.rollback(req).await
        }
        _ => return not_found().await,
    };
    match started {
        Ok(x) => redirect(&execution_href(&x.into_inner().id)),
        Err(status) => status_page(&status, &back),
    }
}

/// `POST /ui/executions/{id}/{resume|cancel}`, as `moorctl exec resume|cancel ID`; then
/// the execution's page again.
pub async fn execution(
    State(h): State<Arc<HookHttp>>,
    Path((id, action)): Path<(String, String)>,
    request: Request,
) -> Response {
    let Some(op) = methods::ui_execution_action(&action) else {
        return not_found().await;
    };
    let back = execution_href(&id);
    let session = |headers: &HeaderMap| Some(form::session_of(headers));
    if let Err(refused) = form::accept(&h.csrf, request, session, &back).await {
        return refused;
    }
    let req = tonic::Request::new(ExecutionActionRequest { id });
    let done = match op {
        Operation::ExecutionResume => h.workflow.resume_execution(req).await,
        Operation::ExecutionCancel => h.workflow.cancel_execution(req).await,
        _ => return not_found().await,
    };
    match done {
        Ok(_) => redirect(&back),
        Err(status) => status_page(&status, &back),
    }
}

/// A number field of a form: absent or empty is None; anything else must parse.
fn number<T: std::str::FromStr>(posted: &form::Posted, name: &str) -> Result<Option<T>, String> {
    match posted.get(name).map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} must be a whole number, not {v:?}")),
    }
}

/// The start form's fields as `RolloutApi::StartRollout`'s request.
fn start_request(posted: &form::Posted) -> Result<StartRolloutRequest, String> {
    let text = |name: &str| posted.get(name).unwrap_or_default().trim().to_string();
    Ok(StartRolloutRequest {
        group: text("group"),
        action: text("action"),
        blueprint: text("blueprint"),
        revision: number(posted, "revision")?.unwrap_or(0),
        inputs_json: text("inputs_json"),
        max_parallel: number(posted, "max_parallel")?.unwrap_or(0),
        waves: text("waves"),
        require_approval: posted.get("require_approval").is_some(),
        max_failed_percent: number(posted, "max_failed_percent")?,
        ..Default::default()
    })
}

/// `POST /ui/rollouts`: starts a rollout from the list page's form, as `moorctl rollout
/// start` does, then shows its page.
pub async fn start_rollout(State(h): State<Arc<HookHttp>>, request: Request) -> Response {
    let back = moor_dashboard::routes::ROLLOUT_LIST;
    let session = |headers: &HeaderMap| Some(form::session_of(headers));
    let posted = match form::accept(&h.csrf, request, session, back).await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let req = match start_request(&posted) {
        Ok(r) => r,
        Err(why) => return problem(StatusCode::BAD_REQUEST, "Refused", &why, back),
    };
    match h.rollouts.start_rollout(tonic::Request::new(req)).await {
        Ok(r) => redirect(&rollout_href(&r.into_inner().id)),
        Err(status) => status_page(&status, back),
    }
}
