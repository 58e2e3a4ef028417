//! The gRPC face of `moor-agent`: [`AgentService`] serves `SiteAgent` over one
//! [`AgentSite`]. In order, for every call: the caller check (members only over TLS, see
//! [`crate::callers`]), the request checks shared with the simulator ([`crate::request`]),
//! then the site name: an agent serves one site, and a request for another is refused
//! (INVALID_ARGUMENT naming both) before any rule runs.

use moor_proto::site::site_agent_server::SiteAgent;
use moor_proto::site::{
    ApplyRequest, ApplyResponse, DeleteRequest, IdempotencyKey, ObserveRequest, ObserveResponse,
    ResourceRef,
};
use tonic::{Request, Response, Status};

use super::errors::AgentError;
use super::site::{AgentSite, Mutation};
use crate::callers::Callers;
use crate::request;

/// Serves `SiteAgent` over one [`AgentSite`].
#[derive(Clone)]
pub struct AgentService {
    site: AgentSite,
    callers: Callers,
}

impl AgentService {
    pub fn new(site: AgentSite, callers: Callers) -> Self {
        AgentService { site, callers }
    }

    /// Refuses a target naming another site than this agent's.
    fn this_site(&self, target: &ResourceRef) -> Result<(), AgentError> {
        if target.site == self.site.name() {
            Ok(())
        } else {
            Err(AgentError::WrongSite {
                serves: self.site.name().to_string(),
                requested: target.site.clone(),
            })
        }
    }

    /// The checks of every mutating call, then the call.
    async fn mutate(
        &self,
        target: Option<ResourceRef>,
        key: Option<IdempotencyKey>,
        attempt: u32,
        fence_token: u64,
        apply: Option<(String, String)>,
    ) -> Result<Response<ApplyResponse>, Status> {
        let target = request::target(target).map_err(AgentError::from)?;
        let key = request::key(key).map_err(AgentError::from)?;
        self.this_site(&target)?;
        let answer = self
            .site
            .mutate(Mutation {
                environment: target.environment,
                resource: target.resource,
                resource_type: target.resource_type,
                execution_id: key.execution_id,
                step: key.step,
                attempt,
                fence_token,
                apply,
            })
            .await?;
        Ok(Response::new(answer.into()))
    }
}

#[tonic::async_trait]
impl SiteAgent for AgentService {
    async fn apply(
        &self,
        request: Request<ApplyRequest>,
    ) -> Result<Response<ApplyResponse>, Status> {
        self.callers.check(&request).map_err(AgentError::from)?;
        let req = request.into_inner();
        let apply = Some((req.properties_json, req.desired_digest));
        self.mutate(req.target, req.key, req.attempt, req.fence_token, apply)
            .await
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<ApplyResponse>, Status> {
        self.callers.check(&request).map_err(AgentError::from)?;
        let req = request.into_inner();
        self.mutate(req.target, req.key, req.attempt, req.fence_token, None)
            .await
    }

    async fn observe(
        &self,
        request: Request<ObserveRequest>,
    ) -> Result<Response<ObserveResponse>, Status> {
        self.callers.check(&request).map_err(AgentError::from)?;
        let target =
            request::observe_target(request.into_inner().target).map_err(AgentError::from)?;
        self.this_site(&target)?;
        let resources = self
            .site
            .observe(&target.environment, &target.resource)
            .await?;
        Ok(Response::new(ObserveResponse { resources }))
    }
}
