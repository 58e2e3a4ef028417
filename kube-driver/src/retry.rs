//! Sending one request to the API server until it is answered or the deadline comes.
//!
//! Every request this crate makes is safe to send again: server-side apply, GET, list and
//! dry-run are idempotent; a create that did land answers 409 AlreadyExists the second time
//! and its caller re-reads; a compare-and-swap that did land answers 409 the second time and
//! its caller re-reads; a delete that did land answers 404. So a timeout, a transport error,
//! 429 or 5xx is retried with exponential backoff (no jitter: one driver talks to one site,
//! there is no herd to spread), and what is still unanswered at the deadline is
//! [`Unanswered`]: the outcome is unknown, which callers report as a retryable failure and
//! never as fenced or duplicate.

use std::fmt;
use std::time::Duration;

use http::{Method, StatusCode};
use kube::client::Body;
use tokio::time::Instant;

use crate::config::RetryPolicy;
use crate::errors::describe;

/// A request, kept so it can be sent again.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub method: Method,
    /// Path and query, e.g. `/api/v1/namespaces/a/configmaps/b?fieldManager=moor`.
    pub target: String,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Outgoing {
    pub fn get(target: String) -> Outgoing {
        Outgoing {
            method: Method::GET,
            target,
            content_type: None,
            body: Vec::new(),
        }
    }

    pub fn json(method: Method, target: String, body: &serde_json::Value) -> Outgoing {
        Outgoing {
            method,
            target,
            content_type: Some("application/json"),
            body: body.to_string().into_bytes(),
        }
    }

    fn build(&self) -> Result<http::Request<Body>, http::Error> {
        let mut request = http::Request::builder()
            .method(self.method.clone())
            .uri(&self.target)
            .header(http::header::ACCEPT, "application/json");
        if let Some(content_type) = self.content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        request.body(Body::from(self.body.clone()))
    }
}

/// An answer from the API server (any status).
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// No answer that settles the request within the deadline: its outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unanswered {
    pub method: Method,
    pub target: String,
    pub attempts: u32,
    pub last: String,
}

impl fmt::Display for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outcome unknown: {} {} not answered after {} attempt(s) (last: {}); the call may \
             be retried",
            self.method, self.target, self.attempts, self.last
        )
    }
}

/// The client and its retry policy.
#[derive(Clone)]
pub(crate) struct Transport {
    client: kube::Client,
    policy: RetryPolicy,
}

impl Transport {
    pub fn new(client: kube::Client, policy: RetryPolicy) -> Transport {
        Transport { client, policy }
    }

    /// Sends `out` until it gets an answer that is not worth retrying, or gives up at
    /// `deadline` or after the policy's attempts.
    pub async fn send(&self, out: &Outgoing, deadline: Instant) -> Result<Reply, Unanswered> {
        let mut backoff = self.policy.initial_backoff;
        let mut attempts = 0;
        loop {
            let now = Instant::now();
            let last = if now >= deadline {
                "the call's deadline had passed".to_string()
            } else {
                attempts += 1;
                let budget = (deadline - now).min(self.policy.request_timeout);
                match tokio::time::timeout(budget, self.once(out)).await {
                    Ok(Ok(reply)) if !worth_retrying(reply.status) => return Ok(reply),
                    Ok(Ok(reply)) => describe(&reply),
                    Ok(Err(error)) => error,
                    Err(_) => format!("no answer within {}", millis(budget)),
                }
            };
            tracing::debug!(method = %out.method, target = %out.target, attempts, %last, "kube request not settled");
            let give_up =
                attempts >= self.policy.max_attempts || Instant::now() + backoff >= deadline;
            if give_up {
                return Err(Unanswered {
                    method: out.method.clone(),
                    target: out.target.clone(),
                    attempts,
                    last,
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.policy.max_backoff);
        }
    }

    async fn once(&self, out: &Outgoing) -> Result<Reply, String> {
        let request = out
            .build()
            .map_err(|e| format!("building the request: {e}"))?;
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect_bytes()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        Ok(Reply {
            status,
            body: body.to_vec(),
        })
    }
}

fn worth_retrying(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_throttling_timeouts_and_server_errors_are_retried() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                worth_retrying(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [200, 201, 400, 401, 403, 404, 409, 410, 422] {
            assert!(
                !worth_retrying(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }
}
