//! The rollout API (`moor_proto::rollout`) on [`Client`]: groups and rollouts, with the
//! retry rules of `client.rs` (reads anywhere; a write only when it certainly was not
//! applied, else [`RpcError::OutcomeUnknown`] naming the command that shows what happened).

use std::future::Future;

use moor_proto::rollout as pb;
use moor_proto::rollout::rollout_api_client::RolloutApiClient;
use tonic::transport::Channel;
use tonic::{Response, Status};

use crate::client::{request, Access, Client, RpcError, Targets, MAX_RESPONSE_BYTES};

fn api(channel: Channel) -> RolloutApiClient<Channel> {
    RolloutApiClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
}

/// A rollout control operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutOp {
    Pause,
    Resume,
    Cancel,
    Approve,
    Rollback,
}

impl RolloutOp {
    pub fn verb(self) -> &'static str {
        match self {
            RolloutOp::Pause => "pause",
            RolloutOp::Resume => "resume",
            RolloutOp::Cancel => "cancel",
            RolloutOp::Approve => "approve",
            RolloutOp::Rollback => "roll back",
        }
    }
}

impl Client {
    async fn rollout_api<Req, Resp, F, Fut>(
        &mut self,
        access: Access,
        check: &str,
        message: Req,
        send: F,
    ) -> Result<Resp, RpcError>
    where
        Req: Clone,
        F: Fn(RolloutApiClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        self.call(access, Targets::All, check, |channel, t| {
            send(api(channel), request(message.clone(), t))
        })
        .await
    }

    pub async fn put_group(&mut self, group: pb::Group) -> Result<pb::PutGroupResponse, RpcError> {
        let check = format!("moorctl group show {}", group.name);
        let msg = pb::PutGroupRequest { group: Some(group) };
        self.rollout_api(Access::Write, &check, msg, |mut c, r| async move {
            c.put_group(r).await
        })
        .await
    }

    pub async fn get_group(&mut self, name: String, stale: bool) -> Result<pb::Group, RpcError> {
        let msg = pb::GetGroupRequest { name, stale };
        self.rollout_api(Access::Read, "", msg, |mut c, r| async move {
            c.get_group(r).await
        })
        .await
    }

    pub async fn list_groups(&mut self, stale: bool) -> Result<pb::ListGroupsResponse, RpcError> {
        let msg = pb::ListGroupsRequest { stale };
        self.rollout_api(Access::Read, "", msg, |mut c, r| async move {
            c.list_groups(r).await
        })
        .await
    }

    pub async fn delete_group(&mut self, name: String) -> Result<(), RpcError> {
        let check = "moorctl group list".to_string();
        let msg = pb::DeleteGroupRequest { name };
        self.rollout_api(Access::Write, &check, msg, |mut c, r| async move {
            c.delete_group(r).await
        })
        .await
        .map(|_| ())
    }

    pub async fn start_rollout(
        &mut self,
        msg: pb::StartRolloutRequest,
    ) -> Result<pb::Rollout, RpcError> {
        self.rollout_api(
            Access::Write,
            "moorctl rollout list",
            msg,
            |mut c, r| async move { c.start_rollout(r).await },
        )
        .await
    }

    pub async fn get_rollout(
        &mut self,
        id: String,
        targets: String,
        stale: bool,
    ) -> Result<pb::Rollout, RpcError> {
        let msg = pb::GetRolloutRequest {
            id,
            stale,
            targets,
            targets_offset: 0,
            targets_limit: 0,
        };
        self.rollout_api(Access::Read, "", msg, |mut c, r| async move {
            c.get_rollout(r).await
        })
        .await
    }

    pub async fn list_rollouts(
        &mut self,
        stale: bool,
    ) -> Result<pb::ListRolloutsResponse, RpcError> {
        let msg = pb::ListRolloutsRequest { stale };
        self.rollout_api(Access::Read, "", msg, |mut c, r| async move {
            c.list_rollouts(r).await
        })
        .await
    }

    pub async fn control_rollout(
        &mut self,
        id: String,
        op: RolloutOp,
    ) -> Result<pb::Rollout, RpcError> {
        let check = format!("moorctl rollout show {id}");
        let msg = pb::RolloutActionRequest { id };
        self.rollout_api(Access::Write, &check, msg, move |mut c, r| async move {
            match op {
                RolloutOp::Pause => c.pause_rollout(r).await,
                RolloutOp::Resume => c.resume_rollout(r).await,
                RolloutOp::Cancel => c.cancel_rollout(r).await,
                RolloutOp::Approve => c.approve_rollout(r).await,
                RolloutOp::Rollback => c.rollback_rollout(r).await,
            }
        })
        .await
    }

    pub async fn set_rollout_parallel(
        &mut self,
        id: String,
        max_parallel: u32,
    ) -> Result<pb::Rollout, RpcError> {
        let check = format!("moorctl rollout show {id}");
        let msg = pb::SetRolloutParallelRequest {
            id,
            max_parallel: max_parallel as i64,
        };
        self.rollout_api(Access::Write, &check, msg, |mut c, r| async move {
            c.set_rollout_parallel(r).await
        })
        .await
    }

    pub async fn set_rollout_limits(
        &mut self,
        max_parallel_total: u32,
    ) -> Result<pb::SetRolloutLimitsResponse, RpcError> {
        let msg = pb::SetRolloutLimitsRequest {
            max_parallel_total: max_parallel_total as i64,
        };
        self.rollout_api(
            Access::Write,
            "moorctl rollout list",
            msg,
            |mut c, r| async move { c.set_rollout_limits(r).await },
        )
        .await
    }
}
