//! The rollout pages: `/ui/rollouts` (the list, most recent first) and `/ui/rollouts/{id}`
//! (state, counts, a progress bar per wave, the pace and an ETA, failures grouped by error,
//! and the action buttons the caller's role allows). Both read through `RolloutApi`'s own handlers behind
//! a read barrier, so the page an action redirects to shows what the action did.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use moor_dashboard::{
    rollout_page, rollouts_page_with, Counts, FailureRow, RolloutRow, RolloutView, StartOffer,
};
use moor_proto::rollout as pb;
use moor_proto::rollout::rollout_api_server::RolloutApi;

use super::{form, html, status_page};
use crate::api::auth::methods::{UI_ROLLOUT_ACTIONS, UI_ROLLOUT_START};
use crate::api::http::HookHttp;
use crate::exec::executor::now_ms;

/// Most rollouts the list shows (the most recent).
const MAX_LISTED: usize = 500;

fn view(r: pb::Rollout) -> RolloutView {
    RolloutView {
        id: r.id,
        group: r.group,
        action: r.action,
        blueprint: r.blueprint,
        revision: r.revision,
        state: r.state,
        pause_reason: r.pause_reason,
        max_parallel: r.max_parallel,
        waves_spec: r.waves_spec,
        current_wave: r.current_wave,
        totals: Counts {
            size: r.total,
            queued: r.queued,
            running: r.running,
            succeeded: r.succeeded,
            failed: r.failed,
            skipped: r.skipped,
        },
        waves: r
            .waves
            .into_iter()
            .map(|w| Counts {
                size: w.size,
                queued: w.queued,
                running: w.running,
                succeeded: w.succeeded,
                failed: w.failed,
                skipped: w.skipped,
            })
            .collect(),
        failures: r
            .failures
            .into_iter()
            .map(|f| FailureRow {
                error: f.error,
                count: f.count,
                examples: f.examples,
            })
            .collect(),
        created_ms: r.created_ms,
        finished_ms: r.finished_ms,
        now_ms: now_ms(),
    }
}

/// `GET /ui/rollouts/{id}`.
pub async fn page(
    State(h): State<Arc<HookHttp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let req = tonic::Request::new(pb::GetRolloutRequest {
        id,
        ..Default::default()
    });
    match h.rollouts.get_rollout(req).await {
        Ok(r) => {
            let forms = form::offer(&h.csrf, &h.member, &headers, &UI_ROLLOUT_ACTIONS);
            html(StatusCode::OK, rollout_page(&view(r.into_inner()), &forms))
        }
        Err(status) => status_page(&status, moor_dashboard::routes::ROLLOUT_LIST),
    }
}

/// The start form for a caller whose role may start rollouts (none otherwise).
fn start_offer(h: &HookHttp, headers: &HeaderMap) -> StartOffer {
    let forms = form::offer(&h.csrf, &h.member, headers, &[UI_ROLLOUT_START]);
    if !forms.allows(UI_ROLLOUT_START.0) {
        return StartOffer::default();
    }
    let state = h.member.state.read().expect("state lock poisoned");
    StartOffer {
        csrf: forms.csrf,
        groups: state.workflow.rollouts.groups.keys().cloned().collect(),
        blueprints: state.workflow.blueprints.keys().cloned().collect(),
    }
}

/// `GET /ui/rollouts`, with the start form when the caller may start rollouts.
pub async fn list(State(h): State<Arc<HookHttp>>, headers: HeaderMap) -> Response {
    let req = tonic::Request::new(pb::ListRolloutsRequest::default());
    match h.rollouts.list_rollouts(req).await {
        Ok(answer) => {
            let mut rows: Vec<RolloutRow> = answer
                .into_inner()
                .rollouts
                .into_iter()
                .map(|r| RolloutRow {
                    id: r.id,
                    group: r.group,
                    action: r.action,
                    state: r.state,
                    total: r.total,
                    succeeded: r.succeeded,
                    failed: r.failed,
                    created_ms: r.created_ms,
                })
                .collect();
            rows.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.id.cmp(&a.id)));
            rows.truncate(MAX_LISTED);
            html(
                StatusCode::OK,
                rollouts_page_with(&rows, &start_offer(&h, &headers)),
            )
        }
        Err(status) => status_page(&status, moor_dashboard::routes::MAP_PAGE),
    }
}
