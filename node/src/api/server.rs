//! The gRPC server of a member: the peer service, the client API, the workflow and rollout APIs on one
//! listener, with request size and concurrency limits. Takes a listener and a shutdown
//! future, so tests bind port 0 and stop it cleanly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moor_proto::api::moor_api_server::MoorApiServer;
use moor_proto::raft::raft_peer_server::RaftPeerServer;
use moor_proto::rollout::rollout_api_server::RolloutApiServer;
use moor_proto::workflow::workflow_api_server::WorkflowApiServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::api::kv_service::ApiService;
use crate::api::rollout_service::RolloutService;
use crate::api::workflow_service::WorkflowService;
use crate::config::LimitsConfig;
use crate::raft::member::Member;
use crate::raft::network::MAX_PEER_MESSAGE_BYTES;
use crate::raft::peer_service::PeerService;

/// Serves `member` on `listener` until `shutdown` resolves.
pub async fn serve(
    member: Arc<Member>,
    limits: LimitsConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let api = MoorApiServer::new(ApiService::new(member.clone(), limits.clone()))
        .max_decoding_message_size(limits.max_request_bytes)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES);
    let workflow = WorkflowApiServer::new(WorkflowService::new(member.clone()))
        .max_decoding_message_size(limits.max_request_bytes)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES);
    let rollout = RolloutApiServer::new(RolloutService::new(member.clone()))
        .max_decoding_message_size(limits.max_request_bytes)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES);
    let peer = RaftPeerServer::new(PeerService::new(member))
        .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES);
    // `Server::tcp_nodelay` does not reach sockets accepted from a listener we bound
    // ourselves: set it on each accepted socket, or Nagle's algorithm meets delayed ACKs and
    // a lone client waits ~40 ms per request.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(limits.max_concurrent_requests_per_connection)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(api)
        .add_service(workflow)
        .add_service(rollout)
        .add_service(peer)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
