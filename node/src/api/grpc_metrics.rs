//! Counts every gRPC call on the client listener by method and status code, with its
//! latency. The code of a unary call that succeeds (and of most that fail) travels in the
//! HTTP/2 trailers, after the body: the response body is wrapped so the call is counted when
//! its trailers pass by, or when the body ends or is dropped without them (`unknown`). A
//! "trailers-only" answer (an error before any message) has the code in its headers.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::http;

use crate::metrics::{Method, MethodCode, Metrics};

/// The method label of a gRPC path: `Service/Method` for the RPCs the permission table
/// names, `unknown` otherwise (so made-up paths add no label values).
pub fn method_label(path: &str) -> String {
    if crate::api::auth::methods::operation_of(path).is_none() {
        return "unknown".to_string();
    }
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return "unknown".to_string();
    };
    let service = service.rsplit('.').next().unwrap_or(service);
    format!("{service}/{method}")
}

/// Counts a call when it completes.
struct Pending {
    metrics: Arc<Metrics>,
    method: String,
    started: Instant,
    done: bool,
}

impl Pending {
    fn finish(&mut self, code: &str) {
        if self.done {
            return;
        }
        self.done = true;
        self.metrics
            .grpc_requests
            .get_or_create(&MethodCode {
                method: self.method.clone(),
                code: code.to_string(),
            })
            .inc();
        self.metrics
            .grpc_seconds
            .get_or_create(&Method {
                method: self.method.clone(),
            })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish("unknown");
    }
}

/// The status code's name (`OK`, `NOT_FOUND`, …) from a `grpc-status` value.
fn code_name(value: Option<&http::HeaderValue>) -> Option<String> {
    let n: i32 = value?.to_str().ok()?.parse().ok()?;
    Some(format!("{:?}", tonic::Code::from_i32(n)))
}

/// Wraps `response` so its call is counted once it completes.
pub fn observe(
    metrics: Arc<Metrics>,
    path: &str,
    started: Instant,
    response: http::Response<Body>,
) -> http::Response<Body> {
    let mut pending = Pending {
        metrics,
        method: method_label(path),
        started,
        done: false,
    };
    if let Some(code) = code_name(response.headers().get("grpc-status")) {
        pending.finish(&code);
        return response;
    }
    response.map(|body| {
        Body::new(Counted {
            inner: body,
            pending,
        })
    })
}

/// A response body that counts its call when the trailers arrive.
struct Counted {
    inner: Body,
    pending: Pending,
}

impl HttpBody for Counted {
    type Data = <Body as HttpBody>::Data;
    type Error = <Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code =
                        code_name(trailers.get("grpc-status")).unwrap_or_else(|| "unknown".into());
                    this.pending.finish(&code);
                }
            }
            Poll::Ready(None) => this.pending.finish("unknown"),
            Poll::Ready(Some(Err(_))) => this.pending.finish("unknown"),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_named_from_the_table_only() {
        assert_eq!(
            method_label("/moor.rollout.v1.RolloutApi/StartRollout"),
            "RolloutApi/StartRollout"
        );
        assert_eq!(method_label("/moor.rollout.v1.RolloutApi/Nope"), "unknown");
        assert_eq!(method_label("/evil/../x"), "unknown");
    }
}
