//! `GET /metrics` on real members during a rollout: the text parses as Prometheus exposition
//! (prometheus-parse, not string matching), leadership and Raft levels are right on every
//! member, and the event counters move: proposer entries, steps by outcome, fsyncs, the
//! gRPC call that started the rollout, rollouts by state.

use std::time::Duration;

use moor_jepsen_like_tests::fleet::{chain_blueprint, Fleet};
use moor_jepsen_like_tests::harness::connect;
use moor_jepsen_like_tests::harness::MemberSettings;
use moor_jepsen_like_tests::webhook::{github_headers, HookClient};
use moor_proto::hooks::hook_api_client::HookApiClient;
use moor_proto::hooks::{PutReceiverRequest, Receiver};
use moor_proto::rollout::StartRolloutRequest;
use prometheus_parse::{Scrape, Value};

const SITES: usize = 20;

async fn scrape(fleet: &Fleet, id: u64) -> Scrape {
    let c = HookClient::new(fleet.cluster.addr(id), fleet.cluster.security()).unwrap();
    let a = c.get("/metrics").await.unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    Scrape::parse(a.body.lines().map(|l| Ok(l.to_string()))).expect("the exposition parses")
}

/// The value of sample `name` whose labels include `labels` (0 when absent).
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(_) | Value::Summary(_) => 0.0,
        })
        .sum()
}

/// Every `moor_…` identifier in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("moor_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_during_a_rollout() {
    let fleet = Fleet::start(3, MemberSettings::default(), &["--latency-ms", "20"])
        .await
        .unwrap();
    let leader = fleet
        .cluster
        .wait_leader(Duration::from_secs(20))
        .await
        .unwrap();
    let before = scrape(&fleet, leader).await;
    fleet.register_sites("m", SITES, 8).await.unwrap();
    fleet
        .apply_blueprint(&chain_blueprint("chain", 3, "v1"))
        .await
        .unwrap();
    fleet
        .put_group("m-sites", "sites", &[("fleet", "m")])
        .await
        .unwrap();
    let rollout = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "m-sites".into(),
            action: "install".into(),
            blueprint: "chain".into(),
            max_parallel: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Mid-rollout: targets are counted by state while it runs.
    let mid = scrape(&fleet, leader).await;
    let open: f64 = ["queued", "running", "succeeded", "failed", "skipped"]
        .iter()
        .map(|s| value(&mid, "moor_rollout_targets", &[("state", s)]))
        .sum();
    assert!(
        open == SITES as f64 || open == 0.0,
        "targets of the running rollout add up to its size (or it already ended): {open}"
    );
    fleet
        .wait_rollout(&rollout.id, Duration::from_secs(120), "succeeded", |r| {
            r.state == "succeeded"
        })
        .await
        .unwrap();
    let after = scrape(&fleet, leader).await;
    if std::env::var_os("MOOR_SHOW_METRICS").is_some() {
        let c = HookClient::new(fleet.cluster.addr(leader), fleet.cluster.security()).unwrap();
        eprintln!("{}", c.get("/metrics").await.unwrap().body);
    }

    assert_eq!(value(&after, "moor_raft_is_leader", &[]), 1.0);
    assert!(value(&after, "moor_raft_term", &[]) >= 1.0);
    assert_eq!(value(&after, "moor_raft_voters", &[]), 3.0);
    for id in fleet
        .cluster
        .running()
        .into_iter()
        .filter(|id| *id != leader)
    {
        let s = scrape(&fleet, id).await;
        assert_eq!(value(&s, "moor_raft_is_leader", &[]), 0.0, "member {id}");
        assert_eq!(
            value(&s, "moor_raft_leader", &[]),
            leader as f64,
            "member {id}"
        );
    }
    // Counters moved.
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert!(moved("moor_proposer_entries_total", &[]) > 0.0);
    assert!(
        moved("moor_proposer_commands_total", &[]) >= moved("moor_proposer_entries_total", &[]),
        "every entry carries at least one command"
    );
    let steps = moved("moor_step_duration_seconds_count", &[("outcome", "done")]);
    assert!(steps >= (SITES * 3) as f64, "{steps} steps done");
    assert!(moved("moor_raft_fsync_duration_seconds_count", &[]) > 0.0);
    assert!(moved("moor_raft_fsyncs_total", &[]) > 0.0);
    assert!(moved("moor_executor_dispatch_batch_size_count", &[]) > 0.0);
    assert_eq!(
        value(&after, "moor_rollouts", &[("state", "succeeded")]),
        1.0
    );
    assert_eq!(
        value(&after, "moor_environments", &[("status", "in_sync")]),
        SITES as f64
    );
    assert!(value(&after, "moor_metrics_scrapes_total", &[]) >= 3.0);
    // A webhook delivery (a ping), so the webhook families have a series.
    let secret = "metrics test secret, long enough";
    HookApiClient::new(
        connect(fleet.cluster.addr(leader), fleet.cluster.security()).connect_lazy(),
    )
    .put_receiver(PutReceiverRequest {
        receiver: Some(Receiver {
            name: "ci".into(),
            r#type: "github".into(),
            secret: secret.into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    let c = HookClient::new(fleet.cluster.addr(leader), fleet.cluster.security()).unwrap();
    let ping = b"{\"zen\":\"hi\"}";
    let a = c
        .post(
            "/hooks/ci",
            &github_headers("ping", "p-1", secret, ping),
            ping,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    let s = scrape(&fleet, leader).await;
    assert_eq!(
        value(
            &s,
            "moor_webhook_deliveries_total",
            &[("receiver", "ci"), ("verdict", "ping")]
        ),
        1.0
    );
    // Every metric the Grafana dashboard queries is one a member serves (families without
    // a sample yet, such as webhook refusals, are declared by their HELP line).
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/moor.json"
    ))
    .unwrap();
    let text = c.get("/metrics").await.unwrap().body;
    let mut missing = Vec::new();
    for name in metric_names(&dashboard) {
        let base = ["_bucket", "_count", "_sum", "_total"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        if !text.contains(&format!("# TYPE {base} ")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no member serves: {missing:?}"
    );
    // The member that took StartRollout counted it with its code.
    let first = fleet.cluster.running()[0];
    let s = scrape(&fleet, first).await;
    assert!(
        value(
            &s,
            "moor_grpc_requests_total",
            &[("method", "RolloutApi/StartRollout"), ("code", "Ok")]
        ) >= 1.0,
        "StartRollout counted on member {first}"
    );
}
