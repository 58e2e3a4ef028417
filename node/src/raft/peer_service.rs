//! The peer service: Raft RPCs from other members, and requests followers forward to this
//! member when it leads. Payloads are [`moor_domain::codec`]-encoded openraft messages.

use std::sync::Arc;

use moor_proto::raft::raft_peer_server::RaftPeer;
use moor_proto::raft::RaftPayload;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};

use moor_tls::member_id_of;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};

use crate::errors::ApiError;
use crate::raft::forwarder::{ForwardedReplies, ForwardedWrites};
use crate::raft::member::{LeaderReply, LeaderRequest, Member};
use crate::raft::removal::{NOT_A_MEMBER, REFUSAL_KEY};
use crate::raft::types::{MemberId, TypeConfig};
use crate::telemetry;
use moor_domain::codec;
use moor_domain::feature::{self, FeatureLevel};

/// Serves [`RaftPeer`] for one member.
pub struct PeerService {
    member: Arc<Member>,
    /// Whether callers are known by their TLS certificates (false only with
    /// `insecure_plaintext`).
    tls: bool,
}

impl PeerService {
    pub fn new(member: Arc<Member>, tls: bool) -> Self {
        PeerService { member, tls }
    }

    /// The member a caller's certificate names, checked against the membership: a valid
    /// certificate of a member that is not (or no longer) in the group may not ask for votes
    /// or forward requests, refused before anything is decoded. A member that has no
    /// membership yet accepts any member of the cluster CA.
    fn caller(&self, request: &Request<RaftPayload>) -> Result<Option<MemberId>, Status> {
        let id = self.certified(request)?;
        if let Some(id) = id {
            self.admit(id, None)?;
        }
        Ok(id)
    }

    /// The member a caller's certificate names (None without TLS), with no look at the
    /// membership yet: a Raft message is admitted by [`PeerService::sender`] once decoded.
    ///
    /// Before anything else, a message from another cluster is refused (see
    /// [`crate::raft::identity`]).
    fn certified(&self, request: &Request<RaftPayload>) -> Result<Option<MemberId>, Status> {
        self.member
            .identity
            .check(self.member.id, &request.get_ref().cluster_id)?;
        if !self.tls {
            return Ok(None);
        }
        let Some(certs) = request.peer_certs() else {
            return Err(Status::unauthenticated(
                "peer calls need a member certificate (DNS name member-<id>.moor, from the cluster CA)",
            ));
        };
        let ids = certs.first().map(|c| member_id_of(c)).unwrap_or_default();
        let Some(&id) = ids.first() else {
            return Err(Status::permission_denied(
                "the client certificate names no member (DNS name member-<id>.moor): only members may call the peer service",
            ));
        };
        Ok(Some(id))
    }

    /// Refuses traffic from `id` unless it is in this member's membership, this member has
    /// none yet, or (`leader_term`) it comes from a leader whose term is at least this
    /// member's. That last case is a member that lags: its log, and so its membership, may
    /// predate the leader's addition, and only the leader's own entries can tell it. Raft
    /// itself answers a leader of an older term with the newer vote; a removed member cannot
    /// win a newer term, since members refuse its votes. The refusal carries a marker the
    /// sender counts towards finding itself removed ([`crate::raft::removal`]).
    fn admit(&self, id: MemberId, leader_term: Option<u64>) -> Result<(), Status> {
        let metrics = self.member.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        if membership.nodes().next().is_none() || membership.get_node(&id).is_some() {
            return Ok(());
        }
        if leader_term.is_some_and(|term| term >= metrics.current_term) {
            return Ok(());
        }
        let mut status = Status::permission_denied(format!(
            "member {id} is not in this cluster's membership: a removed member cannot send Raft traffic; add it with `moorctl cluster add` first"
        ));
        status
            .metadata_mut()
            .insert(REFUSAL_KEY, MetadataValue::from_static(NOT_A_MEMBER));
        Err(status)
    }

    /// Admits a decoded Raft message: the certificate's member (with TLS) or the claimed
    /// sender (without, where the claim is all there is) must be one [`PeerService::admit`]
    /// lets in; `leader_term` is the term of a leader's message (None for a vote request).
    fn sender(
        &self,
        cert: Option<MemberId>,
        claimed: Option<MemberId>,
        leader_term: Option<u64>,
    ) -> Result<(), Status> {
        same_sender(cert, claimed)?;
        match cert.or(claimed) {
            Some(id) => self.admit(id, leader_term),
            None => Ok(()),
        }
    }
}

/// Refuses a Raft message whose claimed sender is not the member the certificate names: a
/// member may not speak for another.
fn same_sender(cert: Option<MemberId>, claimed: Option<MemberId>) -> Result<(), Status> {
    match (cert, claimed) {
        (Some(c), Some(m)) if c != m => Err(Status::permission_denied(format!(
            "the certificate names member {c} but the message claims to come from member {m}"
        ))),
        _ => Ok(()),
    }
}

/// Decodes a peer message. One this build cannot read, from a sender whose build supports a
/// higher feature level, says so: this member runs the older release.
fn decode<T: DeserializeOwned>(what: &'static str, req: Request<RaftPayload>) -> Result<T, Status> {
    let payload = req.into_inner();
    codec::decode(what, &payload.data).map_err(|e| {
        let theirs = FeatureLevel::reported(payload.feature_level);
        if theirs > feature::SUPPORTED {
            Status::invalid_argument(format!(
                "{e}: the sender's release supports feature level {theirs}, this member's only \
                 {}: upgrade this member",
                feature::SUPPORTED
            ))
        } else {
            Status::invalid_argument(e.to_string())
        }
    })
}

fn reply<T: Serialize>(what: &'static str, value: &T) -> Result<Response<RaftPayload>, Status> {
    let data = codec::encode(what, value).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftPayload {
        data,
        cluster_id: String::new(),
        feature_level: feature::SUPPORTED.0,
    }))
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let cert = self.certified(&request)?;
        let req: AppendEntriesRequest<TypeConfig> = decode("append-entries request", request)?;
        let leader = req.vote.leader_id();
        let term = req.vote.is_committed().then(|| leader.get_term());
        self.sender(cert, leader.voted_for(), term)?;
        let result = self.member.raft.append_entries(req).await;
        reply("append-entries response", &result)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        // A vote is refused from a non-member before its bytes are decoded.
        let cert = self.caller(&request)?;
        let req: VoteRequest<MemberId> = decode("vote request", request)?;
        self.sender(cert, req.vote.leader_id().voted_for(), None)?;
        let result = self.member.raft.vote(req).await;
        reply("vote response", &result)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let cert = self.certified(&request)?;
        let req: InstallSnapshotRequest<TypeConfig> = decode("install-snapshot request", request)?;
        let leader = req.vote.leader_id();
        let term = req.vote.is_committed().then(|| leader.get_term());
        self.sender(cert, leader.voted_for(), term)?;
        let result = self.member.raft.install_snapshot(req).await;
        reply("install-snapshot response", &result)
    }

    async fn forward(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.caller(&request)?;
        let span = telemetry::forwarded_span(metadata_str(&request, telemetry::TRACEPARENT));
        let req: LeaderRequest = decode("forwarded request", request)?;
        // Run here only: a forwarded request is never forwarded again, so a stale leader hint
        // cannot make two members bounce a request between them.
        let result: Result<LeaderReply, _> =
            tracing::Instrument::instrument(self.member.execute_local(req), span).await;
        reply("forwarded reply", &result)
    }

    async fn forward_writes(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.caller(&request)?;
        let traces = telemetry::batch_parents(metadata_str(&request, telemetry::BATCH_HEADER));
        let ForwardedWrites(writes) = decode("forwarded writes", request)?;
        // All at once, so the proposer puts them in one entry; each answered on its own, each
        // in the trace its client started (when traced).
        let results: ForwardedReplies =
            futures::future::join_all(writes.iter().enumerate().map(|(i, w)| {
                let span = telemetry::forwarded_span(traces.get(&i).map(String::as_str));
                tracing::Instrument::instrument(self.one_write(w), span)
            }))
            .await;
        reply("forwarded replies", &results)
    }
}

/// A text metadata value of a request, if present and readable.
fn metadata_str<'a, T>(request: &'a Request<T>, key: &str) -> Option<&'a str> {
    request.metadata().get(key).and_then(|v| v.to_str().ok())
}

impl PeerService {
    /// One write of a `ForwardWrites` call: only writes are run (never forwarded again); one
    /// this member cannot read fails alone.
    async fn one_write(&self, encoded: &[u8]) -> Result<LeaderReply, ApiError> {
        match codec::decode::<LeaderRequest>("forwarded write", encoded) {
            Ok(request @ LeaderRequest::Write(_)) => self.member.execute_local(request).await,
            Ok(_) => Err(ApiError::InvalidArgument {
                field: "forwarded writes".into(),
                reason: "only writes may be forwarded together".into(),
            }),
            Err(e) => Err(ApiError::FailedPrecondition {
                reason: format!(
                    "the leader (member {}) could not read this write: {e}. It probably runs                      an older release: finish the rolling upgrade first",
                    self.member.id
                ),
            }),
        }
    }
}
