//! A scripted Kubernetes API server to put under `kube::Client`, for tests of this crate and
//! of its callers (feature `testing`; never in a shipped binary): each request is recorded
//! (method, path, decoded query, content type, body) and answered with the next scripted
//! answer, in order. A request beyond the script is answered 418, which the driver treats as
//! a refusal, so an unexpected request shows up both in the outcome and in
//! [`Mock::requests`].
//!
//! Tests may run on tokio's paused clock: a [`Answer::Hang`] never comes, and the driver's
//! own per-request timeout and backoff elapse instantly, without sleeping.

// Test support: a broken script or a body that is not what a test expects should stop the
// test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use kube::client::Body;
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
    /// A server answering `script` in order.
    pub fn new(script: Vec<Answer>) -> Mock {
        let mock = Mock::default();
        mock.state.lock().unwrap().script = script.into();
        mock
    }

    /// A client whose every request goes to this server.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// Appends answers to the script.
    pub fn script(&self, answers: Vec<Answer>) {
        self.state.lock().unwrap().script.extend(answers);
    }

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

// ---------------------------------------------------------------------------------------
// Answers the API server would give.

/// A `Status` object, as the API server sends with every refusal.
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

/// A server-side apply conflict with the field managers `managers` (manager, field).
pub fn apply_conflict(managers: &[(&str, &str)]) -> Answer {
    let causes: Vec<Value> = managers
        .iter()
        .map(|(manager, field)| {
            json!({"reason": "FieldManagerConflict",
                   "message": format!("conflict with \"{manager}\""),
                   "field": field})
        })
        .collect();
    Answer::Json(
        409,
        status(
            409,
            "Conflict",
            &format!("Apply failed with {} conflicts", managers.len()),
            Some(json!({ "causes": causes })),
        ),
    )
}

pub fn server_error(code: u16) -> Answer {
    Answer::Json(
        code,
        status(code, "ServiceUnavailable", "etcd leader changed", None),
    )
}

/// The discovery document of the core group (`/api/v1`) with ConfigMaps and Secrets.
pub fn core_v1() -> Answer {
    Answer::Json(
        200,
        json!({"kind": "APIResourceList", "groupVersion": "v1",
               "resources": [
                 {"name": "configmaps", "singularName": "configmap", "namespaced": true,
                  "kind": "ConfigMap", "verbs": ["get", "list", "patch", "delete"]},
                 {"name": "secrets", "singularName": "secret", "namespaced": true,
                  "kind": "Secret", "verbs": ["get", "list", "patch", "delete"]}]}),
    )
}

/// A list answer holding `items`.
pub fn list_of(items: Vec<Value>) -> Answer {
    Answer::Json(
        200,
        json!({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items}),
    )
}
