//! The web map view, served by every member under `/ui/` (pages and assets from
//! `moor-dashboard`, embedded in the binary: nothing is fetched from outside).
//!
//! - Reading needs a credential, as every read does (`site.list`): the gate accepts the
//!   `moor_token` cookie that `POST /ui/login` sets from a token (`HttpOnly`, `Secure`,
//!   `SameSite=Strict`, path `/ui`), a bearer header, or a client certificate; without one
//!   a page redirects to `/ui/login`. The pages are read-only: no action is served yet.
//! - Data is this member's applied state (a stale read: a map is a picture, and a
//!   follower's lags by a heartbeat at most). `/ui/api/map` aggregates the sites into grid
//!   cells per zoom level on the server, so an answer stays bounded at 100,000 sites.
//! - Live: `/ui/events` is a server-sent event stream that says `changed` at most once a
//!   second while the state moves (the page then re-fetches its view). At most
//!   [`MAX_WATCHERS`] streams per member; past it, 503. A stream produces an event only when
//!   its reader asks for the next one and coalesces everything applied meanwhile, so a slow
//!   reader holds one pending event, never a growing buffer.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use moor_dashboard::{
    cells, escape_html, page, site_page, world_svg, EnvRow, ExecRow, MapQuery, ResourceRow,
    SiteDot, SitePage, Status,
};
use moor_domain::environment::{EnvStatus, Environment};
use moor_domain::names::{StepState, WireName};
use moor_domain::state::MoorState;

use super::HookHttp;
use crate::exec::executor::now_ms;

/// Event streams one member serves at once.
pub const MAX_WATCHERS: usize = 64;
/// Longest login form accepted.
const MAX_LOGIN_BYTES: usize = 4096;
/// The cookie that carries a token for the pages.
pub const COOKIE: &str = "moor_token";

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

/// The map page.
pub async fn map_page() -> Response {
    html(StatusCode::OK, page("Moor", None))
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
fn map_status(s: EnvStatus) -> Option<Status> {
    Some(match s {
        EnvStatus::InSync => Status::InSync,
        EnvStatus::Drifted => Status::Drifted,
        EnvStatus::Failed => Status::Failed,
        EnvStatus::Uninstalled => return None,
        _ => Status::Running,
    })
}

/// Every site as a dot with the worst status of its environments.
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
            labels: site.labels.clone(),
            status: worst
                .get(site.name.as_str())
                .copied()
                .unwrap_or(Status::Empty),
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
                    .map(|o| o.digest.clone().unwrap_or_else(|| "(missing)".into()))
                    .unwrap_or_default();
                ResourceRow {
                    name: name.clone(),
                    drifted: !observed.is_empty() && observed != applied.digest,
                    desired_digest: applied.digest.clone(),
                    observed_digest: observed,
                }
            })
            .collect(),
    }
}

pub async fn site(State(h): State<Arc<HookHttp>>, Path(name): Path<String>) -> Response {
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
        labels: site.labels.clone(),
        environments: envs.iter().map(|e| env_row(e)).collect(),
        executions,
    };
    html(StatusCode::OK, site_page(&page))
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

fn login_form(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape_html(e)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Moor: log in</title>\
         <style>body{{font:15px system-ui,sans-serif;margin:4em auto;max-width:28em}}input{{width:100%;font:inherit;padding:.4em}}.error{{color:#D55E00}}</style></head>\
         <body><h1>Moor</h1>{error}<form method=\"post\" action=\"/ui/login\">\
         <p><label>API token (<code>moorctl auth token create</code>)<br><input type=\"password\" name=\"token\" autocomplete=\"off\" required></label></p>\
         <p><button type=\"submit\">Log in</button></p></form></body></html>"
    )
}

pub async fn login_page() -> Response {
    html(StatusCode::OK, login_form(None))
}

/// `POST /ui/login`: a form with `token`; a valid token becomes the page cookie.
pub async fn login(State(h): State<Arc<HookHttp>>, request: Request) -> Response {
    let body = match axum::body::to_bytes(request.into_body(), MAX_LOGIN_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return html(
                StatusCode::PAYLOAD_TOO_LARGE,
                login_form(Some("the form is too large")),
            )
        }
    };
    let text = String::from_utf8_lossy(&body);
    let token = text
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .and_then(moor_dashboard::query::decode_path_segment)
        .unwrap_or_default();
    let valid = {
        let state = h.member.state.read().expect("state lock poisoned");
        state.auth.authenticate(token.trim(), now_ms())
    };
    match valid {
        Ok(identity) => {
            tracing::info!(who = %identity.who, "map view login");
            let cookie = format!(
                "{COOKIE}={}; Path=/ui; HttpOnly; Secure; SameSite=Strict",
                token.trim()
            );
            (
                StatusCode::SEE_OTHER,
                [(LOCATION, "/ui/".to_string()), (SET_COOKIE, cookie)],
            )
                .into_response()
        }
        Err(e) => html(StatusCode::UNAUTHORIZED, login_form(Some(&e.to_string()))),
    }
}

/// `POST /ui/logout`: forgets the cookie.
pub async fn logout() -> Response {
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
