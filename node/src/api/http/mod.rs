//! The HTTP side of the client listener (same port and TLS as the gRPC services; HTTP/1.1
//! and HTTP/2): `POST /hooks/{receiver}`, where CI systems deliver webhooks, `GET /metrics`
//! (`metrics.rs`) and the map view under `/ui/` (`ui/`: pages, actions, CSRF).
//!
//! `deliver.rs` is the handler (cheap checks, bounded body, authentication, parsing, then
//! one replicated record per delivery id), `verify.rs` the signatures, `payload.rs` the
//! bodies, `rate.rs` the per-receiver limit. Answers are JSON: `{"error": …}` with a status
//! that says whose fault it is, or the recorded delivery.

mod deliver;
mod metrics;
mod payload;
mod rate;
pub mod ui;
mod verify;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use moor_domain::auth::Retention;

use crate::api::rollout_service::RolloutService;
use crate::api::workflow_service::WorkflowService;
use crate::exec::driver::SiteDriver;
use crate::raft::member::Member;

pub use verify::MAX_ID_BYTES;
// The two checks of a delivery's bytes, public for the fuzzer (`moor-fuzz`'s `webhook` target).
pub use payload::parse as parse_payload;
pub use verify::verify;

/// Largest body any receiver may accept (a receiver's own cap is at most this).
pub const MAX_BODY_BYTES: usize = moor_domain::hooks::receiver::MAX_MAX_BODY_BYTES as usize;

/// What the handlers share.
pub struct HookHttp {
    pub member: Arc<Member>,
    pub retention: Retention,
    pub rate: rate::Limiter,
    /// The map's site list as of one applied index, shared by every viewer of this member.
    pub dots: ui::DotCache,
    /// This member's key for the map view's CSRF tokens (shared through the secrets key
    /// file when there is one, else random per process).
    pub csrf: ui::csrf::CsrfKey,
    /// The gRPC handlers the map view's actions and rollout pages call (no second copy).
    pub rollouts: RolloutService,
    pub workflow: WorkflowService,
}

/// The HTTP routes, to be merged into the client listener's router.
pub fn routes(member: Arc<Member>, retention: Retention, drivers: Arc<dyn SiteDriver>) -> Router {
    let csrf = ui::csrf::CsrfKey::for_member(member.secrets.clone());
    let state = Arc::new(HookHttp {
        rollouts: RolloutService::new(member.clone()),
        workflow: WorkflowService::new(member.clone(), drivers),
        member,
        retention,
        rate: rate::Limiter::default(),
        dots: ui::DotCache::default(),
        csrf,
    });
    Router::new()
        .route("/hooks/{receiver}", post(deliver::deliver))
        .route("/metrics", get(metrics::metrics))
        .route("/ui", get(ui::to_map_page))
        .route("/ui/", get(ui::map_page))
        .route("/ui/login", get(ui::login_page).post(ui::login))
        .route("/ui/logout", post(ui::logout))
        .route("/ui/api/map", get(ui::map_api))
        .route("/ui/assets/world.svg", get(ui::world))
        .route("/ui/sites/{name}", get(ui::site))
        .route(
            "/ui/rollouts",
            get(ui::rollouts::list).post(ui::actions::start_rollout),
        )
        .route("/ui/rollouts/{id}", get(ui::rollouts::page))
        .route("/ui/rollouts/{id}/{action}", post(ui::actions::rollout))
        .route("/ui/environments/{name}", get(ui::environments::page))
        .route("/ui/environments/{name}/diff", get(ui::environments::diff))
        .route(
            "/ui/environments/{name}/{action}",
            post(ui::actions::environment),
        )
        .route("/ui/executions/{id}", get(ui::executions::page))
        .route("/ui/executions/{id}/{action}", post(ui::actions::execution))
        .route("/ui/events", get(ui::events))
        .route("/ui/{*rest}", get(ui::not_found).post(ui::not_found))
        .with_state(state)
}

/// A refused request: its status and why, in words that say what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
    /// Seconds to wait before retrying (429, 503).
    pub retry_after_s: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Refusal {
            status,
            reason: reason.into(),
            retry_after_s: None,
        }
    }
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, reason)
    }
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, reason)
    }
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, reason)
    }
    pub fn too_large(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, reason)
    }
    pub fn unsupported(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, reason)
    }
    pub fn unavailable(reason: impl Into<String>, retry_after_s: u64) -> Self {
        Refusal {
            retry_after_s: Some(retry_after_s),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, reason)
        }
    }
    pub fn too_many(reason: impl Into<String>, retry_after_s: u64) -> Self {
        Refusal {
            retry_after_s: Some(retry_after_s),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, reason)
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.reason }).to_string();
        let mut response = (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(s) = self.retry_after_s {
            if let Ok(v) = axum::http::HeaderValue::from_str(&s.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }
}
