//! The cluster calls of `MoorApi`: status and membership.

use std::collections::HashMap;

use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{
    AddMemberRequest, ClusterInitRequest, ClusterInitResponse, ClusterStatusRequest,
    ClusterStatusResponse, MembershipResponse, PromoteMemberRequest, RemoveMemberRequest,
    UpgradeFinalizeRequest, UpgradeFinalizeResponse,
};
use tonic::transport::Channel;

use super::{Call, Client, RpcError};

type Api = MoorApiClient<Channel>;

/// What shows whether a membership change happened.
const CHECK: &str = "moorctl cluster status";

impl Client {
    /// The state of the member answering and the members it knows.
    pub async fn cluster_status(&mut self) -> Result<ClusterStatusResponse, RpcError> {
        let msg = ClusterStatusRequest {};
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.cluster_status(r).await
        })
        .await
    }

    /// Initialises a cluster on the first endpoint (only there, see
    /// [`Targets::First`](super::Targets::First)).
    pub async fn cluster_init(
        &mut self,
        members: HashMap<u64, String>,
    ) -> Result<ClusterInitResponse, RpcError> {
        let msg = ClusterInitRequest { members };
        let how = Call::write(CHECK).first_only();
        self.call(
            how,
            msg,
            |mut c: Api, r| async move { c.cluster_init(r).await },
        )
        .await
    }

    /// Adds a learner; with `wait_caught_up`, returns once it has caught up.
    pub async fn add_member(
        &mut self,
        id: u64,
        addr: String,
        wait_caught_up: bool,
    ) -> Result<MembershipResponse, RpcError> {
        let msg = AddMemberRequest {
            id,
            addr,
            wait_caught_up,
        };
        self.call(Call::write(CHECK), msg, |mut c: Api, r| async move {
            c.add_member(r).await
        })
        .await
    }

    /// Promotes a learner to a voter.
    pub async fn promote_member(&mut self, id: u64) -> Result<MembershipResponse, RpcError> {
        let msg = PromoteMemberRequest { id };
        self.call(Call::write(CHECK), msg, |mut c: Api, r| async move {
            c.promote_member(r).await
        })
        .await
    }

    /// Removes a member.
    pub async fn remove_member(&mut self, id: u64) -> Result<MembershipResponse, RpcError> {
        let msg = RemoveMemberRequest { id };
        self.call(Call::write(CHECK), msg, |mut c: Api, r| async move {
            c.remove_member(r).await
        })
        .await
    }

    /// Raises the cluster's feature level to `level` (0: the highest every member
    /// supports). Raising to where the cluster already is changes nothing.
    pub async fn upgrade_finalize(
        &mut self,
        level: u32,
    ) -> Result<UpgradeFinalizeResponse, RpcError> {
        let msg = UpgradeFinalizeRequest { level };
        self.call(Call::write(CHECK), msg, |mut c: Api, r| async move {
            c.upgrade_finalize(r).await
        })
        .await
    }
}
