//! Apply: one `kubernetes.manifest` resource by server-side apply, in the site protocol's
//! order: check the manifest (no request for a bad one) → fence (rule 1) → find the type →
//! read the object for this call's key (rule 2) → `PATCH` with
//! `application/apply-patch+yaml`, `fieldManager=moor` and `force=true` only when the
//! resource asks for it → APPLIED with the desired digest.
//!
//! A 409 is a conflict with other field managers: FAILED (not retryable, a person or the
//! blueprint must decide), naming the managers and their fields. A 404 naming the namespace
//! creates the environment's namespace and applies again, once.

use tokio::time::Instant;

use crate::discovery::not_served;
use crate::errors::{conflicting_managers, describe, status_of, Failure};
use crate::manifest::{Manifest, Stamp};
use crate::outcome::{ApplyRequest, Outcome};
use crate::retry::{Outgoing, Reply};
use crate::site::{Call, KubeSite};

impl KubeSite {
    /// Applies one resource; never panics, never waits past `req.timeout`.
    pub async fn apply(&self, req: &ApplyRequest) -> Outcome {
        let call = Call {
            environment: &req.environment,
            resource: &req.resource,
            key: &req.key,
            manifest: &req.manifest,
            fence_token: req.fence_token,
        };
        self.run("apply", call, req.timeout, |manifest, deadline| {
            self.apply_admitted(req, manifest, deadline)
        })
        .await
    }

    async fn apply_admitted(
        &self,
        req: &ApplyRequest,
        manifest: Manifest,
        deadline: Instant,
    ) -> Result<Outcome, Failure> {
        let type_ref = manifest.type_ref().clone();
        let (resolved, manifest) = self
            .locate(manifest, &req.environment, deadline)
            .await?
            .ok_or_else(|| not_served(&type_ref))?;
        let namespace = manifest.namespace().map(str::to_string);
        let path = resolved.object(namespace.as_deref(), manifest.name());
        let key = req.key.to_string();

        let live = self
            .transport
            .send(&Outgoing::get(path.clone()), deadline)
            .await?;
        match live.status.as_u16() {
            200 => {
                let recorded = live.json().and_then(|o| crate::dedupe::recorded(&o, &key));
                if let Some(observed_digest) = recorded {
                    self.discovery.note_applied(manifest.type_ref());
                    tracing::info!(%key, %path, "already applied under this key");
                    return Ok(Outcome::Duplicate { observed_digest });
                }
            }
            404 => {}
            _ => return Err(Failure::from_reply(&format!("reading {path}"), &live)),
        }

        let body = manifest.stamped(&Stamp {
            environment: req.environment.clone(),
            resource: req.resource.clone(),
            key,
            desired_digest: req.desired_digest.clone(),
            fence_token: req.fence_token.to_string(),
        });
        let out = self.server_side_apply(&path, req.force, false, &body);
        let mut reply = self.transport.send(&out, deadline).await?;
        if let Some(ns) = namespace.as_deref().filter(|_| missing_namespace(&reply)) {
            self.ensure_namespace(ns, deadline).await?;
            reply = self.transport.send(&out, deadline).await?;
        }
        match reply.status.as_u16() {
            200 | 201 => {
                self.discovery.note_applied(manifest.type_ref());
                Ok(Outcome::Applied {
                    observed_digest: req.desired_digest.clone(),
                })
            }
            409 => Err(conflict(&manifest, &reply)),
            _ => Err(Failure::from_reply(
                &format!("server-side apply of {path}"),
                &reply,
            )),
        }
    }
}

/// A 404 whose status names a namespace: the object's namespace does not exist yet.
fn missing_namespace(reply: &Reply) -> bool {
    reply.status == http::StatusCode::NOT_FOUND
        && status_of(reply)
            .and_then(|s| s.details)
            .and_then(|d| d.kind)
            .is_some_and(|kind| kind == "namespaces")
}

fn conflict(manifest: &Manifest, reply: &Reply) -> Failure {
    let object = format!(
        "{} {}{}",
        manifest.type_ref().kind,
        manifest
            .namespace()
            .map(|ns| format!("{ns}/"))
            .unwrap_or_default(),
        manifest.name()
    );
    let managers = status_of(reply)
        .map(|s| conflicting_managers(&s))
        .unwrap_or_default();
    if managers.is_empty() {
        return Failure::permanent(format!(
            "server-side apply of {object} conflicts: {}; set force: true on the resource to \
             take the fields over",
            describe(reply)
        ));
    }
    let named: Vec<String> = managers
        .iter()
        .map(|(manager, fields)| {
            if fields.is_empty() {
                format!("{manager:?}")
            } else {
                format!("{manager:?} ({})", fields.join(", "))
            }
        })
        .collect();
    Failure::permanent(format!(
        "server-side apply of {object} conflicts with field managers {}: they own those \
         fields now; set force: true on the resource to take them over, or leave the fields \
         out of the manifest",
        named.join(", ")
    ))
}
