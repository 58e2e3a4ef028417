//! Where the cluster is ([`Source`]) and how Moor uses it ([`Settings`]), checked once when a
//! [`crate::KubeSite`] is made, with the bad key and value named.

use std::path::PathBuf;
use std::time::Duration;

use crate::errors::ConnectError;
use crate::manifest::{check_label_value, check_namespace, check_path_segment, TypeRef};

/// How to reach the API server. Credentials stay in the file (or the pod's service account):
/// Moor's replicated state holds only this reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A kubeconfig file, with the context to use (its current context when `None`).
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
    },
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`, the mounted token and CA).
    InCluster,
}

/// How calls are retried: every request gets at most `request_timeout`; a timeout, a
/// transport error, 429 or 5xx is retried after `initial_backoff`, doubling up to
/// `max_backoff`, while the call's deadline allows, at most `max_attempts` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub request_timeout: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            request_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_attempts: 8,
        }
    }
}

/// Who keeps rule 1's highest fence token for the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fencing {
    /// The cluster does, in the fence ConfigMap (`fence.rs`): a member driving the cluster
    /// directly has no other durable place that every call passes through.
    ClusterObject,
    /// The caller does, before it calls this crate: a site agent that fences (and dedupes)
    /// every call in its own durable store, one call at a time, so the fence object would
    /// only repeat its decision at the cost of a request (two per new term) and a second
    /// authority that could disagree with the first. Nothing here reads or writes the fence
    /// object, and an apply or delete is never answered FENCED.
    Caller,
}

/// How Moor lays its objects out in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The field manager of every server-side apply (`fieldManager`).
    pub field_manager: String,
    /// An environment's namespace is this prefix + the environment's name (`moor-prod`),
    /// unless the manifest sets one or [`Settings::namespace`] is set.
    pub namespace_prefix: String,
    /// One namespace for every environment's objects, instead of one each.
    pub namespace: Option<String>,
    /// Who fences: the fence object in the cluster (the default), or the caller.
    pub fencing: Fencing,
    /// Where the fence object lives: a ConfigMap `fence_name` in `fence_namespace`.
    pub fence_namespace: String,
    pub fence_name: String,
    /// How many read-decide-write rounds the fence gets when others race for it.
    pub fence_rounds: u32,
    /// The object types `observe` lists in every environment, besides every type this site
    /// has applied since it was made and the ones an observe request names.
    pub observe_kinds: Vec<TypeRef>,
    pub retry: RetryPolicy,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            field_manager: "moor".into(),
            namespace_prefix: "moor-".into(),
            namespace: None,
            fencing: Fencing::ClusterObject,
            fence_namespace: "moor-system".into(),
            fence_name: "moor-fence".into(),
            fence_rounds: 5,
            observe_kinds: default_observe_kinds(),
            retry: RetryPolicy::default(),
        }
    }
}

/// The built-in types most blueprints use.
pub fn default_observe_kinds() -> Vec<TypeRef> {
    [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("v1", "PersistentVolumeClaim"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("policy/v1", "PodDisruptionBudget"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ]
    .into_iter()
    .map(|(api_version, kind)| TypeRef::new(api_version, kind))
    .collect()
}

impl Settings {
    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<(), ConnectError> {
        let bad = |key: &'static str, value: &str, reason: String| ConnectError::Setting {
            key,
            value: value.to_string(),
            reason,
        };
        check_label_value("field_manager", &self.field_manager)
            .map_err(|e| bad("field_manager", &self.field_manager, e.to_string()))?;
        check_namespace("fence_namespace", &self.fence_namespace)
            .map_err(|e| bad("fence_namespace", &self.fence_namespace, e.to_string()))?;
        check_path_segment("fence_name", &self.fence_name)
            .map_err(|e| bad("fence_name", &self.fence_name, e.to_string()))?;
        if let Some(ns) = &self.namespace {
            check_namespace("namespace", ns).map_err(|e| bad("namespace", ns, e.to_string()))?;
        }
        // The prefix is checked with a one-letter environment name appended.
        check_namespace("namespace_prefix", &format!("{}a", self.namespace_prefix))
            .map_err(|e| bad("namespace_prefix", &self.namespace_prefix, e.to_string()))?;
        if self.fence_rounds == 0 {
            return Err(bad("fence_rounds", "0", "must be at least 1".into()));
        }
        let retry = &self.retry;
        if retry.max_attempts == 0 {
            return Err(bad("retry.max_attempts", "0", "must be at least 1".into()));
        }
        if retry.request_timeout.is_zero() {
            return Err(bad(
                "retry.request_timeout",
                "0s",
                "must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The namespace an environment's namespaced objects go to when the manifest sets none.
    pub fn environment_namespace(&self, environment: &str) -> String {
        match &self.namespace {
            Some(ns) => ns.clone(),
            None => format!("{}{environment}", self.namespace_prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(Settings::default().validate().is_ok());
        let bad = Settings {
            fence_namespace: "Moor System".into(),
            ..Settings::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("kube-driver setting fence_namespace = \"Moor System\""),
            "{err}"
        );
    }

    #[test]
    fn environment_namespace_is_prefixed_unless_one_is_set() {
        let settings = Settings::default();
        assert_eq!(settings.environment_namespace("prod"), "moor-prod");
        let shared = Settings {
            namespace: Some("apps".into()),
            ..Settings::default()
        };
        assert_eq!(shared.environment_namespace("prod"), "apps");
    }
}
