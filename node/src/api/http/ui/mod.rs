//! The web map view, served by every member under `/ui/` (pages and assets from
//! `moor-dashboard`, embedded in the binary: nothing is fetched from outside).
//!
//! - Reading needs a credential, as every read does (`site.list`; `rollout.list` and
//!   `rollout.get` for the rollout pages): the gate accepts the `moor_token` cookie that
//!   `POST /ui/login` sets from a token (`HttpOnly`, `Secure`, `SameSite=Strict`, path
//!   `/ui`), a bearer header, or a client certificate; without one a page redirects to
//!   `/ui/login`, and a role without the permission gets a 403 page naming it.
//! - Drill-down: a site's page (here), an environment's page and its live diff against the
//!   site ([`environments`]), an execution's page with its step timeline ([`executions`]),
//!   the rollout pages ([`rollouts`]). Each reads as its RPC does (`environment.get`,
//!   `environment.diff`, `execution.get`, …), through the RPC's own handler where there is one.
//! - Day-2 actions ([`actions`]): pause, resume, approve and cancel a rollout or set its
//!   parallelism from its page (`/ui/rollouts/{id}`), heal an environment from its site's page or its own, roll it
//!   back, resume or cancel an execution from its page. Each is
//!   a plain HTML form (POST, works without JavaScript) whose handler calls the very gRPC
//!   handler `moorctl` reaches (`RolloutApi::pause_rollout`, `WorkflowApi::start_execution`),
//!   as the caller the gate admitted for that action's operation (`rollout.pause`,
//!   `execution.start`, …): the same permission check, the same audited write, forwarded
//!   to the leader like any write. Buttons are shown only to roles that allow them; the
//!   gate and apply are the authority.
//! - Every POST, login and logout included, passes [`form::accept`]: not from another site
//!   (`Origin`, `Sec-Fetch-Site`), a bounded body, and a CSRF token bound to the session
//!   ([`csrf`]); otherwise a 403 page that says to reload.
//! - Data is this member's applied state (a stale read: a map is a picture, and a
//!   follower's lags by a heartbeat at most); the rollout pages read behind a read barrier,
//!   so the page an action redirects to shows its effect. `/ui/api/map` aggregates the
//!   sites into grid cells per zoom level on the server, so an answer stays bounded at
//!   100,000 sites.
//! - Live: `/ui/events` is a server-sent event stream that says `changed` at most once a
//!   second while the state moves (the page then re-fetches its view). At most
//!   [`MAX_WATCHERS`] streams per member; past it, 503. A stream produces an event only when
//!   its reader asks for the next one and coalesces everything applied meanwhile, so a slow
//!   reader holds one pending event, never a growing buffer.

pub mod actions;
pub mod csrf;
pub mod environments;
pub mod executions;
pub mod form;
pub mod rollouts;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use moor_dashboard::{
    cells, escape_html, page, problem_page, site_page_with, world_svg, EnvRow, ExecRow, MapQuery,
    ResourceRow, SiteDot, SitePage, Status, CSRF_FIELD,
};
use moor_domain::environment::{EnvStatus, Environment};
use moor_domain::names::{StepState, WireName};
use moor_domain::state::MoorState;
use tonic::Code;

use super::HookHttp;
use crate::exec::executor::now_ms;

/// Event streams one member serves at once.
pub const MAX_WATCHERS: usize = 64;
/// The cookie that carries a token for the pages.
pub const COOKIE: &str = "moor_token";
/// The cookie that carries the login form's CSRF nonce (path `/ui/login`, one hour).
const LOGIN_COOKIE: &str = "moor_login";

/// Streams open now.
static WATCHERS: AtomicUsize = AtomicUsize::new(0);

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A page that says why a request was refused, linking back to `back`.
pub(crate) fn problem(status: StatusCode, title: &str, message: &str, back: &str) -> Response {
    html(status, problem_page(title, message, back))
}

/// A gRPC handler's refusal as a page: its status on HTTP's scale and its message, which
/// names what to do (the permission missing, the state that forbids the action, …).
pub(crate) fn status_page(status: &tonic::Status, back: &str) -> Response {
    let (code, title, hint) = match status.code() {
        Code::NotFound => (StatusCode::NOT_FOUND, "Not found", ""),
        Code::PermissionDenied => (StatusCode::FORBIDDEN, "Not allowed", ""),
        Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "Not logged in", " Log in again."),
        Code::InvalidArgument => (StatusCode::BAD_REQUEST, "Refused", ""),
        Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists => {
            (StatusCode::CONFLICT, "Refused", "")
        }
        Code::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            " Nothing was changed; try again in a moment.",
        ),
        Code::DeadlineExceeded => (
            StatusCode::GATEWAY_TIMEOUT,
            "Outcome unknown",
            " The action may or may not have been applied: reload the page to see before trying again.",
        ),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Error", ""),
    };
    problem(code, title, &format!("{}{hint}", status.message()), back)
}

/// The map page, with a logout form carrying the caller's CSRF token.
pub async fn map_page(State(h): State<Arc<HookHttp>>, headers: HeaderMap) -> Response {
    let token = h.csrf.token(&form::session_of(&headers));
    html(StatusCode::OK, page("Moor", Some(&token)))
}

pub async fn to_map_page() -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, "/ui/")]).into_response()
}

pub async fn world() -> Response {
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, "image/svg+xml"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        world_svg(),
    )
        .into_response()
}

/// An environment's status on the map's scale; None for one that no longer exists there.
pub(crate) fn map_status(s: EnvStatus) -> Option<Status> {
    Some(match s {
        EnvStatus::InSync => Status::InSync,
        EnvStatus::Drifted => Status::Drifted,
        EnvStatus::Failed => Status::Failed,
        EnvStatus::Uninstalled => return None,
        _ => Status::Running,
    })
}

/// Every site as a dot with the worst status of its environments, or unreachable while
/// its drift checks (or probes) get no answer (what was last seen there may no longer hold).
/// A site's labels in the shape the pages take (the state keeps them in a sorted `Vec`).
fn label_map(labels: &moor_domain::site::Labels) -> std::collections::BTreeMap<String, String> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn dots(state: &MoorState) -> Vec<SiteDot> {
    let mut worst: std::collections::HashMap<&str, Status> = std::collections::HashMap::new();
    for env in state.workflow.environments.values() {
        if let Some(s) = map_status(env.status) {
            let w = worst.entry(env.site.as_str()).or_insert(s);
            *w = (*w).max(s);
        }
    }
    state
        .workflow
        .sites
        .values()
        .map(|site| SiteDot {
            name: site.name.clone(),
            region: site.region.clone(),
            lat: site.latitude,
            lon: site.longitude,
            labels: label_map(&site.labels),
            status: if state.workflow.unreachable.contains_key(&site.name) {
                Status::Unreachable
            } else {
                worst
                    .get(site.name.as_str())
                    .copied()
                    .unwrap_or(Status::Empty)
            },
        })
        .collect()
}

/// The sites as dots, built once per applied index: building them reads every site and
/// environment under the state's read lock (which holds apply back meanwhile), so many
/// viewers of a busy member share one build per change instead of one per request.
#[derive(Default)]
pub struct DotCache {
    built: std::sync::Mutex<Option<(u64, Arc<Vec<SiteDot>>)>>,
}

impl DotCache {
    fn get(&self, h: &HookHttp) -> Arc<Vec<SiteDot>> {
        let applied = h
            .member
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map(|l| l.index)
            .unwrap_or(0);
        let mut built = self.built.lock().expect("dot cache poisoned");
        if let Some((index, dots)) = built.as_ref() {
            if *index == applied {
                return dots.clone();
            }
        }
        let fresh = {
            let state = h.member.state.read().expect("state lock poisoned");
            Arc::new(dots(&state))
        };
        *built = Some((applied, fresh.clone()));
        fresh
    }
}

pub async fn map_api(State(h): State<Arc<HookHttp>>, RawQuery(query): RawQuery) -> Response {
    let q = match MapQuery::parse(query.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                [(CONTENT_TYPE, "application/json")],
                serde_json::json!({ "error": e.to_string() }).to_string(),
            )
                .into_response()
        }
    };
    let sites = h.dots.get(&h);
    let data = cells(&sites, &q.view, &q.filter);
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "no-store"),
        ],
        serde_json::to_string(&data).unwrap_or_default(),
    )
        .into_response()
}

fn env_row(env: &Environment) -> EnvRow {
    EnvRow {
        name: env.name.clone(),
        blueprint: env.blueprint.clone(),
        revision: env.revision,
        status: map_status(env.status).unwrap_or(Status::Empty),
        phase: env.status.as_str().to_string(),
        resources: env
            .applied
            .iter()
            .map(|(name, applied)| {
                let observed = env
                    .observed
                    .get(name)
                    .map(|o| o.digest.as_deref().unwrap_or("(missing)").to_string())
                    .unwrap_or_default();
                ResourceRow {
                    name: name.to_string(),
                    resource_type: applied.resource_type.to_string(),
                    drifted: !observed.is_empty() && observed != applied.digest,
                    desired_digest: applied.digest.to_string(),
                    observed_digest: observed,
                }
            })
            .collect(),
    }
}

pub async fn site(
    State(h): State<Arc<HookHttp>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let forms = form::offer(&h.csrf, &h.member, &headers, &[actions::HEAL]);
    let state = h.member.state.read().expect("state lock poisoned");
    let Some(site) = state.workflow.sites.get(&name) else {
        return html(
            StatusCode::NOT_FOUND,
            format!(
                "<!doctype html><title>Not found</title><p>No site {}. <a href=\"/ui/\">Back to the map</a></p>",
                escape_html(&name)
            ),
        );
    };
    let envs: Vec<&Environment> = state
        .workflow
        .environments
        .values()
        .filter(|e| e.site == name)
        .collect();
    let mut executions: Vec<ExecRow> = envs
        .iter()
        .filter_map(|e| e.latest_execution.as_ref())
        .filter_map(|id| state.workflow.executions.get(id))
        .map(|x| ExecRow {
            id: x.id.clone(),
            kind: x.kind.as_str().to_string(),
            state: x.state.as_str().to_string(),
            created_ms: x.created_ms,
            steps_done: x
                .steps
                .iter()
                .filter(|s| s.state == StepState::Succeeded)
                .count() as u32,
            steps_total: x.steps.len() as u32,
        })
        .collect();
    executions.sort_by_key(|x| std::cmp::Reverse(x.created_ms));
    let page = SitePage {
        name: site.name.clone(),
        region: site.region.clone(),
        lat: site.latitude,
        lon: site.longitude,
        labels: label_map(&site.labels),
        environments: envs.iter().map(|e| env_row(e)).collect(),
        executions,
        unreachable: state
            .workflow
            .unreachable
            .get(&name)
            .map(|u| (u.since_ms, u.error.clone())),
    };
    html(StatusCode::OK, site_page_with(&page, &forms))
}

/// Any other path under `/ui/`.
pub async fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        "<!doctype html><title>Not found</title><p>No such page. <a href=\"/ui/\">The map</a></p>"
            .into(),
    )
}

/// Releases a watcher slot when its stream ends.
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        WATCHERS.fetch_sub(1, Ordering::Relaxed);
    }
}

pub async fn events(State(h): State<Arc<HookHttp>>) -> Response {
    if WATCHERS.fetch_add(1, Ordering::Relaxed) >= MAX_WATCHERS {
        WATCHERS.fetch_sub(1, Ordering::Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "10")],
            format!("this member serves {MAX_WATCHERS} live maps at most; retry later or use another member"),
        )
            .into_response();
    }
    let slot = Slot;
    let metrics = h.member.raft.metrics();
    let stream = futures::stream::unfold(
        (metrics, slot, None::<u64>),
        |(mut metrics, slot, last)| async move {
            loop {
                let applied = metrics
                    .borrow_and_update()
                    .last_applied
                    .map(|l| l.index)
                    .unwrap_or(0);
                if last != Some(applied) {
                    let event = Event::default()
                        .event(moor_dashboard::routes::CHANGED_EVENT)
                        .data(applied.to_string());
                    // At most one event a second: what is applied meanwhile is coalesced.
                    let next = (metrics, slot, Some(applied));
                    return Some((Ok::<Event, Infallible>(event), next));
                }
                if metrics.changed().await.is_err() {
                    return None;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn login_form(error: Option<&str>, csrf: &str) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape_html(e)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Moor: log in</title>\
         <style>body{{font:15px system-ui,sans-serif;margin:4em auto;max-width:28em}}input{{width:100%;font:inherit;padding:.4em}}.error{{color:#D55E00}}</style></head>\
         <body><h1>Moor</h1>{error}<form method=\"post\" action=\"/ui/login\">\
         <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
         <p><label>API token (<code>moorctl auth token create</code>)<br><input type=\"password\" name=\"token\" autocomplete=\"off\" required></label></p>\
         <p><button type=\"submit\">Log in</button></p></form></body></html>",
        escape_html(csrf)
    )
}

/// The login form with a fresh nonce: in a cookie only `/ui/login` sees, and as the CSRF
/// token it binds the form to (so another site cannot log a browser in with its own token).
fn login_answer(status: StatusCode, h: &HookHttp, error: Option<&str>) -> Response {
    let nonce = csrf::nonce();
    let token = h.csrf.token(&csrf::Session::Login(nonce.clone()));
    let mut response = html(status, login_form(error, &token));
    let cookie = format!(
        "{LOGIN_COOKIE}={nonce}; Path=/ui/login; HttpOnly; Secure; SameSite=Strict; Max-Age=3600"
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}

pub async fn login_page(State(h): State<Arc<HookHttp>>) -> Response {
    login_answer(StatusCode::OK, &h, None)
}

/// `POST /ui/login`: a form with `token` and the login page's CSRF token; a valid token
/// becomes the page cookie.
pub async fn login(State(h): State<Arc<HookHttp>>, request: Request) -> Response {
    let login_session =
        |headers: &HeaderMap| form::cookie(headers, LOGIN_COOKIE).map(csrf::Session::Login);
    let posted = match form::accept(&h.csrf, request, login_session, "/ui/login").await {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let token = posted.get("token").unwrap_or_default().trim().to_string();
    let valid = {
        let state = h.member.state.read().expect("state lock poisoned");
        state.auth.authenticate(&token, now_ms())
    };
    match valid {
        Ok(identity) => {
            tracing::info!(who = %identity.who, "map view login");
            let cookie = format!("{COOKIE}={token}; Path=/ui; HttpOnly; Secure; SameSite=Strict");
            (
                StatusCode::SEE_OTHER,
                [(LOCATION, "/ui/".to_string()), (SET_COOKIE, cookie)],
            )
                .into_response()
        }
        Err(e) => login_answer(StatusCode::UNAUTHORIZED, &h, Some(&e.to_string())),
    }
}

/// `POST /ui/logout`: forgets the cookie. With a session, the form must carry its CSRF
/// token (another site must not log a browser out); without one there is nothing to forget.
pub async fn logout(State(h): State<Arc<HookHttp>>, request: Request) -> Response {
    if form::cookie(request.headers(), COOKIE).is_some() {
        let session = |headers: &HeaderMap| Some(form::session_of(headers));
        if let Err(refused) = form::accept(&h.csrf, request, session, "/ui/").await {
            return refused;
        }
    }
    (
        StatusCode::SEE_OTHER,
        [
            (LOCATION, "/ui/login".to_string()),
            (
                SET_COOKIE,
                format!("{COOKIE}=; Path=/ui; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
            ),
        ],
    )
        .into_response()
}

#[cfg(test)]
#[path = "tests/dots.rs"]
mod tests;
