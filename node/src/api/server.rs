//! The gRPC servers of a member, each with request size and concurrency limits:
//!
//! - the client listener: MoorApi, WorkflowApi, RolloutApi, AuthApi and HookApi behind the
//!   auth gate, and the webhook endpoint `POST /hooks/{receiver}` (HTTP/1.1 or 2, [`http`](crate::api::http))
//!   ([`auth::gate`](crate::api::auth::gate)); with TLS, a client certificate is optional
//!   (certificate or bearer-token authentication);
//! - the peer listener: the peer service (Raft, forwarded requests); with TLS, the handshake
//!   requires a certificate of the cluster CA and the service checks it names a member.
//!
//! Without a peer listener the peer service shares the client listener (its per-call member
//! check still applies). Takes listeners and a shutdown future, so tests bind port 0.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use moor_domain::auth::Retention;
use moor_proto::api::moor_api_server::MoorApiServer;
use moor_proto::auth::auth_api_server::AuthApiServer;
use moor_proto::hooks::hook_api_server::HookApiServer;
use moor_proto::raft::raft_peer_server::RaftPeerServer;
use moor_proto::rollout::rollout_api_server::RolloutApiServer;
use moor_proto::workflow::workflow_api_server::WorkflowApiServer;
use moor_tls::incoming::tls_incoming;
use moor_tls::TlsReloader;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;

use crate::api::auth::gate::{Gate, GateLayer};
use crate::api::auth::service::AuthService;
use crate::api::hooks_service::HookService;
use crate::api::kv_service::ApiService;
use crate::api::rollout_service::RolloutService;
use crate::api::workflow_service::WorkflowService;
use crate::config::{AuthConfig, LimitsConfig};
use crate::exec::driver::SiteDriver;
use crate::raft::member::Member;
use crate::raft::network::MAX_PEER_MESSAGE_BYTES;
use crate::raft::peer_service::PeerService;

/// The sockets a member serves on.
pub struct Listeners {
    pub client: TcpListener,
    /// None: the peer service shares the client listener.
    pub peer: Option<TcpListener>,
}

/// The TLS configurations of both listeners (None: plaintext).
#[derive(Clone)]
pub struct ServerTls {
    /// Client certificate optional.
    pub clients: Arc<TlsReloader>,
    /// Client certificate required.
    pub peers: Arc<TlsReloader>,
}

/// What the servers need besides the member.
pub struct ServeSettings {
    pub limits: LimitsConfig,
    pub auth: AuthConfig,
    pub data_dir: std::path::PathBuf,
    pub tls: Option<ServerTls>,
    /// The sites, for reads that ask a site (`DiffEnvironment`).
    pub drivers: Arc<dyn SiteDriver>,
}

fn client_routes(member: &Arc<Member>, s: &ServeSettings) -> Routes {
    let limits = &s.limits;
    let api = MoorApiServer::new(ApiService::new(
        member.clone(),
        limits.clone(),
        s.auth.enabled,
        s.data_dir.clone(),
    ))
    .max_decoding_message_size(limits.max_request_bytes)
    .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES);
    let workflow = WorkflowApiServer::new(WorkflowService::new(member.clone(), s.drivers.clone()))
        .max_decoding_message_size(limits.max_request_bytes)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES);
    let rollout = RolloutApiServer::new(RolloutService::new(member.clone()))
        .max_decoding_message_size(limits.max_request_bytes)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES);
    let auth = AuthApiServer::new(AuthService::new(member.clone()))
        .max_decoding_message_size(limits.max_request_bytes);
    let hooks = HookApiServer::new(HookService::new(member.clone()))
        .max_decoding_message_size(limits.max_request_bytes);
    let grpc = Routes::new(api)
        .add_service(workflow)
        .add_service(rollout)
        .add_service(auth)
        .add_service(hooks);
    // Webhook deliveries share the port (and TLS) with the gRPC services.
    let retention = Retention {
        max_entries: s.auth.audit_max_entries,
        max_age_ms: s.auth.audit_max_age_s.saturating_mul(1000),
    };
    Routes::from(grpc.into_axum_router().merge(crate::api::http::routes(
        member.clone(),
        retention,
        s.drivers.clone(),
    )))
}

/// Reset streams not yet accepted that one peer connection may hold before h2 answers
/// GOAWAY `too_many_resets` (its default is 20, a guard against reset floods). A paused
/// member's peers reset every request that timed out meanwhile (appends, votes, forwarded
/// writes); it reads them all at once when it resumes, and the default tore down the peers'
/// connections then. The peer port admits only members (mutual TLS), so it takes as many as
/// a long pause makes; the client port keeps h2's default, also on a shared port.
const PEER_MAX_PENDING_ACCEPT_RESETS: usize = 65_536;

fn peer_server(member: &Arc<Member>, tls: bool) -> RaftPeerServer<PeerService> {
    RaftPeerServer::new(PeerService::new(member.clone(), tls))
        .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES)
}

fn builder(limits: &LimitsConfig) -> tonic::transport::Server {
    tonic::transport::Server::builder()
        // Webhooks arrive over HTTP/1.1; gRPC stays HTTP/2.
        .accept_http1(true)
        .concurrency_limit_per_connection(limits.max_concurrent_requests_per_connection)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
}

/// Serves `routes` on `listener` (TLS with `tls` when given) until `shutdown` resolves.
async fn run(
    server: tonic::transport::server::Router<tower_layer::Stack<GateLayer, tower_layer::Identity>>,
    listener: TcpListener,
    tls: Option<Arc<TlsReloader>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    match tls {
        Some(tls) => {
            server
                .serve_with_incoming_shutdown(tls_incoming(listener, tls), shutdown)
                .await
        }
        None => {
            // `Server::tcp_nodelay` does not reach sockets accepted from a listener we bound
            // ourselves: set it on each accepted socket, or Nagle's algorithm meets delayed
            // ACKs and a lone client waits ~40 ms per request.
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            server
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
    }
}

/// Serves `member` on `listeners` until `shutdown` resolves.
pub async fn serve(
    member: Arc<Member>,
    settings: ServeSettings,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let shutdown = shutdown.shared();
    let gate = Gate::new(member.clone(), settings.auth.clone());
    let tls_on = settings.tls.is_some();
    let mut routes = client_routes(&member, &settings);
    // The peer service is never behind the client gate: members authenticate by their
    // certificates, checked by the service itself.
    let peer_on_client_port = listeners.peer.is_none();
    if peer_on_client_port {
        routes = routes.add_service(peer_server(&member, tls_on));
    }
    let client = builder(&settings.limits)
        .layer(GateLayer(gate))
        .add_routes(routes);
    let client_tls = settings.tls.as_ref().map(|t| t.clients.clone());
    let client_task = run(client, listeners.client, client_tls, shutdown.clone());
    let Some(peer_listener) = listeners.peer else {
        return client_task.await;
    };
    let peer = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .http2_max_pending_accept_reset_streams(Some(PEER_MAX_PENDING_ACCEPT_RESETS))
        .add_service(peer_server(&member, tls_on));
    let peer_tls = settings.tls.as_ref().map(|t| t.peers.clone());
    let peer_task = async move {
        match peer_tls {
            Some(tls) => {
                peer.serve_with_incoming_shutdown(tls_incoming(peer_listener, tls), shutdown)
                    .await
            }
            None => {
                let incoming = TcpIncoming::from(peer_listener).with_nodelay(Some(true));
                peer.serve_with_incoming_shutdown(incoming, shutdown).await
            }
        }
    };
    let (a, b) = tokio::join!(client_task, peer_task);
    a.and(b)
}
