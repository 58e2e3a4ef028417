//! The environment pages: `/ui/environments/{name}` (what it runs, its inputs with secrets
//! redacted, its resources, drift policy and executions, and the heal and roll-back buttons
//! the caller's role allows) and `/ui/environments/{name}/diff` (desired against what the
//! site holds now, field by field).
//!
//! Both read through `WorkflowApi`'s own handlers (`get_environment`, `list_executions`,
//! `diff_environment`), so they show exactly what `moorctl env show` and `moorctl env diff`
//! show — the same redaction of secret inputs, the same read barrier (an action's redirect
//! shows its effect), the same refusals.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use moor_dashboard::execution::human_ms;
use moor_dashboard::{
    diff_page, environment_page, site_href, DiffView, EnvironmentView, ExecRow, FieldDiffRow,
    ResourceDiffRow, ResourceRow, Status,
};
use moor_domain::environment::EnvStatus;
use moor_domain::names::WireName;
use moor_proto::workflow as pb;
use moor_proto::workflow::workflow_api_server::WorkflowApi;

use super::{form, html, map_status, status_page};
use crate::api::auth::methods::UI_ENVIRONMENT_ACTIONS;
use crate::api::http::HookHttp;

/// Most executions the page lists (the most recent).
const MAX_LISTED: usize = 50;

/// The drift policy in force, in words.
fn drift_words(env: &pb::Environment) -> String {
    let source = if env.drift_policy_source.is_empty() {
        "default".to_string()
    } else {
        env.drift_policy_source.clone()
    };
    match &env.effective_drift {
        None => format!("checked at the member's interval, reported only ({source})"),
        Some(p) => {
            let what = if p.on_drift == "heal" {
                format!("heal (at most {} an hour)", p.max_heals_per_hour)
            } else {
                p.on_drift.clone()
            };
            format!(
                "every {}, {what}; from {source}",
                human_ms(p.check_every_ms)
            )
        }
    }
}

fn exec_row(x: &pb::Execution) -> ExecRow {
    ExecRow {
        id: x.id.clone(),
        kind: x.kind.clone(),
        state: x.state.clone(),
        created_ms: x.created_ms,
        steps_done: x.steps_succeeded,
        steps_total: x.steps_total,
    }
}

fn view(env: pb::Environment, mut executions: Vec<pb::Execution>) -> EnvironmentView {
    let status = EnvStatus::parse(&env.status)
        .and_then(map_status)
        .unwrap_or(Status::Empty);
    executions.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.id.cmp(&a.id)));
    let executions_total = executions.len();
    executions.truncate(MAX_LISTED);
    EnvironmentView {
        drift_policy: drift_words(&env),
        status,
        resources: env
            .resources
            .into_iter()
            .map(|r| ResourceRow {
                name: r.name,
                resource_type: r.resource_type,
                desired_digest: r.applied_digest,
                observed_digest: r.observed_digest,
                drifted: r.drifted,
            })
            .collect(),
        name: env.name,
        site: env.site,
        blueprint: env.blueprint,
        revision: env.revision,
        phase: env.status,
        inputs_json: env.inputs_json,
        labels: env.labels.into_iter().collect(),
        current_execution: env.current_execution,
        queued: env.queued,
        created_ms: env.created_ms,
        updated_ms: env.updated_ms,
        heals_last_hour: env.heals_last_hour,
        heal_suspended: env.heal_suspended,
        executions: executions.iter().map(exec_row).collect(),
        executions_total,
    }
}

/// `GET /ui/environments/{name}`.
pub async fn page(
    State(h): State<Arc<HookHttp>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let env = match h
        .workflow
        .get_environment(tonic::Request::new(pb::GetEnvironmentRequest {
            name: name.clone(),
            stale: false,
        }))
        .await
    {
        Ok(env) => env.into_inner(),
        Err(status) => return status_page(&status, moor_dashboard::routes::MAP_PAGE),
    };
    let executions = match h
        .workflow
        .list_executions(tonic::Request::new(pb::ListExecutionsRequest {
            environment: name,
            stale: true,
        }))
        .await
    {
        Ok(list) => list.into_inner().executions,
        Err(status) => return status_page(&status, &site_href(&env.site)),
    };
    let forms = form::offer(&h.csrf, &h.member, &headers, &UI_ENVIRONMENT_ACTIONS);
    html(
        StatusCode::OK,
        environment_page(&view(env, executions), &forms),
    )
}

/// `GET /ui/environments/{name}/diff`: asks the site now, like `moorctl env diff`.
pub async fn diff(State(h): State<Arc<HookHttp>>, Path(name): Path<String>) -> Response {
    let back = moor_dashboard::environment_href(&name);
    let answer = h
        .workflow
        .diff_environment(tonic::Request::new(pb::EnvironmentDiffRequest { name }))
        .await;
    match answer {
        Ok(d) => {
            let d = d.into_inner();
            let view = DiffView {
                environment: d.environment,
                site: d.site,
                observed_ms: d.observed_ms,
                resources: d
                    .resources
                    .into_iter()
                    .map(|r| ResourceDiffRow {
                        resource: r.resource,
                        resource_type: r.resource_type,
                        desired_digest: r.desired_digest,
                        observed_digest: r.observed_digest,
                        state: r.state,
                        fields: r
                            .fields
                            .into_iter()
                            .map(|f| FieldDiffRow {
                                path: f.path,
                                desired_json: f.desired_json,
                                observed_json: f.observed_json,
                                kind: f.kind,
                                secret: f.secret,
                            })
                            .collect(),
                    })
                    .collect(),
            };
            html(StatusCode::OK, diff_page(&view))
        }
        Err(status) => status_page(&status, &back),
    }
}
