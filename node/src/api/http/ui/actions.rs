//! The map view's day-2 actions: `POST /ui/rollouts/{id}/{pause|resume|approve|cancel}` and
//! `POST /ui/environments/{name}/heal`.
//!
//! No second implementation: each calls the gRPC handler `moorctl` reaches
//! ([`RolloutApi`]'s `pause_rollout` …, [`WorkflowApi::start_execution`] with kind `heal`),
//! inside the [`Caller`](crate::api::auth::caller::Caller) the gate admitted for the
//! action's own operation ([`methods::ui_operation`]): the role check is the gate's, the
//! write is audited with the caller's stamp and checked again by apply, and a member that
//! does not lead forwards it to the leader (`Member::write`). What the handler answers
//! becomes a page: success redirects to the rollout's or site's page (POST, redirect, GET);
//! a refusal is a page with its status on HTTP's scale (`status_page`), and a write whose
//! outcome is unknown (the leader went away mid-write) says so, 504, rather than guessing.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use moor_dashboard::forms::rollout_href;
use moor_dashboard::site_href;
use moor_domain::auth::operation::Operation;
use moor_domain::names::{ExecKind, WireName};
use moor_proto::rollout::rollout_api_server::RolloutApi;
use moor_proto::rollout::RolloutActionRequest;
use moor_proto::workflow::workflow_api_server::WorkflowApi;
use moor_proto::workflow::StartExecutionRequest;

use super::{form, not_found, status_page};
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
    if let Err(refused) = form::accept(&h.csrf, request, session, &back).await {
        return refused;
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

/// `POST /ui/environments/{name}/heal`: starts a heal execution, as `moorctl exec start
/// NAME --kind heal` does.
pub async fn heal(
    State(h): State<Arc<HookHttp>>,
    Path(environment): Path<String>,
    request: Request,
) -> Response {
    let site = {
        let state = h.member.state.read().expect("state lock poisoned");
        state
            .workflow
            .environments
            .get(&environment)
            .map(|e| e.site.clone())
    };
    let back = site.map_or_else(|| "/ui/".to_string(), |s| site_href(&s));
    let session = |headers: &HeaderMap| Some(form::session_of(headers));
    if let Err(refused) = form::accept(&h.csrf, request, session, &back).await {
        return refused;
    }
    let req = tonic::Request::new(StartExecutionRequest {
        environment,
        kind: ExecKind::Heal.as_str().to_string(),
        ..Default::default()
    });
    match h.workflow.start_execution(req).await {
        Ok(_) => redirect(&back),
        Err(status) => status_page(&status, &back),
    }
}
