//! Delete: one `kubernetes.manifest` resource, fenced first like an apply, then removed with
//! foreground propagation (`propagationPolicy=Foreground`: the object goes once its
//! dependents are gone, so a finished delete leaves no orphans behind).
//!
//! A missing object is success, which is what makes a delete safe to repeat. An object that
//! exists but is not Moor's for this environment and resource (no `moor.dev/*` labels
//! matching) is refused and left alone: Moor deletes only what it applied. The DELETE carries
//! the object's uid as a precondition, so an object replaced since it was read is not
//! deleted (a retryable failure: the next attempt reads again).

use serde_json::json;
use tokio::time::Instant;

use crate::errors::Failure;
use crate::manifest::{
    Manifest, ENVIRONMENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, RESOURCE_LABEL,
};
use crate::outcome::{DeleteRequest, Outcome};
use crate::retry::Outgoing;
use crate::site::{Call, KubeSite};

impl KubeSite {
    /// Deletes one resource; never panics, never waits past `req.timeout`.
    pub async fn delete(&self, req: &DeleteRequest) -> Outcome {
        let call = Call {
            environment: &req.environment,
            resource: &req.resource,
            key: &req.key,
            manifest: &req.manifest,
            fence_token: req.fence_token,
        };
        self.run("delete", call, req.timeout, |manifest, deadline| {
            self.delete_admitted(req, manifest, deadline)
        })
        .await
    }

    async fn delete_admitted(
        &self,
        req: &DeleteRequest,
        manifest: Manifest,
        deadline: Instant,
    ) -> Result<Outcome, Failure> {
        let gone = Outcome::Applied {
            observed_digest: String::new(),
        };
        let type_ref = manifest.type_ref().clone();
        let Some((resolved, manifest)) = self.locate(manifest, &req.environment, deadline).await?
        else {
            // No such type any more (its CRD was removed): no such object either.
            tracing::info!(%type_ref, "not served by the cluster: nothing to delete");
            return Ok(gone);
        };
        let path = resolved.object(manifest.namespace(), manifest.name());

        let live = self
            .transport
            .send(&Outgoing::get(path.clone()), deadline)
            .await?;
        let live = match live.status.as_u16() {
            200 => live.json().unwrap_or_default(),
            404 => return Ok(gone),
            _ => return Err(Failure::from_reply(&format!("reading {path}"), &live)),
        };
        let labels = &live["metadata"]["labels"];
        let ours = labels[MANAGED_BY_LABEL] == MANAGED_BY_VALUE
            && labels[ENVIRONMENT_LABEL] == req.environment.as_str()
            && labels[RESOURCE_LABEL] == req.resource.as_str();
        if !ours {
            return Err(Failure::permanent(format!(
                "{path} exists but is not Moor's resource {} of environment {} (its \
                 {MANAGED_BY_LABEL}, {ENVIRONMENT_LABEL} and {RESOURCE_LABEL} labels do not \
                 say so): not deleting it",
                req.resource, req.environment
            )));
        }
        if !live["metadata"]["deletionTimestamp"].is_null() {
            return Ok(gone);
        }
        let options = json!({
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": live["metadata"]["uid"]},
        });
        let out = Outgoing::json(
            http::Method::DELETE,
            format!("{path}?propagationPolicy=Foreground"),
            &options,
        );
        let reply = self.transport.send(&out, deadline).await?;
        match reply.status.as_u16() {
            200 | 202 | 404 => Ok(gone),
            409 => Err(Failure::retryable(format!(
                "{path} was replaced while being deleted (uid precondition failed); the next \
                 attempt reads it again"
            ))),
            _ => Err(Failure::from_reply(&format!("deleting {path}"), &reply)),
        }
    }
}
