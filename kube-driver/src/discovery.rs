//! Where an object type lives in the API: its plural resource name and whether it is
//! namespaced, read from the API server's discovery document for its group version
//! (`/api/v1`, `/apis/<group>/<version>`) and cached for the site's lifetime. One request
//! answers for every kind of the group version.
//!
//! Only answers are cached: a type the cluster does not serve (a CRD not installed yet) is
//! asked again next time, because a blueprint may install the CRD in an earlier step.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde::Deserialize;
use tokio::time::Instant;

use crate::errors::Failure;
use crate::manifest::TypeRef;
use crate::retry::{Outgoing, Transport};

/// A type's place in the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// `/api/v1` or `/apis/<group>/<version>`.
    pub base: String,
    pub plural: String,
    pub namespaced: bool,
}

/// The parts of a discovery document (`APIResourceList`) this crate reads.
#[derive(Deserialize)]
struct ResourceList {
    resources: Vec<ResourceEntry>,
}

#[derive(Deserialize)]
struct ResourceEntry {
    name: String,
    kind: String,
    #[serde(default)]
    namespaced: bool,
}

impl Resolved {
    /// The collection path, in `namespace` or across all of them (or cluster-scoped).
    pub fn collection(&self, namespace: Option<&str>) -> String {
        match namespace.filter(|_| self.namespaced) {
            Some(ns) => format!("{}/namespaces/{ns}/{}", self.base, self.plural),
            None => format!("{}/{}", self.base, self.plural),
        }
    }

    pub fn object(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection(namespace))
    }
}

/// The discovery cache, plus every type this site has applied (which `observe` lists).
#[derive(Default)]
pub(crate) struct Discovery {
    resolved: Mutex<HashMap<TypeRef, Resolved>>,
    applied: Mutex<BTreeSet<TypeRef>>,
}

impl Discovery {
    /// The API place of `type_ref`; `Ok(None)` when the cluster does not serve it.
    pub async fn resolve(
        &self,
        transport: &Transport,
        type_ref: &TypeRef,
        deadline: Instant,
    ) -> Result<Option<Resolved>, Failure> {
        if let Some(hit) = self.cached(type_ref) {
            return Ok(Some(hit));
        }
        let base = if type_ref.api_version.contains('/') {
            format!("/apis/{}", type_ref.api_version)
        } else {
            format!("/api/{}", type_ref.api_version)
        };
        let reply = transport
            .send(&Outgoing::get(base.clone()), deadline)
            .await?;
        if reply.status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !reply.status.is_success() {
            return Err(Failure::from_reply(
                &format!("discovering {}", type_ref.api_version),
                &reply,
            ));
        }
        let list: ResourceList = serde_json::from_slice(&reply.body).map_err(|e| {
            Failure::retryable(format!("discovery document {base} is not readable: {e}"))
        })?;
        let mut cache = self.lock_resolved();
        for resource in list.resources {
            // `deployments/status` and friends are subresources, not types.
            if resource.name.contains('/') {
                continue;
            }
            let key = TypeRef::new(&type_ref.api_version, &resource.kind);
            cache.entry(key).or_insert_with(|| Resolved {
                base: base.clone(),
                plural: resource.name,
                namespaced: resource.namespaced,
            });
        }
        Ok(cache.get(type_ref).cloned())
    }

    pub fn note_applied(&self, type_ref: &TypeRef) {
        let mut applied = match self.applied.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        applied.insert(type_ref.clone());
    }

    pub fn applied(&self) -> BTreeSet<TypeRef> {
        match self.applied.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn cached(&self, type_ref: &TypeRef) -> Option<Resolved> {
        self.lock_resolved().get(type_ref).cloned()
    }

    // A panic elsewhere while holding the lock leaves a map that is still consistent
    // (entries are only ever inserted whole), so a poisoned lock is used as it is.
    fn lock_resolved(&self) -> std::sync::MutexGuard<'_, HashMap<TypeRef, Resolved>> {
        match self.resolved.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The failure for a type the cluster does not serve.
pub(crate) fn not_served(type_ref: &TypeRef) -> Failure {
    Failure::permanent(format!(
        "the cluster does not serve {type_ref}: check apiVersion and kind, or install its \
         CustomResourceDefinition first (a resource this one depends_on)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_namespaced_and_cluster_scoped_types() {
        let deployments = Resolved {
            base: "/apis/apps/v1".into(),
            plural: "deployments".into(),
            namespaced: true,
        };
        assert_eq!(
            deployments.object(Some("moor-prod"), "web"),
            "/apis/apps/v1/namespaces/moor-prod/deployments/web"
        );
        assert_eq!(deployments.collection(None), "/apis/apps/v1/deployments");
        let namespaces = Resolved {
            base: "/api/v1".into(),
            plural: "namespaces".into(),
            namespaced: false,
        };
        assert_eq!(
            namespaces.object(Some("ignored"), "a"),
            "/api/v1/namespaces/a"
        );
    }
}
