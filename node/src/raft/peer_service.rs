//! The peer service: Raft RPCs from other members, and requests followers forward to this
//! member when it leads. Payloads are [`moor_domain::codec`]-encoded openraft messages.

use std::sync::Arc;

use moor_proto::raft::raft_peer_server::RaftPeer;
use moor_proto::raft::RaftPayload;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use crate::raft::member::{LeaderReply, LeaderRequest, Member};
use moor_domain::codec;

/// Serves [`RaftPeer`] for one member.
pub struct PeerService {
    member: Arc<Member>,
}

impl PeerService {
    pub fn new(member: Arc<Member>) -> Self {
        PeerService { member }
    }
}

fn decode<T: DeserializeOwned>(what: &'static str, req: Request<RaftPayload>) -> Result<T, Status> {
    codec::decode(what, &req.into_inner().data).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn reply<T: Serialize>(what: &'static str, value: &T) -> Result<Response<RaftPayload>, Status> {
    let data = codec::encode(what, value).map_err(|e| Status::internal(e.to_string()))?;
    Ok(Response::new(RaftPayload { data }))
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let req = decode("append-entries request", request)?;
        let result = self.member.raft.append_entries(req).await;
        reply("append-entries response", &result)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let req = decode("vote request", request)?;
        let result = self.member.raft.vote(req).await;
        reply("vote response", &result)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let req = decode("install-snapshot request", request)?;
        let result = self.member.raft.install_snapshot(req).await;
        reply("install-snapshot response", &result)
    }

    async fn forward(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let req: LeaderRequest = decode("forwarded request", request)?;
        // Run here only: a forwarded request is never forwarded again, so a stale leader hint
        // cannot make two members bounce a request between them.
        let result: Result<LeaderReply, _> = self.member.execute_local(req).await;
        reply("forwarded reply", &result)
    }
}
