//! [`KubeSite`]: one Kubernetes cluster Moor drives directly, and the plumbing its calls
//! share (the client with its retry policy, the discovery cache, namespaces).
//!
//! One `KubeSite` per cluster, shared by every concurrent call to it (it is cheap to clone
//! and all its state is behind locks held only between awaits).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::config::{Fencing, Settings, Source};
use crate::discovery::{Discovery, Resolved};
use crate::errors::{ConnectError, Failure};
use crate::fence::FenceOutcome;
use crate::manifest::{
    check_label_value, check_namespace, Manifest, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
};
use crate::outcome::{IdempotencyKey, Outcome};
use crate::retry::{Outgoing, Transport};

/// The content type of a server-side apply.
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";

/// The parts of an apply or delete that [`KubeSite::run`] checks and logs.
pub(crate) struct Call<'a> {
    pub environment: &'a str,
    pub resource: &'a str,
    pub key: &'a IdempotencyKey,
    pub manifest: &'a serde_json::Value,
    pub fence_token: u64,
}

/// One cluster, driven through the site protocol's rules.
#[derive(Clone)]
pub struct KubeSite {
    pub(crate) transport: Transport,
    pub(crate) settings: Arc<Settings>,
    pub(crate) discovery: Arc<Discovery>,
}

impl KubeSite {
    /// Builds the client for `source`. Nothing is sent yet: an unreachable cluster shows up
    /// as retryable failures of the first calls.
    pub async fn connect(source: &Source, settings: Settings) -> Result<KubeSite, ConnectError> {
        settings.validate()?;
        let config = match source {
            Source::Kubeconfig { path, context } => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|source| {
                    ConnectError::Kubeconfig {
                        path: path.display().to_string(),
                        source,
                    }
                })?;
                let options = kube::config::KubeConfigOptions {
                    context: context.clone(),
                    cluster: None,
                    user: None,
                };
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|source| ConnectError::Kubeconfig {
                        path: path.display().to_string(),
                        source,
                    })?
            }
            Source::InCluster => kube::Config::incluster().map_err(ConnectError::InCluster)?,
        };
        let client = kube::Client::try_from(config).map_err(ConnectError::Client)?;
        KubeSite::from_client(client, settings)
    }

    /// A site over a client made elsewhere (tests: a client over a mock service).
    pub fn from_client(client: kube::Client, settings: Settings) -> Result<KubeSite, ConnectError> {
        settings.validate()?;
        Ok(KubeSite {
            transport: Transport::new(client, settings.retry.clone()),
            settings: Arc::new(settings),
            discovery: Arc::new(Discovery::default()),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs an apply or delete: the manifest and the names are checked (a bad one is
    /// refused before any request), then the fence (rule 1), then `admitted` does the rest,
    /// all within `timeout`; a failure is logged with what the call was.
    pub(crate) async fn run<F, Fut>(
        &self,
        action: &str,
        call: Call<'_>,
        timeout: Duration,
        admitted: F,
    ) -> Outcome
    where
        F: FnOnce(Manifest, Instant) -> Fut,
        Fut: Future<Output = Result<Outcome, Failure>>,
    {
        let deadline = Instant::now() + timeout;
        let result = match self.admit(&call, deadline).await {
            Ok(Ok(manifest)) => admitted(manifest, deadline).await,
            Ok(Err(highest_token)) => Ok(Outcome::Fenced { highest_token }),
            Err(failure) => Err(failure),
        };
        result.unwrap_or_else(|failure| {
            tracing::warn!(environment = %call.environment, resource = %call.resource, key = %call.key, error = %failure, "kube {action} failed");
            failure.into()
        })
    }

    /// The checks and the fence (unless the caller fences, [`Fencing::Caller`]):
    /// `Ok(Err(highest))` when fenced.
    async fn admit(
        &self,
        call: &Call<'_>,
        deadline: Instant,
    ) -> Result<Result<Manifest, u64>, Failure> {
        let manifest = Manifest::from_value(call.manifest.clone())?;
        check_label_value("environment", call.environment)?;
        check_label_value("resource", call.resource)?;
        if self.settings.fencing == Fencing::Caller {
            return Ok(Ok(manifest));
        }
        Ok(match self.fence(call.fence_token, deadline).await? {
            FenceOutcome::Fenced { highest_token } => Err(highest_token),
            FenceOutcome::Admitted { .. } => Ok(manifest),
        })
    }

    /// Creates namespace `name` (labelled as Moor's) unless it exists.
    pub(crate) async fn ensure_namespace(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let namespace = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}},
        });
        let out = Outgoing::json(http::Method::POST, "/api/v1/namespaces".into(), &namespace);
        let reply = self.transport.send(&out, deadline).await?;
        match reply.status.as_u16() {
            200 | 201 => {
                tracing::info!(namespace = name, "created namespace");
                Ok(())
            }
            409 => Ok(()),
            _ => Err(Failure::from_reply(
                &format!("creating namespace {name}"),
                &reply,
            )),
        }
    }

    /// Finds the manifest's type and places it: namespaced kinds in the manifest's namespace
    /// or the environment's, cluster-scoped kinds in none. `None`: the cluster does not
    /// serve the type.
    pub(crate) async fn locate(
        &self,
        manifest: Manifest,
        environment: &str,
        deadline: Instant,
    ) -> Result<Option<(Resolved, Manifest)>, Failure> {
        let type_ref = manifest.type_ref().clone();
        let Some(resolved) = self
            .discovery
            .resolve(&self.transport, &type_ref, deadline)
            .await?
        else {
            return Ok(None);
        };
        let namespace = match (resolved.namespaced, manifest.namespace()) {
            (true, Some(ns)) => Some(ns.to_string()),
            (true, None) => {
                let ns = self.settings.environment_namespace(environment);
                check_namespace("environment namespace", &ns)?;
                Some(ns)
            }
            (false, None) => None,
            (false, Some(ns)) => {
                return Err(Failure::permanent(format!(
                    "{type_ref} is cluster-scoped but the manifest sets metadata.namespace \
                     {ns:?}: remove it"
                )))
            }
        };
        let placed = manifest.placed(namespace.as_deref());
        Ok(Some((resolved, placed)))
    }

    /// A server-side apply of `body` at `path` (a dry run when `dry_run`).
    pub(crate) fn server_side_apply(
        &self,
        path: &str,
        force: bool,
        dry_run: bool,
        body: &serde_json::Value,
    ) -> Outgoing {
        let mut target = format!("{path}?fieldManager={}", self.settings.field_manager);
        if force {
            target.push_str("&force=true");
        }
        if dry_run {
            target.push_str("&dryRun=All");
        }
        Outgoing {
            method: http::Method::PATCH,
            target,
            content_type: Some(APPLY_PATCH),
            body: body.to_string().into_bytes(),
        }
    }
}
