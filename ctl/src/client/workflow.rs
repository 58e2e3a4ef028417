//! The calls of `WorkflowApi`: blueprints, sites, environments, executions, and opening the
//! execution watch stream.
//!
//! None of these writes is idempotent on the server except `ApplyBlueprint` (the same source
//! makes no new revision), `PutSite` (the same site twice is the same site) and
//! `SetEnvironmentDrift`, so each write names the command that shows whether it happened.
//! `ApplyBlueprint` with `validate_only` writes nothing and `DiffEnvironment` only asks the
//! site: both are sent as reads.

use moor_proto::workflow as pb;
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use std::time::Duration;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::Streaming;

use super::{Call, Client, RpcError};

type Api = WorkflowApiClient<Channel>;

/// The shortest deadline a watch stream is opened with.
const MIN_WATCH_REQUEST: Duration = Duration::from_millis(100);

impl Client {
    /// Creates a new revision of a blueprint (none when the source equals the latest one).
    /// `check` is the command that shows whether it was applied.
    pub async fn apply_blueprint(
        &mut self,
        source_name: String,
        yaml: String,
        check: &str,
    ) -> Result<pb::ApplyBlueprintResponse, RpcError> {
        let msg = pb::ApplyBlueprintRequest {
            source_name,
            yaml,
            validate_only: false,
        };
        self.call(Call::write(check), msg, |mut c: Api, r| async move {
            c.apply_blueprint(r).await
        })
        .await
    }

    /// Checks a blueprint without applying it: the answer lists every problem the member's
    /// parser found (empty: valid, with the name). Nothing is written, so it is sent as a
    /// read, retried on any member after any failure.
    pub async fn validate_blueprint(
        &mut self,
        source_name: String,
        yaml: String,
    ) -> Result<pb::ApplyBlueprintResponse, RpcError> {
        let msg = pb::ApplyBlueprintRequest {
            source_name,
            yaml,
            validate_only: true,
        };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.apply_blueprint(r).await
        })
        .await
    }

    /// The latest revision of every blueprint.
    pub async fn list_blueprints(
        &mut self,
        stale: bool,
    ) -> Result<pb::ListBlueprintsResponse, RpcError> {
        let msg = pb::ListBlueprintsRequest { stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_blueprints(r).await
        })
        .await
    }

    /// One revision of a blueprint (0: the latest).
    pub async fn get_blueprint(
        &mut self,
        name: String,
        revision: u64,
        stale: bool,
    ) -> Result<pb::GetBlueprintResponse, RpcError> {
        let msg = pb::GetBlueprintRequest {
            name,
            revision,
            stale,
        };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.get_blueprint(r).await
        })
        .await
    }

    /// Creates or replaces a site.
    pub async fn put_site(&mut self, site: pb::Site) -> Result<pb::PutSiteResponse, RpcError> {
        let check = format!("moorctl site show {}", site.name);
        let msg = pb::PutSiteRequest { site: Some(site) };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.put_site(r).await
        })
        .await
    }

    /// Every site.
    pub async fn list_sites(&mut self, stale: bool) -> Result<pb::ListSitesResponse, RpcError> {
        let msg = pb::ListSitesRequest { stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_sites(r).await
        })
        .await
    }

    /// One site.
    pub async fn get_site(&mut self, name: String, stale: bool) -> Result<pb::Site, RpcError> {
        let msg = pb::GetSiteRequest { name, stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.get_site(r).await
        })
        .await
    }

    /// Creates an environment and starts (or queues) its install.
    pub async fn create_environment(
        &mut self,
        msg: pb::CreateEnvironmentRequest,
    ) -> Result<pb::ExecutionRef, RpcError> {
        let check = format!("moorctl env show {}", msg.name);
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.create_environment(r).await
        })
        .await
    }

    /// Environments, filtered by site and status (empty: any).
    pub async fn list_environments(
        &mut self,
        site: String,
        status: String,
        stale: bool,
    ) -> Result<pb::ListEnvironmentsResponse, RpcError> {
        let msg = pb::ListEnvironmentsRequest {
            site,
            status,
            stale,
        };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_environments(r).await
        })
        .await
    }

    /// One environment.
    pub async fn get_environment(
        &mut self,
        name: String,
        stale: bool,
    ) -> Result<pb::Environment, RpcError> {
        let msg = pb::GetEnvironmentRequest { name, stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.get_environment(r).await
        })
        .await
    }

    /// Sets an environment's own drift policy, or clears it (`None`); answers with the
    /// environment as it is after. Setting the same policy twice is the same policy.
    pub async fn set_environment_drift(
        &mut self,
        environment: String,
        drift: Option<pb::DriftPolicy>,
    ) -> Result<pb::Environment, RpcError> {
        let check = format!("moorctl env show {environment}");
        let msg = pb::SetEnvironmentDriftRequest { environment, drift };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.set_environment_drift(r).await
        })
        .await
    }

    /// An environment against what its site holds now, field by field. The member asks the
    /// site but records nothing, so it is sent as a read.
    pub async fn diff_environment(
        &mut self,
        name: String,
    ) -> Result<pb::EnvironmentDiffResponse, RpcError> {
        let msg = pb::EnvironmentDiffRequest { name };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.diff_environment(r).await
        })
        .await
    }

    /// Starts (or queues) an execution on an environment.
    pub async fn start_execution(
        &mut self,
        msg: pb::StartExecutionRequest,
    ) -> Result<pb::ExecutionRef, RpcError> {
        let check = format!("moorctl exec list --env {}", msg.environment);
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.start_execution(r).await
        })
        .await
    }

    /// Executions without their steps, of one environment (empty: all).
    pub async fn list_executions(
        &mut self,
        environment: String,
        stale: bool,
    ) -> Result<pb::ListExecutionsResponse, RpcError> {
        let msg = pb::ListExecutionsRequest { environment, stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_executions(r).await
        })
        .await
    }

    /// One execution with its steps.
    pub async fn get_execution(
        &mut self,
        id: String,
        stale: bool,
    ) -> Result<pb::Execution, RpcError> {
        let msg = pb::GetExecutionRequest { id, stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.get_execution(r).await
        })
        .await
    }

    /// Resumes a failed execution.
    pub async fn resume_execution(&mut self, id: String) -> Result<pb::ExecutionRef, RpcError> {
        let check = format!("moorctl exec show {id}");
        let msg = pb::ExecutionActionRequest { id };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.resume_execution(r).await
        })
        .await
    }

    /// Cancels a queued or running execution.
    pub async fn cancel_execution(&mut self, id: String) -> Result<pb::ExecutionRef, RpcError> {
        let check = format!("moorctl exec show {id}");
        let msg = pb::ExecutionActionRequest { id };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.cancel_execution(r).await
        })
        .await
    }

    /// Starts a rollback of an environment to its previous revision.
    pub async fn rollback(&mut self, environment: String) -> Result<pb::ExecutionRef, RpcError> {
        let check = format!("moorctl exec list --env {environment}");
        let msg = pb::RollbackRequest {
            environment,
            retry: None,
        };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.rollback(r).await
        })
        .await
    }

    /// Opens the watch stream of execution `id`, trying endpoints from `start` on with the
    /// usual failover (bounded by `--timeout-ms`); returns the stream and the endpoint
    /// serving it. The stream itself may run until `until`, the end of the whole watch: the
    /// per-attempt deadline bounds only the wait for the member's first answer.
    pub async fn open_watch(
        &mut self,
        id: &str,
        start: usize,
        until: Instant,
    ) -> Result<(Streaming<pb::Execution>, usize), RpcError> {
        let msg = pb::WatchExecutionRequest { id: id.to_string() };
        self.call_from(start, Call::read(), msg, |mut c: Api, mut r| {
            r.set_timeout(
                until
                    .saturating_duration_since(Instant::now())
                    .max(MIN_WATCH_REQUEST),
            );
            async move { c.watch_execution(r).await }
        })
        .await
    }
}
