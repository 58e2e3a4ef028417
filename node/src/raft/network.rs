//! The Raft network over tonic: one cached gRPC channel per peer address, a deadline on every
//! call (openraft's RPC option), snapshots sent in chunks by openraft's chunked transport.
//!
//! The same channel cache serves the requests a follower forwards to the leader.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moor_proto::raft::raft_peer_client::RaftPeerClient;
use moor_proto::raft::RaftPayload;
use moor_tls::connector::TlsConnector;
use moor_tls::{member_dns_name, TlsReloader};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

use crate::raft::features::PeerLevels;
use crate::raft::identity::IdentityCell;
use crate::raft::removal::{Removal, NOT_A_MEMBER, REFUSAL_KEY};
use crate::raft::types::{MemberId, TypeConfig};
use moor_domain::codec;
use moor_domain::feature;

/// Largest message a peer accepts or sends: AppendEntries batches and snapshot chunks.
pub use moor_proto::MAX_PEER_MESSAGE_BYTES;

/// Cached gRPC channels to peers, keyed by member id and address. Cloning shares the cache.
#[derive(Clone)]
pub struct PeerChannels {
    channels: Arc<Mutex<HashMap<(MemberId, String), Channel>>>,
    /// This member's certificates: peers are dialed with mutual TLS and must present
    /// `member-<id>.moor` for the id dialed. None: plaintext (`insecure_plaintext`).
    tls: Option<Arc<TlsReloader>>,
    /// This member's applied cluster identity, stamped on every message it sends.
    identity: IdentityCell,
    /// Where refusals of this member as a non-member are reported.
    removal: Arc<Removal>,
    /// Where peers' reported feature levels are kept.
    levels: PeerLevels,
}

impl PeerChannels {
    /// Channels that dial with `tls` (None: plaintext) and stamp `identity`.
    pub fn new(
        tls: Option<Arc<TlsReloader>>,
        identity: IdentityCell,
        removal: Arc<Removal>,
        levels: PeerLevels,
    ) -> PeerChannels {
        PeerChannels {
            channels: Arc::default(),
            tls,
            identity,
            removal,
            levels,
        }
    }

    /// A peer message carrying `data`, this member's cluster identity and the feature level
    /// its build supports.
    pub fn payload(&self, data: Vec<u8>) -> RaftPayload {
        RaftPayload {
            data,
            cluster_id: self.identity.get(),
            feature_level: feature::SUPPORTED.0,
        }
    }

    /// The client for member `id` at `addr`, creating its channel on first use. Channels
    /// connect lazily and reconnect by themselves (a reconnect uses the certificates current
    /// then), so a peer that is down costs nothing until it is called.
    pub fn client(
        &self,
        id: MemberId,
        addr: &str,
    ) -> Result<RaftPeerClient<Channel>, tonic::transport::Error> {
        let mut map = self.channels.lock().expect("peer channel cache poisoned");
        let key = (id, addr.to_string());
        let channel = match map.get(&key) {
            Some(c) => c.clone(),
            None => {
                let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
                    .connect_timeout(Duration::from_secs(1))
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(5))
                    .keep_alive_timeout(Duration::from_secs(5));
                let c = match &self.tls {
                    None => endpoint.connect_lazy(),
                    Some(tls) => {
                        // A member id always makes a valid DNS name.
                        let connector =
                            TlsConnector::new(tls.clone(), &member_dns_name(id)).expect("dns name");
                        endpoint.connect_with_connector_lazy(connector)
                    }
                };
                map.insert(key, c.clone());
                c
            }
        };
        Ok(RaftPeerClient::new(channel)
            .max_decoding_message_size(MAX_PEER_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_PEER_MESSAGE_BYTES))
    }
}

/// Creates one [`PeerConnection`] per replication target.
#[derive(Clone)]
pub struct Network {
    pub channels: PeerChannels,
    /// The longest wait between tries of a peer that cannot be reached (see
    /// [`PeerConnection::backoff`]).
    pub backoff_cap: Duration,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: MemberId, node: &BasicNode) -> PeerConnection {
        PeerConnection {
            target,
            addr: node.addr.clone(),
            channels: self.channels.clone(),
            backoff_cap: self.backoff_cap,
        }
    }
}

/// The link from this member to one peer.
pub struct PeerConnection {
    target: MemberId,
    addr: String,
    channels: PeerChannels,
    backoff_cap: Duration,
}

/// Which RPC of the peer service to call.
#[derive(Clone, Copy)]
enum PeerRpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

impl PeerConnection {
    /// Sends `req` with a deadline and decodes the peer's `Result<Resp, E>`.
    async fn call<Req, Resp, E>(
        &self,
        rpc: PeerRpc,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<MemberId, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let data = codec::encode("raft request", req).map_err(|e| net_err(&e))?;
        let mut client = self
            .channels
            .client(self.target, &self.addr)
            .map_err(|e| unreachable(&e))?;
        let mut request = tonic::Request::new(self.channels.payload(data));
        request.set_timeout(ttl);
        let response = match rpc {
            PeerRpc::AppendEntries => client.append_entries(request).await,
            PeerRpc::Vote => client.vote(request).await,
            PeerRpc::InstallSnapshot => client.install_snapshot(request).await,
        };
        let payload = response.map_err(|status| {
            if status
                .metadata()
                .get(REFUSAL_KEY)
                .is_some_and(|v| v == NOT_A_MEMBER)
            {
                self.channels.removal.note_refusal(self.target);
            }
            status_to_rpc_error(&status)
        })?;
        let payload = payload.into_inner();
        self.channels
            .levels
            .note(self.target, payload.feature_level);
        let result: Result<Resp, E> =
            codec::decode("raft response", &payload.data).map_err(|e| net_err(&e))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<MemberId>, RPCError<MemberId, BasicNode, RaftError<MemberId>>>
    {
        self.call(PeerRpc::AppendEntries, &rpc, option.hard_ttl())
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<MemberId>,
        RPCError<MemberId, BasicNode, RaftError<MemberId, InstallSnapshotError>>,
    > {
        self.call(PeerRpc::InstallSnapshot, &rpc, option.hard_ttl())
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<MemberId>,
        option: RPCOption,
    ) -> Result<VoteResponse<MemberId>, RPCError<MemberId, BasicNode, RaftError<MemberId>>> {
        self.call(PeerRpc::Vote, &rpc, option.hard_ttl()).await
    }

    /// Retry an unreachable peer soon at first, then back off to one try per `backoff_cap`
    /// (the election timeout's lower bound). The cap matters: a member that restarts waits
    /// only its leader lease plus one election timeout for the leader before it campaigns,
    /// and openraft 0.9 has no pre-vote, so its campaign deposes a healthy leader. With a
    /// 1 s cap (as before), a follower restarted after a few seconds down started an
    /// election before the leader's next try (found by the near-limit-writes test).
    fn backoff(&self) -> Backoff {
        Backoff::new(backoff_delays(self.backoff_cap))
    }
}

/// 50 ms, 100 ms, 200 ms, … capped at `cap` (and at least 1 ms apart).
fn backoff_delays(cap: Duration) -> impl Iterator<Item = Duration> + Send + 'static {
    let cap = cap.max(Duration::from_millis(1));
    (0..).map(move |i: u32| (Duration::from_millis(50) * (1u32 << i.min(10))).min(cap))
}

fn net_err<T: std::error::Error>(
    e: &(impl std::error::Error + 'static),
) -> RPCError<MemberId, BasicNode, T> {
    RPCError::Network(NetworkError::new(e))
}

fn unreachable<E: std::error::Error + 'static, T: std::error::Error>(
    e: &E,
) -> RPCError<MemberId, BasicNode, T> {
    RPCError::Unreachable(Unreachable::new(e))
}

/// A transport failure: a peer that cannot be connected to is unreachable (openraft backs off);
/// anything else is a network error (openraft retries at once).
fn status_to_rpc_error<T: std::error::Error>(
    status: &tonic::Status,
) -> RPCError<MemberId, BasicNode, T> {
    if crate::errors::is_connect_failure(status) {
        RPCError::Unreachable(Unreachable::new(status))
    } else {
        RPCError::Network(NetworkError::new(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A restarted member campaigns after its lease plus one election timeout (at least
    /// 150 + 300 ms with the defaults): the leader must try it again well before that.
    #[test]
    fn unreachable_peers_are_retried_within_an_election_timeout() {
        let delays: Vec<u128> = backoff_delays(Duration::from_millis(150))
            .take(8)
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(delays, [50, 100, 150, 150, 150, 150, 150, 150]);
        let long: Vec<u128> = backoff_delays(Duration::from_millis(400))
            .take(5)
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(long, [50, 100, 200, 400, 400]);
        assert_eq!(
            backoff_delays(Duration::ZERO).next(),
            Some(Duration::from_millis(1))
        );
    }
}
