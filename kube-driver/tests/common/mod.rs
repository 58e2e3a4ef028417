//! What the tests of this crate share: the scripted API server of [`moor_kube::testing`]
//! (re-exported), settings with short timeouts, and the answers about the `web` Deployment
//! and the fence object.
//!
//! Tests run on tokio's paused clock: a `Hang` answer never comes, and the driver's own
//! per-request timeout and backoff elapse instantly, without sleeping.

#![allow(dead_code)]

use std::time::Duration;

pub use moor_kube::testing::*;
use moor_kube::{KubeSite, RetryPolicy, Settings, TypeRef};
use serde_json::{json, Value};

/// Settings for tests: only Deployments observed, short request timeouts.
pub fn settings() -> Settings {
    Settings {
        observe_kinds: vec![TypeRef::new("apps/v1", "Deployment")],
        retry: RetryPolicy {
            request_timeout: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            max_attempts: 8,
        },
        ..Settings::default()
    }
}

/// A site over a mock answering `script` in order.
pub fn mock_site(script: Vec<Answer>) -> (KubeSite, Mock) {
    let mock = Mock::new(script);
    (
        KubeSite::from_client(mock.client(), settings()).unwrap(),
        mock,
    )
}

// ---------------------------------------------------------------------------------------
// Answers about this crate's own objects.

pub const FENCE_PATH: &str = "/api/v1/namespaces/moor-system/configmaps/moor-fence";

/// The fence ConfigMap holding `token` at `resource_version`.
pub fn fence(token: u64, resource_version: &str) -> Answer {
    Answer::Json(
        200,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "moor-fence", "namespace": "moor-system",
                            "resourceVersion": resource_version},
               "data": {"highest-token": token.to_string()}}),
    )
}

pub fn apps_v1() -> Answer {
    Answer::Json(
        200,
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
               "resources": [
                 {"name": "deployments", "singularName": "deployment", "namespaced": true,
                  "kind": "Deployment", "verbs": ["get", "list", "patch", "delete"]},
                 {"name": "deployments/status", "singularName": "", "namespaced": true,
                  "kind": "Deployment", "verbs": ["get", "patch"]},
                 {"name": "statefulsets", "singularName": "statefulset", "namespaced": true,
                  "kind": "StatefulSet", "verbs": ["get", "list", "patch", "delete"]}]}),
    )
}

pub const WEB_PATH: &str = "/apis/apps/v1/namespaces/moor-prod/deployments/web";

/// The blueprint's manifest of resource `web`.
pub fn web_manifest(replicas: u32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "labels": {"app": "web"}},
           "spec": {"replicas": replicas,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}})
}

/// `web` as the cluster holds it after Moor applied `replicas` under `key` with `digest`,
/// with the server's own fields; `live_replicas` is what the spec says now.
pub fn web_live(replicas: u32, live_replicas: u32, key: &str, digest: &str) -> Value {
    let mut applied = web_manifest(replicas);
    applied["metadata"]["namespace"] = json!("moor-prod");
    let mut live = applied.clone();
    live["metadata"] = json!({
        "name": "web", "namespace": "moor-prod", "uid": "uid-1", "resourceVersion": "42",
        "generation": 3,
        "labels": {"app": "web", "app.kubernetes.io/managed-by": "moor",
                   "moor.dev/environment": "prod", "moor.dev/resource": "web"},
        "annotations": {"moor.dev/idempotency-key": key, "moor.dev/desired-digest": digest,
                        "moor.dev/fence-token": "3",
                        "moor.dev/applied": applied.to_string()},
        "managedFields": [{"manager": "moor", "operation": "Apply", "time": "t0"}]});
    live["spec"]["replicas"] = json!(live_replicas);
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    live["status"] = json!({"replicas": live_replicas});
    live
}
