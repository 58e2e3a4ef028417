//! Trace export to an OpenTelemetry collector, and the W3C trace context that carries a
//! trace from a client through a forwarding member to the leader.
//!
//! Off unless `telemetry.otlp_endpoint` is set (then [`start`] installs it): the spans of
//! this crate at INFO are exported over OTLP/gRPC in batches, from the SDK's own thread, so a
//! collector that is slow or down loses spans and never holds up a request. Three shapes:
//! - a client call: its `request` span continues the caller's `traceparent` when it sends
//!   one (any W3C client), and starts a trace otherwise;
//! - a write forwarded to the leader: the leader's `forwarded` span is a child of the
//!   forwarding member's `request` span (`traceparent` on a `Forward` call, one entry per
//!   write in `moor-traceparents` on a batched `ForwardWrites` call);
//! - an execution: every step's `step` span, on whichever member leads when it runs, is a
//!   child of one parent derived from the execution id ([`execution_parent`]), so one
//!   execution is one trace across failovers, and each span names its rollout; the step's
//!   call to its site carries the step span's `traceparent` ([`propagate`]), so an agent
//!   that follows W3C trace context continues the trace.
//!
//! When export is off, every helper here returns at once: no span is created for tracing's
//! sake, nothing is added to a peer call.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use moor_proto::trace::execution_trace;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use tonic::codegen::http;

use crate::config::Config;

/// The header of a `ForwardWrites` call that carries its writes' trace contexts:
/// `INDEX=TRACEPARENT` entries separated by `;`, for the traced writes only.
pub const BATCH_HEADER: &str = "moor-traceparents";
/// The W3C header of a single call.
pub const TRACEPARENT: &str = "traceparent";
/// Most trace contexts one `ForwardWrites` call carries (about 60 bytes each, well inside
/// HTTP/2's header limits); writes past it are still forwarded, without their parent.
pub const MAX_BATCH_PARENTS: usize = 64;
/// How long shutting down waits for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// The sample ratio while export is on; unset while it is off.
static EXPORT: OnceLock<f64> = OnceLock::new();

/// Whether spans are exported (telemetry.otlp_endpoint is set and [`start`] ran).
pub fn enabled() -> bool {
    EXPORT.get().is_some()
}

/// The running exporter; dropping it flushes what is buffered (bounded by a timeout).
pub struct Export {
    provider: SdkTracerProvider,
}

impl Drop for Export {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
            tracing::warn!(error = %e, "traces still buffered at shutdown were not all exported");
        }
    }
}

/// The exporter for `config.telemetry`, or None when no endpoint is set. Must run inside
/// the Tokio runtime (the gRPC channel's connection task lives there). The collector is
/// dialled lazily: one that is down at start is retried at every batch.
pub fn start(config: &Config) -> anyhow::Result<Option<(SdkTracerProvider, Export)>> {
    let t = &config.telemetry;
    let Some(endpoint) = &t.otlp_endpoint else {
        return Ok(None);
    };
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .with_timeout(Duration::from_secs(10));
    if endpoint.starts_with("https://") {
        let ca = config
            .otlp_ca()
            .context("telemetry.otlp_ca: an https:// collector needs a CA bundle")?;
        let pem = std::fs::read(ca)
            .with_context(|| format!("telemetry.otlp_ca: cannot read {}", ca.display()))?;
        exporter = exporter.with_tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
        );
    }
    let exporter = exporter.build().with_context(|| {
        format!("telemetry.otlp_endpoint {endpoint:?}: cannot set up OTLP export")
    })?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(t.service_name.clone())
        .with_attributes([
            KeyValue::new("service.instance.id", format!("member-{}", config.id)),
            KeyValue::new("moor.member", config.id as i64),
        ])
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            t.sample_ratio,
        ))))
        .with_resource(resource)
        .build();
    let _ = EXPORT.set(t.sample_ratio);
    Ok(Some((provider.clone(), Export { provider })))
}

/// The `tracing` layer that turns spans into exported ones, for [`start`]'s provider.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    // Only Moor's own spans and the events inside them: the log filter (`log.filter`)
    // decides what is logged, not what is traced.
    let targets = tracing_subscriber::filter::Targets::new()
        .with_target("moor_node", tracing::Level::INFO)
        .with_target("moord", tracing::Level::INFO);
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("moord"))
        .with_filter(targets)
}

/// Reads a W3C trace context from HTTP headers.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The span of one client call (`method` as the metrics name it), continuing the caller's
/// trace when its headers carry one; a disabled span when export is off.
pub fn request_span(headers: &http::HeaderMap, method: &str) -> tracing::Span {
    if !enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "request",
        otel.name = %method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = %method,
    );
    if headers.contains_key(TRACEPARENT) {
        let parent = TraceContextPropagator::new().extract(&Headers(headers));
        let _ = span.set_parent(parent);
    }
    span
}

/// The current span's context as a `traceparent` value, when export is on and the span is
/// sampled (an unsampled trace is not worth a header).
pub fn current_traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let cx = tracing::Span::current().context();
    if !cx.span().span_context().is_sampled() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Puts the current span's `traceparent` on an outgoing call (a site call, so an agent that
/// follows W3C trace context continues the step's trace); nothing when not traced.
pub fn propagate<T>(request: &mut tonic::Request<T>) {
    if let Some(value) = current_traceparent().and_then(|t| t.parse().ok()) {
        request.metadata_mut().insert(TRACEPARENT, value);
    }
}

/// The span under which the leader runs one forwarded request whose forwarding member sent
/// `traceparent`; a disabled span without one (or with export off).
pub fn forwarded_span(traceparent: Option<&str>) -> tracing::Span {
    let Some(traceparent) = traceparent.filter(|_| enabled()) else {
        return tracing::Span::none();
    };
    let carrier = HashMap::from([(TRACEPARENT.to_string(), traceparent.to_string())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if !parent.span().span_context().is_valid() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!("forwarded", otel.kind = "server");
    let _ = span.set_parent(parent);
    span
}

/// The `moor-traceparents` value for a batch whose writes carry `parents` (in order), or
/// None when none is traced. At most [`MAX_BATCH_PARENTS`] entries.
pub fn batch_header<'a>(parents: impl IntoIterator<Item = Option<&'a str>>) -> Option<String> {
    let entries: Vec<String> = parents
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| format!("{i}={p}")))
        .take(MAX_BATCH_PARENTS)
        .collect();
    (!entries.is_empty()).then(|| entries.join(";"))
}

/// The trace contexts of a `ForwardWrites` call's writes by index, from its header (entries
/// that do not parse are ignored: tracing never fails a write).
pub fn batch_parents(header: Option<&str>) -> HashMap<usize, String> {
    let Some(header) = header else {
        return HashMap::new();
    };
    header
        .split(';')
        .take(MAX_BATCH_PARENTS)
        .filter_map(|entry| {
            let (i, tp) = entry.split_once('=')?;
            Some((i.trim().parse().ok()?, tp.trim().to_string()))
        })
        .collect()
}

/// The parent of every step span of execution `execution_id`: the same on every member, so
/// the steps a new leader runs after a failover join the trace the old leader's steps
/// started (ids: [`moor_proto::trace::execution_trace`]). Whether the trace is sampled is
/// decided from its id by the configured ratio (members must share one ratio).
pub fn execution_parent(execution_id: &str) -> opentelemetry::Context {
    let (trace, span) = execution_trace(execution_id);
    let ratio = EXPORT.get().copied().unwrap_or(0.0);
    let flags = if sampled_by_ratio(&trace, ratio) {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let context = SpanContext::new(
        TraceId::from_bytes(trace),
        SpanId::from_bytes(span),
        flags,
        true,
        TraceState::default(),
    );
    opentelemetry::Context::new().with_remote_span_context(context)
}

/// The same decision for the same trace id everywhere: the id's low 63 bits against the
/// ratio's share of them.
fn sampled_by_ratio(trace: &[u8; 16], ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace[8..]);
    let low = u64::from_be_bytes(low) >> 1;
    (low as f64) < ratio * (1u64 << 63) as f64
}

/// Adds the execution parent to a step span, when export is on.
pub fn join_execution_trace(span: &tracing::Span, execution_id: &str) {
    if enabled() {
        let _ = span.set_parent(execution_parent(execution_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execution_parent_is_the_derived_one() {
        let sc = execution_parent("e-1").span().span_context().clone();
        assert!(sc.is_valid() && sc.is_remote());
        assert_eq!(
            format!("{}", sc.trace_id()),
            moor_proto::trace::execution_trace_id("e-1")
        );
    }

    #[test]
    fn the_ratio_decides_by_trace_id() {
        let ids: Vec<[u8; 16]> = (0..2000)
            .map(|i| execution_trace(&format!("e-{i}")).0)
            .collect();
        assert!(ids.iter().all(|t| sampled_by_ratio(t, 1.0)));
        assert!(!ids.iter().any(|t| sampled_by_ratio(t, 0.0)));
        let quarter = ids.iter().filter(|t| sampled_by_ratio(t, 0.25)).count();
        assert!((400..600).contains(&quarter), "{quarter} of 2000 at 0.25");
        // Deterministic: a member that decides again decides the same.
        assert!(ids
            .iter()
            .all(|t| sampled_by_ratio(t, 0.25) == sampled_by_ratio(t, 0.25)));
    }

    #[test]
    fn batch_headers_round_trip_and_stay_bounded() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let header = batch_header([None, Some(tp), None, Some(tp)]).unwrap();
        assert_eq!(header, format!("1={tp};3={tp}"));
        let parents = batch_parents(Some(&header));
        assert_eq!(parents.len(), 2);
        assert_eq!(parents[&1], tp);
        assert_eq!(parents[&3], tp);
        assert!(batch_header([None, None]).is_none());
        let many = batch_header((0..500).map(|_| Some(tp))).unwrap();
        assert_eq!(batch_parents(Some(&many)).len(), MAX_BATCH_PARENTS);
        // Garbage is ignored, never an error.
        assert!(batch_parents(Some("x=1;;=;7")).is_empty());
    }

    #[test]
    fn with_export_off_nothing_is_made() {
        assert!(!enabled());
        assert!(request_span(&http::HeaderMap::new(), "MoorApi/Put").is_disabled());
        assert!(forwarded_span(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        ))
        .is_disabled());
        assert!(current_traceparent().is_none());
    }
}
