//! What a call asks ([`ApplyRequest`], [`DeleteRequest`]) and what the site answers
//! ([`Outcome`]), mirroring the site protocol (`moor.site.v1`): the idempotency key is the
//! execution and step, the same on every attempt and after failover; the fence token is the
//! dispatching leader's Raft term.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// The idempotency key of one step: (execution, step).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub execution_id: String,
    pub step: u32,
}

impl fmt::Display for IdempotencyKey {
    /// `<execution>/<step>`, as recorded in the `moor.dev/idempotency-key` annotation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.execution_id, self.step)
    }
}

/// Apply one `kubernetes.manifest` resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyRequest {
    pub environment: String,
    /// The resource's name in the blueprint (the `moor.dev/resource` label).
    pub resource: String,
    /// The Kubernetes object: apiVersion, kind, metadata.name; metadata.namespace defaults
    /// to the environment's namespace for namespaced kinds.
    pub manifest: Value,
    pub key: IdempotencyKey,
    pub attempt: u32,
    pub fence_token: u64,
    /// Reported back as the observed digest, and recorded on the object.
    pub desired_digest: String,
    /// Take over fields other field managers own (`force=true`) instead of failing with a
    /// conflict.
    pub force: bool,
    /// The call's deadline: every request and retry fits in it.
    pub timeout: Duration,
}

/// Delete one `kubernetes.manifest` resource.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteRequest {
    pub environment: String,
    pub resource: String,
    /// The object to delete: apiVersion, kind, metadata.name and, when it has one set,
    /// metadata.namespace (the applied manifest will do).
    pub manifest: Value,
    pub key: IdempotencyKey,
    pub attempt: u32,
    pub fence_token: u64,
    pub timeout: Duration,
}

/// The site's answer to an apply or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done now. `observed_digest` is the desired digest for an apply, empty for a delete.
    Applied { observed_digest: String },
    /// Already applied under this idempotency key (the object carries the key): nothing was
    /// sent; the digest recorded then is returned.
    Duplicate { observed_digest: String },
    /// The cluster's fence holds a higher token: this leader is deposed, nothing was applied.
    Fenced { highest_token: u64 },
    /// Not done. Retryable failures include every unknown outcome (timeouts, 5xx).
    Failed { error: String, retryable: bool },
}

impl From<crate::errors::Failure> for Outcome {
    fn from(f: crate::errors::Failure) -> Outcome {
        Outcome::Failed {
            error: f.error,
            retryable: f.retryable,
        }
    }
}
