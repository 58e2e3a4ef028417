//! Trace export (`[telemetry] otlp_endpoint`) on real members, into a fake OpenTelemetry
//! collector: the OTLP trace service's generated server, recording every span it receives
//! with the member that sent it (`service.instance.id`).
//!
//! - A write sent to a follower with a W3C `traceparent` is one trace: the follower's
//!   `request` span is the caller's child, the leader's `forwarded` span the follower's.
//! - A rollout whose leader stops mid-way: every step span of an execution, from the old
//!   leader and the new one, is in the trace whose id the documented rule derives from the
//!   execution id (the first 16 bytes of SHA-256 of `moor/execution/<id>`), names the
//!   rollout, and at least one execution's trace holds spans of both leaders.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moor_jepsen_like_tests::fleet::{chain_blueprint, Fleet};
use moor_jepsen_like_tests::harness::{free_port, member_client, put_request, MemberSettings};
use moor_proto::rollout::{Rollout, StartRolloutRequest};
use moor_proto::site::SiteSimStatsRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use sha2::{Digest, Sha256};

const LONG: Duration = Duration::from_secs(120);
/// Spans leave a member in batches every few seconds (the SDK's default schedule).
const EXPORTED: Duration = Duration::from_secs(30);

/// One span as the collector received it.
#[derive(Clone, Debug)]
struct Got {
    /// `service.instance.id` of the resource that sent it: `member-<id>`.
    member: String,
    span: Span,
}

impl Got {
    fn trace(&self) -> String {
        hex(&self.span.trace_id)
    }
    fn id(&self) -> String {
        hex(&self.span.span_id)
    }
    fn parent(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    fn attr(&self, key: &str) -> Option<String> {
        attr(&self.span.attributes, key)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    let v = attrs.iter().find(|a| a.key == key)?.value.as_ref()?;
    match v.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Got>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            let member = rs
                .resource
                .as_ref()
                .and_then(|r| attr(&r.attributes, "service.instance.id"))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    spans.push(Got {
                        member: member.clone(),
                        span,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serves on a free loopback port; returns the endpoint members export to.
    fn start() -> (Collector, String) {
        let port = free_port();
        let c = Collector::default();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(c.clone()))
            .serve(format!("127.0.0.1:{port}").parse().unwrap());
        tokio::spawn(server);
        (c, format!("http://127.0.0.1:{port}"))
    }

    fn all(&self) -> Vec<Got> {
        self.spans.lock().unwrap().clone()
    }

    /// Polls what has arrived until `found` picks something, for at most [`EXPORTED`].
    async fn wait_for<T>(&self, what: &str, found: impl Fn(&[Got]) -> Option<T>) -> T {
        let deadline = Instant::now() + EXPORTED;
        loop {
            let all = self.all();
            if let Some(t) = found(&all) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {EXPORTED:?}; the collector got {} spans: {:?}",
                all.len(),
                all.iter()
                    .map(|g| format!("{} {} {}", g.member, g.span.name, g.trace()))
                    .collect::<BTreeSet<_>>()
            );
            // The collector is filled by the members' export batches; this only re-reads it.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The trace id every member gives execution `id`'s steps (ARCHITECTURE.md, "Traces").
fn execution_trace(id: &str) -> String {
    let d = Sha256::new()
        .chain_update(b"moor/execution/")
        .chain_update(id.as_bytes())
        .finalize();
    hex(&d[..16])
}

fn ended(r: &Rollout) -> bool {
    matches!(r.state.as_str(), "succeeded" | "failed" | "cancelled")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_and_executions_are_traced_across_members() {
    let (collector, endpoint) = Collector::start();
    let settings = MemberSettings {
        telemetry: vec![format!("otlp_endpoint = \"{endpoint}\"")],
        ..MemberSettings::default()
    };
    let mut fleet = Fleet::start(3, settings, &["--latency-ms", "15"])
        .await
        .unwrap();
    let leader = fleet
        .cluster
        .wait_leader(Duration::from_secs(20))
        .await
        .unwrap();
    let follower = (1..=3).find(|&id| id != leader).unwrap();

    // A write through a follower, in a trace the client started.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let mut req = put_request("traced/1", "v");
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{client_trace}-{client_span}-01")
            .parse()
            .unwrap(),
    );
    member_client(fleet.cluster.addr(follower), fleet.cluster.security())
        .put(req)
        .await
        .unwrap();
    let (request, forwarded) = collector
        .wait_for("trace of the forwarded write", |all| {
            let request = all.iter().find(|g| {
                g.trace() == client_trace
                    && g.span.name == "MoorApi/Put"
                    && g.parent() == client_span
            })?;
            let forwarded = all
                .iter()
                .find(|g| g.trace() == client_trace && g.span.name == "forwarded")?;
            Some((request.clone(), forwarded.clone()))
        })
        .await;
    assert_eq!(request.member, format!("member-{follower}"));
    assert_eq!(request.attr("rpc.method").as_deref(), Some("MoorApi/Put"));
    assert_eq!(forwarded.member, format!("member-{leader}"));
    assert_eq!(
        forwarded.parent(),
        request.id(),
        "the leader's span is the follower's child"
    );

    // Concurrent writes through the follower travel to the leader together (`ForwardWrites`,
    // while earlier calls are in flight): each still lands in its own client's trace.
    let traces: Vec<String> = (0..32).map(|i| format!("{:032x}", 0xabc000 + i)).collect();
    let writes = traces.iter().enumerate().map(|(i, t)| {
        let mut c = member_client(fleet.cluster.addr(follower), fleet.cluster.security());
        let mut req = put_request(&format!("traced/many/{i}"), "v");
        req.metadata_mut().insert(
            "traceparent",
            format!("00-{t}-{client_span}-01").parse().unwrap(),
        );
        async move { c.put(req).await }
    });
    for w in futures::future::join_all(writes).await {
        w.unwrap();
    }
    collector
        .wait_for("a leader span in each concurrent write's trace", |all| {
            traces
                .iter()
                .all(|t| {
                    let request = all
                        .iter()
                        .find(|g| &g.trace() == t && g.span.name == "MoorApi/Put");
                    let forwarded = all
                        .iter()
                        .find(|g| &g.trace() == t && g.span.name == "forwarded");
                    matches!((request, forwarded), (Some(r), Some(f))
                        if f.parent() == r.id() && f.member == format!("member-{leader}"))
                })
                .then_some(())
        })
        .await;

    // A rollout whose leader stops half-way.
    fleet.register_sites("site", 40, 16).await.unwrap();
    fleet
        .apply_blueprint(&chain_blueprint("chain", 3, "v1"))
        .await
        .unwrap();
    fleet.put_group("all", "sites", &[]).await.unwrap();
    let r = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "all".into(),
            action: "install".into(),
            blueprint: "chain".into(),
            max_parallel: 8,
            max_attempts: 5,
            step_timeout_ms: 2000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    fleet
        .wait_rollout(&r.id, LONG, "a quarter done", |r| r.succeeded >= 10)
        .await
        .unwrap();
    // SIGTERM: the member flushes the spans it holds as it exits.
    fleet
        .cluster
        .stop_within(leader, Duration::from_secs(20))
        .unwrap();
    let after = fleet
        .wait_rollout(&r.id, LONG, "ended", ended)
        .await
        .unwrap();
    assert_eq!((after.state.as_str(), after.succeeded), ("succeeded", 40));
    // Every step's call to its site carried the step's trace context (W3C `traceparent`),
    // so an agent that follows it continues the execution's trace.
    let stats = fleet
        .sim
        .as_ref()
        .expect("sitesim running")
        .admin()
        .stats(SiteSimStatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        stats.traced >= 40 * 3 && stats.traced >= stats.applied,
        "site calls with a traceparent: {stats:?}"
    );
    let new_leader = fleet
        .cluster
        .wait_leader(Duration::from_secs(20))
        .await
        .unwrap();
    assert_ne!(new_leader, leader);
    let children = fleet.child_executions(&r.id).await.unwrap();
    assert_eq!(children.len(), 40);
    let wanted: BTreeSet<(String, String)> = children
        .iter()
        .flat_map(|e| (0..e.steps.len()).map(move |s| (e.id.clone(), s.to_string())))
        .collect();

    // Every step has a span; all of an execution's spans are in its derived trace.
    let steps = collector
        .wait_for("a span for every step of the rollout", |all| {
            let steps: Vec<Got> = all
                .iter()
                .filter(|g| g.span.name == "step" && g.attr("rollout").as_deref() == Some(&r.id))
                .cloned()
                .collect();
            let seen: BTreeSet<(String, String)> = steps
                .iter()
                .filter_map(|g| Some((g.attr("execution")?, g.attr("step")?)))
                .collect();
            wanted.is_subset(&seen).then_some(steps)
        })
        .await;
    let mut members_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in &steps {
        let execution = g.attr("execution").unwrap();
        assert_eq!(g.trace(), execution_trace(&execution), "{g:?}");
        assert!(g.attr("fence_token").is_some() && g.attr("site").is_some());
        members_of
            .entry(execution)
            .or_default()
            .insert(g.member.clone());
    }
    let senders: BTreeSet<&String> = members_of.values().flatten().collect();
    assert!(
        senders.contains(&format!("member-{leader}"))
            && senders.contains(&format!("member-{new_leader}")),
        "step spans from both leaders: {senders:?}"
    );
    assert!(
        members_of.values().any(|m| m.len() >= 2),
        "no execution's trace spans the failover: {members_of:?}"
    );
}
