//! Observe: what an environment's objects look like now, as one digest per resource, and
//! which fields drifted.
//!
//! The objects are found by the labels every apply adds (`app.kubernetes.io/managed-by=moor`,
//! `moor.dev/environment=<env>`), listed across all namespaces for each type in
//! [`crate::Settings::observe_kinds`], every type this site applied since it was made, and
//! the types the request names. For each object, the manifest recorded at its last apply
//! (`moor.dev/applied`) is applied again as a server-side dry run (`dryRun=All`, with
//! `force=true` so fields another manager took over show up as drift instead of a
//! conflict), with the same labels and annotations, and the result is compared with the
//! live object ([`crate::diff`]). No difference: the object is in sync, and its digest is the
//! desired digest recorded at apply, so it matches what Moor expects. Otherwise its digest is
//! `k8s-drift-sha256:<hex>` of the differing fields, and the fields are listed.
//!
//! Cost per observe: one list per type (after discovery, cached) and one dry run per object.
//! Requests go one at a time; all of them fit in the request's timeout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::diff::{diff, drift_digest, project, FieldDiff};
use crate::discovery::Resolved;
use crate::errors::{describe, Failure};
use crate::manifest::{
    check_label_value, Manifest, Stamp, TypeRef, APPLIED_ANNOTATION, DIGEST_ANNOTATION,
    ENVIRONMENT_LABEL, FENCE_ANNOTATION, KEY_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    RESOURCE_LABEL,
};
use crate::retry::Outgoing;
use crate::site::KubeSite;

/// Observe every resource of one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserveRequest {
    pub environment: String,
    /// Types to list besides the settings' and the ones this site applied (for instance the
    /// types of the environment's desired manifests, which a new leader has not applied yet).
    pub extra_kinds: Vec<TypeRef>,
    pub timeout: Duration,
}

/// One resource as the cluster holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedResource {
    /// The desired digest recorded at apply when in sync, else `k8s-drift-sha256:<hex>`.
    pub digest: String,
    pub in_sync: bool,
    /// `Kind namespace/name` of the object.
    pub object: String,
    /// The fields a re-apply would change (empty when in sync or when `problem` is set).
    pub drift: Vec<FieldDiff>,
    /// Why the object could not be compared (no recorded manifest, the dry run refused);
    /// such an object counts as drifted.
    pub problem: Option<String>,
    /// The live object in the shape of the recorded manifest (only the fields the manifest
    /// sets), for a diff against the desired manifest; `null` without a recorded manifest.
    pub live: Value,
}

impl KubeSite {
    /// Every resource of `req.environment` found in the cluster, by resource name. An
    /// unknown outcome (timeouts, 5xx past the deadline) fails the whole observe, so a
    /// partial answer is never taken for the environment's state.
    pub async fn observe(
        &self,
        req: &ObserveRequest,
    ) -> Result<BTreeMap<String, ObservedResource>, Failure> {
        let deadline = Instant::now() + req.timeout;
        check_label_value("environment", &req.environment)?;
        let mut kinds: BTreeSet<TypeRef> = self.settings.observe_kinds.iter().cloned().collect();
        kinds.extend(self.discovery.applied());
        kinds.extend(req.extra_kinds.iter().cloned());

        let mut found = BTreeMap::new();
        for kind in &kinds {
            let Some(resolved) = self
                .discovery
                .resolve(&self.transport, kind, deadline)
                .await?
            else {
                continue;
            };
            for item in self.list(&resolved, &req.environment, deadline).await? {
                let labels = &item["metadata"]["labels"];
                let Some(resource) = labels[RESOURCE_LABEL].as_str().map(str::to_string) else {
                    continue;
                };
                if !item["metadata"]["deletionTimestamp"].is_null() {
                    continue;
                }
                if found.contains_key(&resource) {
                    tracing::warn!(%resource, environment = %req.environment, "two objects carry the same moor.dev/resource label; reporting the first");
                    continue;
                }
                if let Some(observed) = self.compare(kind, &resolved, &item, deadline).await? {
                    found.insert(resource, observed);
                }
            }
        }
        Ok(found)
    }

    async fn list(
        &self,
        resolved: &Resolved,
        environment: &str,
        deadline: Instant,
    ) -> Result<Vec<Value>, Failure> {
        // The label values are checked label values (letters, digits, `-_.`), so only the
        // separators need escaping.
        let selector = format!(
            "{}%3D{MANAGED_BY_VALUE}%2C{}%3D{environment}",
            MANAGED_BY_LABEL.replace('/', "%2F"),
            ENVIRONMENT_LABEL.replace('/', "%2F"),
        );
        let target = format!("{}?labelSelector={selector}", resolved.collection(None));
        let reply = self
            .transport
            .send(&Outgoing::get(target.clone()), deadline)
            .await?;
        match reply.status.as_u16() {
            200 => Ok(match reply.json() {
                Some(Value::Object(mut list)) => match list.remove("items") {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            }),
            404 => Ok(Vec::new()),
            _ => Err(Failure::from_reply(&format!("listing {target}"), &reply)),
        }
    }

    /// Dry-runs the recorded manifest of `live` and compares; `None` if the object went
    /// away meanwhile.
    async fn compare(
        &self,
        kind: &TypeRef,
        resolved: &Resolved,
        live: &Value,
        deadline: Instant,
    ) -> Result<Option<ObservedResource>, Failure> {
        let meta = &live["metadata"];
        let namespace = meta["namespace"].as_str();
        let name = meta["name"].as_str().unwrap_or_default();
        let object = match namespace {
            Some(ns) => format!("{} {ns}/{name}", kind.kind),
            None => format!("{} {name}", kind.kind),
        };
        let annotation = |key: &str| {
            meta["annotations"][key]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let drifted = |problem: String| ObservedResource {
            digest: drift_digest(&problem),
            in_sync: false,
            object: object.clone(),
            drift: Vec::new(),
            problem: Some(problem),
            live: Value::Null,
        };
        let recorded = serde_json::from_str::<Value>(&annotation(APPLIED_ANNOTATION))
            .map_err(|e| e.to_string())
            .and_then(|v| Manifest::from_value(v).map_err(|e| e.to_string()));
        let manifest = match recorded {
            Ok(manifest) => manifest,
            Err(e) => {
                return Ok(Some(drifted(format!(
                    "no readable {APPLIED_ANNOTATION} annotation to compare with ({e}); the next \
                     apply records it"
                ))))
            }
        };
        let body = manifest.stamped(&Stamp {
            environment: meta["labels"][ENVIRONMENT_LABEL]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            resource: meta["labels"][RESOURCE_LABEL]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            key: annotation(KEY_ANNOTATION),
            desired_digest: annotation(DIGEST_ANNOTATION),
            fence_token: annotation(FENCE_ANNOTATION),
        });
        let shaped = project(&manifest.to_value(), live);
        let path = resolved.object(namespace, name);
        let out = self.server_side_apply(&path, true, true, &body);
        let reply = self.transport.send(&out, deadline).await?;
        match reply.status.as_u16() {
            200 | 201 => {}
            404 => return Ok(None),
            _ => {
                let problem = format!(
                    "the dry-run apply of the recorded manifest was refused: {}",
                    describe(&reply)
                );
                return Ok(Some(ObservedResource {
                    live: shaped,
                    ..drifted(problem)
                }));
            }
        }
        let dry_run = reply.json().unwrap_or_default();
        let drift = diff(&dry_run, live);
        Ok(Some(ObservedResource {
            digest: if drift.is_empty() {
                annotation(DIGEST_ANNOTATION)
            } else {
                drift_digest(&drift)
            },
            in_sync: drift.is_empty(),
            object,
            drift,
            problem: None,
            live: shaped,
        }))
    }
}
