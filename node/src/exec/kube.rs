//! The Kubernetes site driver: a site whose driver is `kubernetes` is a cluster Moor drives
//! directly, through `moor-kube` (server-side apply, foreground delete, the fence object and
//! the idempotency annotation live there). This file adapts it to [`SiteDriver`]:
//!
//! - one connected [`KubeSite`] per (kubeconfig path, context), made on first use and kept;
//!   a kubeconfig that cannot be read fails the call (not retryable: someone must fix the
//!   file), and is tried again on the next call;
//! - only `kubernetes.manifest` resources run on such a site; the resource's properties are
//!   the manifest, except a top-level `force: true`, which is taken out and asks server-side
//!   apply to take over fields other managers own;
//! - a delete step carries no properties, so the object is found by Moor's labels (an
//!   observe of the environment) and deleted as it was last applied; an object that is not
//!   there is already deleted;
//! - outcomes map one to one (APPLIED and DUPLICATE are done; FENCED; FAILED with its
//!   retryability).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use moor_domain::execution::StepAction;
use moor_domain::site::{Driver, Site};
use moor_kube::{
    ApplyRequest, DeleteRequest, IdempotencyKey, KubeSite, ObserveRequest, Outcome, Settings,
    Source,
};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::exec::driver::{DriverCall, DriverResult, ObservedDetail, SiteDriver};

/// The resource type a Kubernetes site runs, and how its properties become a manifest:
/// moor-kube's, shared with moor-agent's `kubernetes.manifest`.
pub use moor_kube::{manifest_of, MANIFEST_TYPE};

/// Which cluster: a kubeconfig path and the context in it (its current one when `None`).
type ClusterKey = (String, Option<String>);

/// Drives Kubernetes sites.
#[derive(Default)]
pub struct KubeDriver {
    sites: Mutex<HashMap<ClusterKey, Arc<KubeSite>>>,
}

impl KubeDriver {
    /// The connected cluster of `site`, made on first use.
    async fn site(&self, site: &Site) -> Result<Arc<KubeSite>, String> {
        let Driver::Kubernetes {
            kubeconfig,
            context,
        } = &site.driver
        else {
            return Err(format!("site {} is not a Kubernetes site", site.name));
        };
        let key = (kubeconfig.clone(), context.clone());
        let mut sites = self.sites.lock().await;
        if let Some(s) = sites.get(&key) {
            return Ok(s.clone());
        }
        let source = Source::Kubeconfig {
            path: kubeconfig.into(),
            context: context.clone(),
        };
        let connected = KubeSite::connect(&source, Settings::default())
            .await
            .map_err(|e| {
                format!(
                    "site {}: cannot use kubeconfig {kubeconfig}: {e}; check that the file exists on every member and names a reachable cluster",
                    site.name
                )
            })?;
        let connected = Arc::new(connected);
        sites.insert(key, connected.clone());
        Ok(connected)
    }

    async fn call_kube(&self, call: &DriverCall) -> DriverResult {
        if call.resource_type != MANIFEST_TYPE {
            return DriverResult::Failed {
                error: format!(
                    "resource {} is of type {}, which a Kubernetes site cannot run (only {MANIFEST_TYPE}); nothing was sent",
                    call.resource, call.resource_type
                ),
                retryable: false,
            };
        }
        let site = match self.site(&call.site).await {
            Ok(s) => s,
            Err(error) => {
                return DriverResult::Failed {
                    error,
                    retryable: false,
                }
            }
        };
        let key = IdempotencyKey {
            execution_id: call.execution_id.clone(),
            step: call.step,
        };
        let outcome = match call.action {
            StepAction::Create | StepAction::Modify => {
                let (manifest, force) = match manifest_of(&call.properties_json) {
                    Ok(m) => m,
                    Err(error) => {
                        return DriverResult::Failed {
                            error: format!("resource {}: {error}", call.resource),
                            retryable: false,
                        }
                    }
                };
                site.apply(&ApplyRequest {
                    environment: call.environment.clone(),
                    resource: call.resource.clone(),
                    manifest,
                    key,
                    attempt: call.attempt,
                    fence_token: call.fence_token,
                    desired_digest: call.desired_digest.clone(),
                    force,
                    timeout: call.timeout,
                })
                .await
            }
            StepAction::Delete => {
                let observed = site
                    .observe(&ObserveRequest {
                        environment: call.environment.clone(),
                        extra_kinds: Vec::new(),
                        timeout: call.timeout,
                    })
                    .await;
                let manifest = match observed {
                    Err(f) => {
                        return DriverResult::Failed {
                            error: format!("finding {} to delete it: {}", call.resource, f.error),
                            retryable: f.retryable,
                        }
                    }
                    // Not there (or never applied): already deleted.
                    Ok(seen) => match seen.get(&call.resource).map(|o| o.live.clone()) {
                        None => {
                            return DriverResult::Done {
                                observed_digest: String::new(),
                            }
                        }
                        Some(Value::Null) => {
                            return DriverResult::Failed {
                                error: format!(
                                    "resource {} has no recorded manifest on its object; delete it by hand",
                                    call.resource
                                ),
                                retryable: false,
                            }
                        }
                        Some(live) => live,
                    },
                };
                site.delete(&DeleteRequest {
                    environment: call.environment.clone(),
                    resource: call.resource.clone(),
                    manifest,
                    key,
                    attempt: call.attempt,
                    fence_token: call.fence_token,
                    timeout: call.timeout,
                })
                .await
            }
        };
        match outcome {
            Outcome::Applied { observed_digest } | Outcome::Duplicate { observed_digest } => {
                DriverResult::Done { observed_digest }
            }
            Outcome::Fenced { highest_token } => DriverResult::Fenced { highest_token },
            Outcome::Failed { error, retryable } => DriverResult::Failed { error, retryable },
        }
    }

    async fn observe_kube(
        &self,
        site: &Site,
        environment: &str,
        timeout: Duration,
    ) -> Result<BTreeMap<String, ObservedDetail>, String> {
        let cluster = self.site(site).await?;
        let seen = cluster
            .observe(&ObserveRequest {
                environment: environment.to_string(),
                extra_kinds: Vec::new(),
                timeout,
            })
            .await
            .map_err(|f| format!("observing site {}: {}", site.name, f.error))?;
        Ok(seen
            .into_iter()
            .map(|(resource, o)| {
                (
                    resource,
                    ObservedDetail {
                        digest: o.digest,
                        properties_json: if o.live.is_null() {
                            String::new()
                        } else {
                            o.live.to_string()
                        },
                    },
                )
            })
            .collect())
    }
}

impl SiteDriver for KubeDriver {
    fn call<'a>(&'a self, call: &'a DriverCall) -> BoxFuture<'a, DriverResult> {
        self.call_kube(call).boxed()
    }

    fn observe<'a>(
        &'a self,
        site: &'a Site,
        environment: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>> {
        async move {
            Ok(self
                .observe_kube(site, environment, timeout)
                .await?
                .into_iter()
                .map(|(r, d)| (r, d.digest))
                .collect())
        }
        .boxed()
    }

    fn observe_details<'a>(
        &'a self,
        site: &'a Site,
        environment: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, ObservedDetail>, String>> {
        self.observe_kube(site, environment, timeout).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn other_resource_types_and_unreadable_kubeconfigs_fail_before_any_request() {
        let driver = KubeDriver::default();
        let site = Site {
            name: "k8s-1".into(),
            region: "eu".into(),
            latitude: 0.0,
            longitude: 0.0,
            labels: Default::default(),
            driver: Driver::Kubernetes {
                kubeconfig: "/nonexistent/kubeconfig".into(),
                context: None,
            },
        };
        let mut call = DriverCall {
            site,
            environment: "e".into(),
            resource: "r".into(),
            resource_type: "agent.file".into(),
            action: StepAction::Create,
            properties_json: "{}".into(),
            desired_digest: "d".into(),
            execution_id: "x1".into(),
            step: 0,
            attempt: 1,
            fence_token: 1,
            timeout: Duration::from_secs(1),
        };
        let r = driver.call(&call).await;
        assert!(
            matches!(&r, DriverResult::Failed { error, retryable: false } if error.contains("only kubernetes.manifest")),
            "{r:?}"
        );
        call.resource_type = MANIFEST_TYPE.into();
        let r = driver.call(&call).await;
        assert!(
            matches!(&r, DriverResult::Failed { error, retryable: false } if error.contains("/nonexistent/kubeconfig")),
            "{r:?}"
        );
    }
}
