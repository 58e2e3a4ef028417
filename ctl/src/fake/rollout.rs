//! The fake member's `RolloutApi`: groups kept in the shared state (`state.rs`), checked as
//! a member checks them; rollouts are not faked (UNIMPLEMENTED), their commands are tested
//! through their views and watches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use moor_proto::rollout as pb;
use moor_proto::rollout::rollout_api_server::RolloutApi;
use tonic::{Request, Response, Status};

use super::state::{check_group_policy, with_state, FakeState, Shared};

/// A fake member's `RolloutApi`.
pub struct FakeRollout {
    calls: Arc<AtomicUsize>,
    state: Shared,
}

impl FakeRollout {
    pub fn new(calls: Arc<AtomicUsize>, state: Shared) -> FakeRollout {
        FakeRollout { calls, state }
    }

    /// Counts the call and answers with what `f` makes of the state.
    fn with_state<T>(
        &self,
        f: impl FnOnce(&mut FakeState) -> Result<T, Status>,
    ) -> Result<Response<T>, Status> {
        with_state(&self.calls, &self.state, f)
    }

    /// The answer to every rollout call.
    fn no_rollouts<T>(&self) -> Result<Response<T>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(Status::unimplemented("the fake member has no rollouts"))
    }
}

/// The group `name` with how much it selects now, or NOT_FOUND as a member words it.
fn group(state: &FakeState, name: &str) -> Result<pb::Group, Status> {
    let g = state
        .groups
        .get(name)
        .ok_or_else(|| Status::not_found(format!("group {name} not found")))?;
    Ok(pb::Group {
        matches: state.matches(g),
        ..g.clone()
    })
}

#[tonic::async_trait]
impl RolloutApi for FakeRollout {
    async fn put_group(
        &self,
        r: Request<pb::PutGroupRequest>,
    ) -> Result<Response<pb::PutGroupResponse>, Status> {
        let g = r
            .into_inner()
            .group
            .ok_or_else(|| Status::invalid_argument("a group is required"))?;
        self.with_state(|state| {
            check_group_policy(&g)?;
            let matches = state.matches(&g);
            let created = state.groups.insert(g.name.clone(), g).is_none();
            state.resolve();
            Ok(pb::PutGroupResponse { created, matches })
        })
    }
    async fn get_group(
        &self,
        r: Request<pb::GetGroupRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        self.with_state(|state| group(state, &r.into_inner().name))
    }
    async fn list_groups(
        &self,
        _: Request<pb::ListGroupsRequest>,
    ) -> Result<Response<pb::ListGroupsResponse>, Status> {
        self.with_state(|state| {
            let names: Vec<String> = state.groups.keys().cloned().collect();
            let groups = names
                .iter()
                .map(|n| group(state, n))
                .collect::<Result<_, _>>()?;
            Ok(pb::ListGroupsResponse { groups })
        })
    }
    async fn delete_group(
        &self,
        r: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        let name = r.into_inner().name;
        self.with_state(|state| {
            state
                .groups
                .remove(&name)
                .ok_or_else(|| Status::not_found(format!("group {name} not found")))?;
            state.resolve();
            Ok(pb::DeleteGroupResponse {})
        })
    }
    async fn start_rollout(
        &self,
        _: Request<pb::StartRolloutRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.no_rollouts()
    }
    async fn get_rollout(
        &self,
        _: Request<pb::GetRolloutRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.no_rollouts()
    }
    async fn list_rollouts(
        &self,
        _: Request<pb::ListRolloutsRequest>,
    ) -> Result<Response<pb::ListRolloutsResponse>, Status> {
        self.no_rollouts()
    }
    async fn pause_rollout(
        &self,
        _: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.no_rollouts()
    }
    async fn resume_rollout(
        &self,
        _: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.no_rollouts()
    }
    async fn cancel_rollout(
        &self,
        _: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.no_rollouts()
    }
    async fn approve_rollout(
        &self,
        _: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.no_rollouts()
    }
    async fn rollback_rollout(
        &self,
        _: Request<pb::RolloutActionRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.no_rollouts()
    }
    async fn set_rollout_parallel(
        &self,
        _: Request<pb::SetRolloutParallelRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        self.no_rollouts()
    }
    async fn set_rollout_limits(
        &self,
        _: Request<pb::SetRolloutLimitsRequest>,
    ) -> Result<Response<pb::SetRolloutLimitsResponse>, Status> {
        self.no_rollouts()
    }
}
