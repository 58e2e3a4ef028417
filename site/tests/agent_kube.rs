//! `moor-agent`'s `kubernetes.manifest` resources, in process: the agent's library served
//! on 127.0.0.1:0 and called with the `SiteAgent` client, its cluster a scripted Kubernetes
//! API server under `kube::Client` (`moor_kube::testing`), which records every request. What
//! a member sees: server-side apply with field manager `moor`, conflicts naming the other
//! managers, `force` only when asked, DUPLICATE and FENCED answered from the agent's store
//! with nothing sent to the cluster (also after a restart on the same data dir), an apply
//! that landed before a crash lost its record, foreground delete, drift, a cluster that
//! cannot be observed, and an agent without a `[kubernetes]` section.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use moor_kube::testing::{apply_conflict, core_v1, list_of, not_found, status, Answer, Mock};
use moor_kube::{KubeSite, Source, APPLY_PATCH, DRIFT_DIGEST_PREFIX};
use moor_proto::site::site_agent_client::SiteAgentClient;
use moor_proto::site::{
    ApplyRequest, ApplyResponse, DeleteRequest, IdempotencyKey, ObserveRequest, ObservedResource,
    Outcome, ResourceRef,
};
use moor_site::agent::{self, cluster_settings, AgentConfig, KubernetesConfig, MANIFEST_TYPE};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

const SITE: &str = "edge-k8s";
const OBJECT: &str = "/api/v1/namespaces/moor-prod/configmaps/settings";

/// A bound on every call, so a bug shows as a failure, not a hung test.
const BOUND: Duration = Duration::from_secs(30);

/// An agent served in this process until [`Running::stop`].
struct Running {
    client: SiteAgentClient<Channel>,
    mock: Mock,
    stop: oneshot::Sender<()>,
    served: JoinHandle<Result<(), agent::AgentError>>,
}

impl Running {
    /// Stops serving and waits until the agent (and the lock on its data dir) is gone.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.served.await.expect("join").expect("served");
    }
}

fn config(dirs: &Path) -> AgentConfig {
    AgentConfig {
        site: SITE.into(),
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dirs.join("data"),
        root_dir: dirs.join("root"),
        journal: None,
        command_timeout_s: 5,
        command_timeout_max_s: 5,
        output_cap_bytes: 4096,
        tls: None,
        tls_reload_interval_ms: 5000,
        insecure_plaintext: true,
        kubernetes: Some(KubernetesConfig {
            source: Source::InCluster,
            call_timeout_s: 20,
        }),
    }
}

fn dirs() -> (tempfile::TempDir, PathBuf) {
    let top = tempfile::tempdir().expect("tempdir");
    let path = top.path().to_path_buf();
    std::fs::create_dir(path.join("root")).expect("root");
    (top, path)
}

/// Serves an agent on `dirs` whose cluster answers `script` (no cluster: `None`).
async fn start(dirs: &Path, script: Option<Vec<Answer>>) -> Running {
    let mock = Mock::new(script.clone().unwrap_or_default());
    let cluster = script.map(|_| {
        KubeSite::from_client(mock.client(), cluster_settings()).expect("cluster settings")
    });
    let mut config = config(dirs);
    if cluster.is_none() {
        config.kubernetes = None;
    }
    let site = agent::open_with_cluster(&config, cluster).expect("open");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(agent::serve(site, listener, None, async move {
        let _ = stopped.await;
    }));
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .timeout(BOUND)
        .connect()
        .await
        .expect("connect");
    Running {
        client: SiteAgentClient::new(channel),
        mock,
        stop,
        served,
    }
}

fn target(resource: &str, resource_type: &str) -> Option<ResourceRef> {
    Some(ResourceRef {
        site: SITE.into(),
        environment: "prod".into(),
        resource: resource.into(),
        resource_type: resource_type.into(),
    })
}

fn key(execution: &str, step: u32) -> Option<IdempotencyKey> {
    Some(IdempotencyKey {
        execution_id: execution.into(),
        step,
    })
}

fn manifest(colour: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "settings", "labels": {"app": "web"}},
           "data": {"colour": colour}})
}

/// An apply of resource `settings` (the manifest `properties`) under (execution, step) with
/// `token`.
fn apply_req(properties: &Value, (execution, step): (&str, u32), token: u64) -> ApplyRequest {
    ApplyRequest {
        target: target("settings", MANIFEST_TYPE),
        key: key(execution, step),
        attempt: 1,
        fence_token: token,
        properties_json: properties.to_string(),
        desired_digest: "sha256:blue".into(),
    }
}

async fn apply(r: &mut Running, req: ApplyRequest) -> ApplyResponse {
    r.client
        .apply(req)
        .await
        .expect("apply answered")
        .into_inner()
}

async fn observe(r: &mut Running) -> Result<Vec<ObservedResource>, tonic::Status> {
    let req = ObserveRequest {
        target: target("", ""),
    };
    r.client
        .observe(req)
        .await
        .map(|a| a.into_inner().resources)
}

fn outcome(r: &ApplyResponse) -> Outcome {
    Outcome::try_from(r.outcome).expect("known outcome")
}

/// The answers to a first apply of `settings`: discovery, no object yet, the apply.
fn first_apply() -> Vec<Answer> {
    vec![
        core_v1(),
        not_found("configmaps", "settings"),
        Answer::Json(200, json!({})),
    ]
}

/// The object as the cluster holds it after the apply `patch` (what the agent sent), with
/// the server's fields, and `data.colour` now `colour`.
fn live(patch: &Value, colour: &str) -> Value {
    let mut live = patch.clone();
    live["metadata"]["uid"] = json!("uid-1");
    live["metadata"]["resourceVersion"] = json!("42");
    live["metadata"]["managedFields"] = json!([{"manager": "moor", "operation": "Apply"}]);
    live["data"]["colour"] = json!(colour);
    live
}

#[tokio::test]
async fn apply_is_a_server_side_apply_and_a_resent_key_or_an_old_token_sends_nothing() {
    let (_top, d) = dirs();
    let mut a = start(&d, Some(first_apply())).await;

    let r = apply(&mut a, apply_req(&manifest("blue"), ("e1", 1), 5)).await;
    assert_eq!(
        (outcome(&r), r.observed_digest.as_str(), r.highest_token),
        (Outcome::Applied, "sha256:blue", 5),
        "{r:?}"
    );
    // No fence object: the agent's store fences.
    assert_eq!(
        a.mock.lines(),
        [
            "GET /api/v1".to_string(),
            format!("GET {OBJECT}"),
            format!("PATCH {OBJECT}"),
        ]
    );
    let patch = &a.mock.requests()[2];
    assert_eq!(patch.content_type.as_deref(), Some(APPLY_PATCH));
    assert_eq!(
        patch.query.get("fieldManager").map(String::as_str),
        Some("moor")
    );
    assert_eq!(patch.query.get("force"), None, "force only when asked");
    let body = patch.body.as_ref().expect("apply body");
    assert_eq!(body["data"]["colour"], "blue");
    assert_eq!(body["metadata"]["namespace"], "moor-prod");
    let annotations = &body["metadata"]["annotations"];
    assert_eq!(annotations["moor.dev/idempotency-key"], "e1/1");
    assert_eq!(annotations["moor.dev/desired-digest"], "sha256:blue");
    assert_eq!(annotations["moor.dev/fence-token"], "5");

    // The same key again (a lost answer, a new leader): the recorded result, nothing sent.
    let mut again = apply_req(&manifest("blue"), ("e1", 1), 6);
    again.attempt = 2;
    let r = apply(&mut a, again).await;
    assert_eq!(
        (outcome(&r), r.observed_digest.as_str(), r.highest_token),
        (Outcome::Duplicate, "sha256:blue", 6),
        "{r:?}"
    );
    // A deposed leader: refused before the cluster hears of it.
    let r = apply(&mut a, apply_req(&manifest("red"), ("e2", 1), 5)).await;
    assert_eq!(
        (outcome(&r), r.highest_token),
        (Outcome::Fenced, 6),
        "{r:?}"
    );
    assert_eq!(a.mock.requests().len(), 3, "{:#?}", a.mock.lines());
    a.stop().await;

    // Restarted on the same data dir, with a cluster that must hear nothing.
    let mut b = start(&d, Some(Vec::new())).await;
    let r = apply(&mut b, apply_req(&manifest("blue"), ("e1", 1), 6)).await;
    assert_eq!(
        (outcome(&r), r.observed_digest.as_str()),
        (Outcome::Duplicate, "sha256:blue"),
        "{r:?}"
    );
    let r = apply(&mut b, apply_req(&manifest("red"), ("e2", 1), 5)).await;
    assert_eq!(
        (outcome(&r), r.highest_token),
        (Outcome::Fenced, 6),
        "{r:?}"
    );
    assert!(b.mock.requests().is_empty(), "{:#?}", b.mock.lines());
    b.stop().await;
}

#[tokio::test]
async fn a_conflict_fails_naming_the_managers_and_force_takes_the_fields_over() {
    let (_top, d) = dirs();
    let mut script = vec![
        core_v1(),
        not_found("configmaps", "settings"),
        apply_conflict(&[
            ("kubectl-edit", ".data.colour"),
            ("helm", ".metadata.labels.app"),
        ]),
    ];
    script.extend([
        not_found("configmaps", "settings"),
        Answer::Json(200, json!({})),
    ]);
    let mut a = start(&d, Some(script)).await;

    let r = apply(&mut a, apply_req(&manifest("blue"), ("e1", 1), 2)).await;
    assert_eq!(outcome(&r), Outcome::Failed, "{r:?}");
    for part in [
        "ConfigMap moor-prod/settings",
        "\"kubectl-edit\" (.data.colour)",
        "\"helm\" (.metadata.labels.app)",
        "force: true",
    ] {
        assert!(r.error.contains(part), "{:?} lacks {part:?}", r.error);
    }

    // Nothing was recorded, so the same key applies once the resource asks for force.
    let mut forced = manifest("blue");
    forced["force"] = json!(true);
    let r = apply(&mut a, apply_req(&forced, ("e1", 1), 2)).await;
    assert_eq!(outcome(&r), Outcome::Applied, "{r:?}");
    let patch = a.mock.requests().pop().expect("the forced apply");
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.query.get("force").map(String::as_str), Some("true"));
    let body = patch.body.expect("body");
    assert!(
        body.get("force").is_none(),
        "force is not part of the object"
    );
    assert_eq!(a.mock.unanswered(), 0);
    a.stop().await;
}

#[tokio::test]
async fn an_apply_that_landed_before_its_record_was_lost_is_recorded_not_repeated() {
    let (_top, d) = dirs();
    // The object already carries this key: an earlier attempt applied it and the agent
    // crashed before recording it.
    let mut landed = manifest("blue");
    landed["metadata"]["annotations"] =
        json!({"moor.dev/idempotency-key": "e1/1", "moor.dev/desired-digest": "sha256:blue"});
    let mut a = start(&d, Some(vec![core_v1(), Answer::Json(200, landed)])).await;

    let r = apply(&mut a, apply_req(&manifest("blue"), ("e1", 1), 3)).await;
    assert_eq!(
        (outcome(&r), r.observed_digest.as_str()),
        (Outcome::Duplicate, "sha256:blue"),
        "{r:?}"
    );
    // Recorded now: the next re-dispatch is answered by the store alone.
    let r = apply(&mut a, apply_req(&manifest("blue"), ("e1", 1), 3)).await;
    assert_eq!(outcome(&r), Outcome::Duplicate, "{r:?}");
    assert_eq!(
        a.mock.lines(),
        ["GET /api/v1".to_string(), format!("GET {OBJECT}")],
        "no apply sent"
    );
    a.stop().await;
}

#[tokio::test]
async fn observe_reports_in_sync_then_drift_then_delete_removes_the_object() {
    let (_top, d) = dirs();
    let mut a = start(&d, Some(first_apply())).await;
    let r = apply(&mut a, apply_req(&manifest("blue"), ("e1", 1), 4)).await;
    assert_eq!(outcome(&r), Outcome::Applied, "{r:?}");
    let patch = a.mock.requests()[2].body.clone().expect("apply body");

    // In sync: the dry run of the recorded manifest changes nothing.
    let as_applied = live(&patch, "blue");
    a.mock.script(vec![
        list_of(vec![as_applied.clone()]),
        Answer::Json(200, as_applied.clone()),
    ]);
    let seen = observe(&mut a).await.expect("observe");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].resource.as_str(), seen[0].observed_digest.as_str()),
        ("settings", "sha256:blue")
    );
    let list = &a.mock.requests()[3];
    assert_eq!(list.line(), "GET /api/v1/configmaps");
    assert_eq!(
        list.query.get("labelSelector").map(String::as_str),
        Some("app.kubernetes.io/managed-by=moor,moor.dev/environment=prod")
    );
    let dry_run = &a.mock.requests()[4];
    assert_eq!(dry_run.line(), format!("PATCH {OBJECT}"));
    assert_eq!(dry_run.query.get("dryRun").map(String::as_str), Some("All"));

    // Someone edited the object: a drift digest and the live fields.
    let edited = live(&patch, "red");
    a.mock.script(vec![
        list_of(vec![edited.clone()]),
        Answer::Json(200, as_applied.clone()),
    ]);
    let seen = observe(&mut a).await.expect("observe");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].observed_digest.starts_with(DRIFT_DIGEST_PREFIX),
        "{seen:?}"
    );
    let fields: Value = serde_json::from_str(&seen[0].properties_json).expect("JSON");
    assert_eq!(fields["data"]["colour"], "red", "{fields}");

    // A cluster that refuses the list: no answer rather than a partial one.
    a.mock.script(vec![Answer::Json(
        403,
        status(403, "Forbidden", "configmaps is forbidden", None),
    )]);
    let err = observe(&mut a).await.expect_err("not observable");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert!(err.message().contains("forbidden"), "{err:?}");

    // Delete: the kept identity, foreground, preconditioned on the uid.
    a.mock.script(vec![
        Answer::Json(200, edited.clone()),
        Answer::Json(200, json!({"kind": "Status", "status": "Success"})),
    ]);
    let before = a.mock.requests().len();
    let r = a
        .client
        .delete(DeleteRequest {
            target: target("settings", MANIFEST_TYPE),
            key: key("e2", 0),
            attempt: 1,
            fence_token: 4,
        })
        .await
        .expect("delete answered")
        .into_inner();
    assert_eq!(outcome(&r), Outcome::Applied, "{r:?}");
    let sent = a.mock.requests().split_off(before);
    assert_eq!(
        sent.iter().map(|s| s.line()).collect::<Vec<_>>(),
        [format!("GET {OBJECT}"), format!("DELETE {OBJECT}")]
    );
    assert_eq!(
        sent[1].query.get("propagationPolicy").map(String::as_str),
        Some("Foreground")
    );
    assert_eq!(
        sent[1].body.as_ref().expect("options")["preconditions"]["uid"],
        "uid-1"
    );
    // Forgotten: nothing left to observe, nothing asked.
    let after = a.mock.requests().len();
    assert!(observe(&mut a).await.expect("observe").is_empty());
    assert_eq!(a.mock.requests().len(), after);
    a.stop().await;
}

#[tokio::test]
async fn without_a_kubernetes_section_a_manifest_fails_saying_what_to_add() {
    let (_top, d) = dirs();
    let mut a = start(&d, None).await;
    let r = apply(&mut a, apply_req(&manifest("blue"), ("e1", 1), 1)).await;
    assert_eq!(outcome(&r), Outcome::Failed, "{r:?}");
    assert!(
        r.error
            .contains("this agent has no [kubernetes] section: add one to its config file"),
        "{r:?}"
    );
    assert!(r.error.contains("in_cluster = true"), "{r:?}");
    // Nothing recorded: the same key applies once the agent has a cluster.
    a.stop().await;
    let mut b = start(&d, Some(first_apply())).await;
    let r = apply(&mut b, apply_req(&manifest("blue"), ("e1", 1), 1)).await;
    assert_eq!(outcome(&r), Outcome::Applied, "{r:?}");
    b.stop().await;
}
