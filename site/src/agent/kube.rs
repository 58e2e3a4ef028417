//! The `kubernetes.manifest` resource: an object in the site's own cluster, applied through
//! the same Kubernetes library the members use for sites they drive directly (`moor-kube`:
//! server-side apply with field manager `moor`, a conflict naming the other managers,
//! `force: true` only when the resource asks, foreground delete of Moor's own objects, drift
//! by a dry-run apply of the recorded manifest).
//!
//! - properties: the object (`apiVersion`, `kind`, `metadata.name`, …) and an optional
//!   top-level `force`, read by [`moor_kube::manifest_of`] exactly as moord reads them;
//!   namespaced objects go to `moor-<environment>` unless the manifest names a namespace.
//! - kept: only the object's identity (`apiVersion`, `kind`, `metadata.name` and
//!   `metadata.namespace` when given), which is all a delete needs and which tells observe
//!   what types to list; the manifest as applied is recorded on the object itself.
//! - observe: one `moor-kube` observe per environment for all its manifests: the desired
//!   digest while the object is as applied, `k8s-drift-sha256:<hex>` and the live fields when
//!   it drifted, nothing when it is gone. A cluster that does not answer fails the whole
//!   Observe (UNAVAILABLE): a partial answer is never taken for the site's state.
//!
//! Fencing and dedupe: the agent's store fences and dedupes every call before it gets here
//! (`site.rs`), one mutating call at a time, and stays the authority for the site. So the
//! cluster's fence object is not used ([`Fencing::Caller`]): it would only repeat the store's
//! decision, cost a request per call (two per new term) and RBAC on `moor-system`, and be a
//! second authority that could disagree with the store (a fence left by another installation
//! would fence this agent's leader for good). `moor-kube`'s dedupe by the object's
//! `moor.dev/idempotency-key` annotation stays on: it answers the case the store cannot, a
//! crash between the apply and its record, as [`Applied::Earlier`] (recorded, then answered
//! DUPLICATE) instead of applying twice.

use std::collections::BTreeSet;
use std::time::Duration;

use moor_kube::{
    manifest_of, ApplyRequest, DeleteRequest, Fencing, IdempotencyKey, KubeSite, Manifest,
    ObserveRequest, Outcome, Settings, TypeRef,
};
use moor_proto::site::ObservedResource;
use serde_json::{json, Value};

use super::memory::ResourceState;
use super::site::Mutation;

pub use moor_kube::MANIFEST_TYPE;

/// The FAILED reason of a `kubernetes.manifest` call to an agent without a cluster.
pub fn no_cluster() -> String {
    format!(
        "this agent has no [kubernetes] section: add one to its config file (kubeconfig = \
         \"/path/to/kubeconfig\" with an optional context = \"name\", or in_cluster = true) and \
         restart it to run {MANIFEST_TYPE} resources on this site's cluster"
    )
}

/// The `moor-kube` settings of an agent's cluster: the defaults members use (field manager
/// `moor`, namespace `moor-<environment>`), fenced by the agent's store, and observe lists
/// only the types the agent applied.
pub fn cluster_settings() -> Settings {
    Settings {
        fencing: Fencing::Caller,
        observe_kinds: Vec::new(),
        ..Settings::default()
    }
}

/// The site's cluster, connected, with the deadline of every call to it.
#[derive(Clone)]
pub struct Cluster {
    pub site: KubeSite,
    pub call_timeout: Duration,
}

/// A checked `kubernetes.manifest`.
#[derive(Debug, Clone)]
pub struct ManifestSpec {
    manifest: Value,
    force: bool,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied by this call.
    Now,
    /// The object already carried this call's key (an earlier attempt landed but was never
    /// recorded): nothing was sent; the digest recorded on the object.
    Earlier(String),
}

impl ManifestSpec {
    /// Reads and checks the properties; the error says what is wrong (nothing is sent).
    pub fn parse(properties_json: &str) -> Result<ManifestSpec, String> {
        let (manifest, force) =
            manifest_of(properties_json).map_err(|e| format!("{MANIFEST_TYPE} {e}"))?;
        Manifest::from_value(manifest.clone()).map_err(|e| e.to_string())?;
        Ok(ManifestSpec { manifest, force })
    }

    /// What the agent keeps of the object (see the module docs).
    pub fn kept_properties(&self) -> Value {
        let m = &self.manifest;
        let mut metadata = json!({ "name": m["metadata"]["name"] });
        if let Some(ns) = m["metadata"]["namespace"].as_str() {
            metadata["namespace"] = ns.into();
        }
        json!({ "apiVersion": m["apiVersion"], "kind": m["kind"], "metadata": metadata })
    }

    /// The manifest, for the digest of a request that gives none.
    pub fn manifest(&self) -> &Value {
        &self.manifest
    }
}

fn key(call: &Mutation) -> IdempotencyKey {
    IdempotencyKey {
        execution_id: call.execution_id.clone(),
        step: call.step,
    }
}

/// An outcome that cannot happen with the store fencing ([`Fencing::Caller`]), or a
/// failure, as the FAILED reason.
fn failed(outcome: Outcome) -> String {
    match outcome {
        Outcome::Failed { error, .. } => error,
        other => format!("unexpected answer from the Kubernetes driver: {other:?}"),
    }
}

impl Cluster {
    /// Applies `spec` for `call`, recording `desired_digest` on the object.
    pub async fn apply(
        &self,
        call: &Mutation,
        spec: &ManifestSpec,
        desired_digest: &str,
    ) -> Result<Applied, String> {
        let outcome = self
            .site
            .apply(&ApplyRequest {
                environment: call.environment.clone(),
                resource: call.resource.clone(),
                manifest: spec.manifest.clone(),
                key: key(call),
                attempt: call.attempt,
                fence_token: call.fence_token,
                desired_digest: desired_digest.to_string(),
                force: spec.force,
                timeout: self.call_timeout,
            })
            .await;
        match outcome {
            Outcome::Applied { .. } => Ok(Applied::Now),
            Outcome::Duplicate { observed_digest } => Ok(Applied::Earlier(observed_digest)),
            other => Err(failed(other)),
        }
    }

    /// Deletes the object the agent kept as `state` (foreground; a missing one is success).
    pub async fn delete(&self, call: &Mutation, state: &ResourceState) -> Result<(), String> {
        let outcome = self
            .site
            .delete(&DeleteRequest {
                environment: call.environment.clone(),
                resource: call.resource.clone(),
                manifest: state.properties.clone(),
                key: key(call),
                attempt: call.attempt,
                fence_token: call.fence_token,
                timeout: self.call_timeout,
            })
            .await;
        match outcome {
            Outcome::Applied { .. } => Ok(()),
            other => Err(failed(other)),
        }
    }

    /// The kept manifests `kept` (name, state) of `environment` as the cluster holds them,
    /// in `kept`'s order; those whose object is gone are left out. Fails as a whole.
    pub async fn observe(
        &self,
        environment: &str,
        kept: &[(String, ResourceState)],
    ) -> Result<Vec<ObservedResource>, String> {
        let kinds: BTreeSet<TypeRef> = kept
            .iter()
            .filter_map(|(_, state)| {
                let p = &state.properties;
                Some(TypeRef::new(p["apiVersion"].as_str()?, p["kind"].as_str()?))
            })
            .collect();
        let found = self
            .site
            .observe(&ObserveRequest {
                environment: environment.to_string(),
                extra_kinds: kinds.into_iter().collect(),
                timeout: self.call_timeout,
            })
            .await
            .map_err(|f| f.error)?;
        Ok(kept
            .iter()
            .filter_map(|(name, _)| {
                let o = found.get(name)?;
                let properties = if o.live.is_null() {
                    json!({ "object": o.object, "problem": o.problem })
                } else {
                    o.live.clone()
                };
                Some(ObservedResource {
                    resource: name.clone(),
                    observed_digest: o.digest.clone(),
                    properties_json: properties.to_string(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_checked_and_only_the_identity_is_kept() {
        let spec = ManifestSpec::parse(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"n","labels":{"a":"b"}},"data":{"k":"v"},"force":true}"#,
        )
        .unwrap();
        assert!(spec.force);
        assert_eq!(
            spec.kept_properties(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}})
        );
        for (bad, says) in [
            ("[]", "Kubernetes object"),
            (
                r#"{"kind":"ConfigMap","metadata":{"name":"c"}}"#,
                "apiVersion",
            ),
            (
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"force":1}"#,
                "true or false",
            ),
        ] {
            let err = ManifestSpec::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
