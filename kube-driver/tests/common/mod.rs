//! A scripted Kubernetes API server under `kube::Client`: each request is recorded (method,
//! path, decoded query, content type, body) and answered with the next scripted answer, in
//! order. A request beyond the script is answered 418, which the driver treats as a
//! refusal, so an unexpected request shows up both in the outcome and in `requests()`.
//!
//! Tests run on tokio's paused clock: a `Hang` answer never comes, and the driver's own
//! per-request timeout and backoff elapse instantly, without sleeping.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use kube::client::Body;
use moor_kube::{KubeSite, RetryPolicy, Settings, TypeRef};
use serde_json::{json, Value};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Json(u16, Value),
    /// Never answered (the driver times out).
    Hang,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

impl Seen {
    /// `METHOD /path` for compact assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Answer>,
    seen: Vec<Seen>,
}

/// The mock server's handle: what is left of the script, what was asked.
#[derive(Clone, Default)]
pub struct Mock {
    state: Arc<Mutex<State>>,
}

impl Mock {
    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Seen::line).collect()
    }

    pub fn unanswered(&self) -> usize {
        self.state.lock().unwrap().script.len()
    }
}

impl tower_service::Service<http::Request<Body>> for Mock {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parse_query(parts.uri.query().unwrap_or_default()),
                content_type: parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap().to_string()),
                body: serde_json::from_slice(&bytes).ok(),
            };
            let answer = {
                let mut state = state.lock().unwrap();
                state.seen.push(seen);
                state.script.pop_front()
            };
            match answer {
                Some(Answer::Json(code, value)) => Ok(respond(code, &value)),
                Some(Answer::Hang) => std::future::pending().await,
                None => Ok(respond(
                    418,
                    &status(418, "Teapot", "unscripted request", None),
                )),
            }
        })
    }
}

fn respond(code: u16, value: &Value) -> http::Response<Body> {
    http::Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(value.to_string().into_bytes()))
        .unwrap()
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

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
    let mock = Mock::default();
    mock.state.lock().unwrap().script = script.into();
    let client = kube::Client::new(mock.clone(), "default");
    (KubeSite::from_client(client, settings()).unwrap(), mock)
}

// ---------------------------------------------------------------------------------------
// Answers the API server would give.

pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "code": code, "reason": reason,
                            "message": message});
    if let Some(details) = details {
        status["details"] = details;
    }
    status
}

pub fn not_found(kind: &str, name: &str) -> Answer {
    Answer::Json(
        404,
        status(
            404,
            "NotFound",
            &format!("{kind} \"{name}\" not found"),
            Some(json!({"name": name, "kind": kind})),
        ),
    )
}

pub fn conflict(message: &str) -> Answer {
    Answer::Json(409, status(409, "Conflict", message, None))
}

pub fn server_error(code: u16) -> Answer {
    Answer::Json(
        code,
        status(code, "ServiceUnavailable", "etcd leader changed", None),
    )
}

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
