//! The gate in front of every client service (a tower layer on the client listener):
//!
//! 1. the gRPC path names an operation ([`methods`](super::methods)), or the call is refused
//!    (a map view request under `/ui/` is the operation `methods::ui_operation` names: a
//!    page reads sites or rollouts, an action is the operation of the RPC it calls);
//! 2. the caller is authenticated: a bearer token (`authorization: Bearer moor_…`), checked
//!    against the replicated token records, else a TLS client certificate of the cluster CA
//!    (CN = user, an Organization entry = role); else UNAUTHENTICATED, saying what to send;
//! 3. the identity's role allows the operation, or PERMISSION_DENIED names the missing
//!    permission; a denial to an authenticated identity is written to the audit log (at most
//!    `auth.denied_audit_per_minute` per identity; the rest only counted in this member's
//!    log). Unauthenticated attempts are logged and counted here only: nobody without a
//!    credential can make the replicated log grow;
//! 4. the handler runs as that [`Caller`]; its writes carry the audit stamp, and apply
//!    checks identity, permission and scope again at the entry's index.
//!
//! Two calls need no credential: `cluster status` (health and membership, for probes and
//! for `cluster bootstrap` before any token exists) and `cluster init` on a member that has
//! no cluster yet (it creates the bootstrap admin token; see [`bootstrap`](super::bootstrap)).
//! Webhook deliveries (`/hooks/…`) pass the gate untouched: they carry the receiver's
//! signature instead of a credential, and their handler (`api/http/`) verifies it before it
//! reads anything else.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use moor_domain::auth::audit::{AuditStamp, Retention};
use moor_domain::auth::operation::Operation;
use moor_domain::auth::permission::Target;
use moor_domain::auth::token::Principal;
use moor_domain::auth::AuthCommand;
use moor_domain::command::Command;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::Status;

use super::caller::{self, Caller};
use super::methods::{
    operation_of, ui_operation, METRICS_PATH, SELF_AUTHENTICATED_PREFIX, UI_OPEN, UI_PREFIX,
};
use crate::api::grpc_metrics;
use crate::config::AuthConfig;
use crate::exec::executor::now_ms;
use crate::raft::member::Member;
use crate::telemetry;

/// The gRPC path prefix of the peer service, which the gate lets through to its own checks.
const PEER_SERVICE_PREFIX: &str = "/moor.raft.v1.RaftPeer/";
const CLUSTER_STATUS_PATH: &str = "/moor.api.v1.MoorApi/ClusterStatus";

/// What the gate needs: the member (its replicated token records and membership) and the
/// auth settings.
pub struct Gate {
    member: Arc<Member>,
    config: AuthConfig,
    denials: Mutex<BTreeMap<String, (Instant, u32)>>,
    unauthenticated: AtomicU64,
}

/// How a request got in, or the status it gets instead.
type Admission = Result<Caller, (Status, Option<AuditStamp>)>;

impl Gate {
    pub fn new(member: Arc<Member>, config: AuthConfig) -> Arc<Gate> {
        if !config.enabled {
            tracing::warn!("authentication is OFF (auth.enabled = false): anyone who reaches the client port acts as admin");
        }
        Arc::new(Gate {
            member,
            config,
            denials: Mutex::new(BTreeMap::new()),
            unauthenticated: AtomicU64::new(0),
        })
    }

    fn retention(&self) -> Retention {
        Retention {
            max_entries: self.config.audit_max_entries,
            max_age_ms: self.config.audit_max_age_s.saturating_mul(1000),
        }
    }

    // The refusal is built once per refused request and handed straight to `call`: its
    // size costs nothing on the admitted path.
    #[allow(clippy::result_large_err)]
    fn admit<B>(&self, req: &http::Request<B>) -> Admission {
        let path = req.uri().path();
        let ui = is_ui(path);
        let op = if ui {
            Some(ui_operation(req.method() == http::Method::POST, path))
        } else {
            operation_of(path)
        };
        let Some(op) = op else {
            return Err((
                Status::permission_denied(format!(
                    "{path} is not an operation of this member's API: upgrade moorctl, or check the method name"
                )),
                None,
            ));
        };
        let (peer, certs) = connection(req);
        let mut caller = Caller {
            principal: None,
            identity: None,
            operation: op,
            peer,
            member: self.member.id,
            retention: self.retention(),
        };
        if !self.config.enabled {
            return Ok(caller);
        }
        let state = self.member.state.read().expect("state lock poisoned");
        let auth = &state.auth;
        let cookie = if ui {
            crate::api::http::ui::form::cookie(req.headers(), crate::api::http::ui::COOKIE)
        } else {
            None
        };
        let (principal, identity) = if let Some(token) = cookie {
            let identity = auth
                .authenticate(&token, now_ms())
                .map_err(|e| (Status::unauthenticated(e.to_string()), None))?;
            let id = identity.who.trim_start_matches("token:").to_string();
            (Principal::Token { id }, identity)
        } else if let Some(header) = req.headers().get("authorization") {
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    (
                        Status::unauthenticated(
                            "the authorization header must read `Bearer <token>`",
                        ),
                        None,
                    )
                })?;
            let identity = auth
                .authenticate(token, now_ms())
                .map_err(|e| (Status::unauthenticated(e.to_string()), None))?;
            let id = identity.who.trim_start_matches("token:").to_string();
            (Principal::Token { id }, identity)
        } else if let Some(subject) = certs
            .as_deref()
            .and_then(|c| c.first())
            .and_then(|c| moor_tls::subject_of(c))
        {
            let Some(role) = subject
                .organizations
                .iter()
                .find(|o| auth.role_exists(o))
                .cloned()
            else {
                return Err((
                    Status::permission_denied(format!(
                        "client certificate {:?} names no role of this cluster in its Organization (O) entries ({:?}): issue it with O=admin, operator, deployer, viewer or a custom role",
                        subject.common_name, subject.organizations
                    )),
                    None,
                ));
            };
            let principal = Principal::Cert {
                subject: subject.common_name.clone(),
                role,
            };
            let identity = auth
                .resolve(&principal, now_ms())
                .map_err(|e| (Status::unauthenticated(e.to_string()), None))?;
            (principal, identity)
        } else if op == Operation::ClusterInit && self.uninitialised() {
            return Ok(caller);
        } else if op == Operation::ClusterInit {
            // The answer an initialised member gives any `init` (what `cluster status` shows
            // anyway): `cluster bootstrap` sends init to members that may have joined the
            // cluster a moment before, and must read this as "formed", not as a refusal
            // that would make it drop the admin token another member just returned.
            return Err((
                Status::failed_precondition(
                    "the cluster is already initialised: add members with `moorctl cluster add` instead",
                ),
                None,
            ));
        } else if op == Operation::ClusterStatus {
            // Health and membership, like Consul's status endpoints: liveness probes and
            // `cluster bootstrap` (before any token exists) need it, and it shows nothing a
            // client that can reach the port could not learn (ids, addresses, indexes).
            return Ok(caller);
        } else {
            return Err((
                Status::unauthenticated(format!(
                    "{} needs a credential: send `authorization: Bearer <token>` (moorctl: --token-file or MOOR_TOKEN) or a client certificate of the cluster CA",
                    op.name()
                )),
                None,
            ));
        };
        if !auth.operations_for(&identity).contains(&op) {
            let reason = format!(
                "{} (role {:?}) lacks \"{}\"",
                identity.describe(),
                identity.role,
                op.name()
            );
            let stamp = AuditStamp {
                principal,
                operation: op,
                target: Target::default(),
                object: String::new(),
                peer: caller.peer.clone(),
                member: caller.member,
                at_ms: now_ms(),
                retention: caller.retention,
            };
            return Err((Status::permission_denied(reason), Some(stamp)));
        }
        caller.principal = Some(principal);
        caller.identity = Some(identity);
        Ok(caller)
    }

    fn uninitialised(&self) -> bool {
        let m = self.member.raft.metrics().borrow().clone();
        let empty = m.membership_config.membership().nodes().next().is_none();
        empty
    }

    /// Writes a denial to the audit log unless this identity already had its share this
    /// minute; counts it either way.
    fn record_denial(&self, stamp: AuditStamp, reason: String) {
        let who = stamp.principal.who();
        let allowed = {
            let mut map = self.denials.lock().expect("denial counter poisoned");
            let now = Instant::now();
            let e = map.entry(who.clone()).or_insert((now, 0));
            if now.duration_since(e.0) >= Duration::from_secs(60) {
                *e = (now, 0);
            }
            e.1 += 1;
            if map.len() > 10_000 {
                map.retain(|_, (t, _)| now.duration_since(*t) < Duration::from_secs(60));
            }
            map.get(&who)
                .is_some_and(|(_, n)| *n <= self.config.denied_audit_per_minute)
        };
        tracing::info!(%who, operation = stamp.operation.name(), peer = %stamp.peer, %reason, audited = allowed, "request denied");
        if !allowed {
            return;
        }
        let member = self.member.clone();
        tokio::spawn(async move {
            let command = Command::Auth(AuthCommand::RecordDenied { stamp, reason });
            if let Err(e) = member.write(command).await {
                tracing::warn!(error = %e, "could not write a denial to the audit log");
            }
        });
    }
}

/// Is `path` a page of the map view (`/ui`, `/ui/…`)?
fn is_ui(path: &str) -> bool {
    path == UI_PREFIX || path.starts_with("/ui/")
}

/// A refused map view request: a page to read rather than a gRPC status. A page read
/// without a credential goes to the login; an action without one, and anything the role
/// does not allow, gets a 403 page naming the missing permission.
fn ui_refusal(read: bool, authenticated: bool, status: Status) -> http::Response<Body> {
    let response = if read && !authenticated {
        http::Response::builder()
            .status(http::StatusCode::SEE_OTHER)
            .header(http::header::LOCATION, "/ui/login")
            .body(Body::empty())
    } else {
        let page = moor_dashboard::problem_page("Not allowed", status.message(), "/ui/");
        http::Response::builder()
            .status(http::StatusCode::FORBIDDEN)
            .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header(http::header::CACHE_CONTROL, "no-store")
            .body(Body::new(page))
    };
    response.unwrap_or_else(|_| status.into_http())
}

/// The client's address and its verified certificates, as the connection saw them.
pub(crate) fn connection<B>(
    req: &http::Request<B>,
) -> (
    String,
    Option<Arc<Vec<rustls_pki_types::CertificateDer<'static>>>>,
) {
    let ext = req.extensions();
    if let Some(tls) = ext.get::<TlsConnectInfo<TcpConnectInfo>>() {
        let peer = tls
            .get_ref()
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        return (peer, tls.peer_certs());
    }
    let peer = ext
        .get::<TcpConnectInfo>()
        .and_then(|c| c.remote_addr())
        .map(|a| a.to_string())
        .unwrap_or_default();
    (peer, None)
}

/// The tower layer that puts a [`Gate`] in front of a service.
#[derive(Clone)]
pub struct GateLayer(pub Arc<Gate>);

impl<S> tower_layer::Layer<S> for GateLayer {
    type Service = Gated<S>;
    fn layer(&self, inner: S) -> Gated<S> {
        Gated {
            inner,
            gate: self.0.clone(),
        }
    }
}

/// A service behind the gate.
#[derive(Clone)]
pub struct Gated<S> {
    inner: S,
    gate: Arc<Gate>,
}

type Answer<E> = Pin<Box<dyn Future<Output = Result<http::Response<Body>, E>> + Send>>;

impl<S, B> tower_service::Service<http::Request<B>> for Gated<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Answer<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // A member removed from the cluster serves nothing but its status (which says so)
        // and its metrics.
        if let Some(why) = self.gate.member.removal.reason() {
            let path = req.uri().path();
            if path != CLUSTER_STATUS_PATH
                && path != METRICS_PATH
                && !path.starts_with(PEER_SERVICE_PREFIX)
            {
                let response = if path.starts_with("/moor.") {
                    Status::failed_precondition(why.to_string()).into_http()
                } else {
                    http::Response::builder()
                        .status(http::StatusCode::SERVICE_UNAVAILABLE)
                        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                        .body(Body::new(why.to_string()))
                        .unwrap_or_else(|_| {
                            Status::failed_precondition(why.to_string()).into_http()
                        })
                };
                return Box::pin(async move { Ok(response) });
            }
        }
        // The peer service (on this listener when there is no peer listener) checks its
        // callers itself: a member certificate of the current membership.
        if req.uri().path().starts_with(PEER_SERVICE_PREFIX)
            || req.uri().path().starts_with(SELF_AUTHENTICATED_PREFIX)
            || req.uri().path() == METRICS_PATH
            || UI_OPEN.contains(&req.uri().path())
        {
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            return Box::pin(inner.call(req));
        }
        let metrics = self.gate.member.metrics.clone();
        let path = req.uri().path().to_string();
        let read = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
        let started = Instant::now();
        match self.gate.admit(&req) {
            Ok(caller) => {
                // The clone that was made ready is the one that serves (tower's rule).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                // A gRPC call is one span of its trace (when traces are exported).
                let span = if is_ui(&path) || !telemetry::enabled() {
                    tracing::Span::none()
                } else {
                    telemetry::request_span(req.headers(), &grpc_metrics::method_label(&path))
                };
                Box::pin(tracing::Instrument::instrument(
                    async move {
                        let response = caller::scope(caller, inner.call(req)).await?;
                        if is_ui(&path) {
                            return Ok(response);
                        }
                        Ok(grpc_metrics::observe(metrics, &path, started, response))
                    },
                    span,
                ))
            }
            Err((status, stamp)) => {
                let authenticated = stamp.is_some();
                match stamp {
                    Some(stamp) => self.gate.record_denial(stamp, status.message().to_string()),
                    None => {
                        let n = self.gate.unauthenticated.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::debug!(
                            refused_total = n,
                            reason = status.message(),
                            "request refused before authentication"
                        );
                    }
                }
                let response = if is_ui(&path) {
                    // A browser: a page it can show, not a gRPC status.
                    ui_refusal(read, authenticated, status)
                } else {
                    grpc_metrics::observe(metrics, &path, started, status.into_http())
                };
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
