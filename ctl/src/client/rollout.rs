//! The calls of `RolloutApi`: groups and rollouts.

use moor_proto::rollout as pb;
use moor_proto::rollout::rollout_api_client::RolloutApiClient;
use tonic::transport::Channel;

use super::{Call, Client, RpcError};

type Api = RolloutApiClient<Channel>;

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
    /// The verb for messages: "cannot {verb} rollout r3".
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
    /// Creates or replaces a group.
    pub async fn put_group(&mut self, group: pb::Group) -> Result<pb::PutGroupResponse, RpcError> {
        let check = format!("moorctl group show {}", group.name);
        let msg = pb::PutGroupRequest { group: Some(group) };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.put_group(r).await
        })
        .await
    }

    /// One group, with how many sites or environments it selects now.
    pub async fn get_group(&mut self, name: String, stale: bool) -> Result<pb::Group, RpcError> {
        let msg = pb::GetGroupRequest { name, stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.get_group(r).await
        })
        .await
    }

    /// Every group.
    pub async fn list_groups(&mut self, stale: bool) -> Result<pb::ListGroupsResponse, RpcError> {
        let msg = pb::ListGroupsRequest { stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_groups(r).await
        })
        .await
    }

    /// Deletes a group.
    pub async fn delete_group(&mut self, name: String) -> Result<(), RpcError> {
        let msg = pb::DeleteGroupRequest { name };
        self.call(
            Call::write("moorctl group list"),
            msg,
            |mut c: Api, r| async move { c.delete_group(r).await },
        )
        .await
        .map(|_| ())
    }

    /// Starts a rollout.
    pub async fn start_rollout(
        &mut self,
        msg: pb::StartRolloutRequest,
    ) -> Result<pb::Rollout, RpcError> {
        self.call(
            Call::write("moorctl rollout list"),
            msg,
            |mut c: Api, r| async move { c.start_rollout(r).await },
        )
        .await
    }

    /// One rollout, with the targets `targets` selects ("": none, "all", or a target state).
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
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.get_rollout(r).await
        })
        .await
    }

    /// Every rollout, and the running total over all of them.
    pub async fn list_rollouts(
        &mut self,
        stale: bool,
    ) -> Result<pb::ListRolloutsResponse, RpcError> {
        let msg = pb::ListRolloutsRequest { stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_rollouts(r).await
        })
        .await
    }

    /// Pauses, resumes, cancels, approves or rolls back a rollout.
    pub async fn control_rollout(
        &mut self,
        id: String,
        op: RolloutOp,
    ) -> Result<pb::Rollout, RpcError> {
        let check = format!("moorctl rollout show {id}");
        let msg = pb::RolloutActionRequest { id };
        self.call(Call::write(&check), msg, move |mut c: Api, r| async move {
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

    /// Changes how many targets of a rollout run at once.
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
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.set_rollout_parallel(r).await
        })
        .await
    }

    /// Sets the cap on targets running over all rollouts together.
    pub async fn set_rollout_limits(
        &mut self,
        max_parallel_total: u32,
    ) -> Result<pb::SetRolloutLimitsResponse, RpcError> {
        let msg = pb::SetRolloutLimitsRequest {
            max_parallel_total: max_parallel_total as i64,
        };
        self.call(
            Call::write("moorctl rollout list"),
            msg,
            |mut c: Api, r| async move { c.set_rollout_limits(r).await },
        )
        .await
    }
}
