//! CI webhooks and Git sources end to end, over real HTTP against real members: a signed
//! GitHub push becomes one new blueprint revision (with its commit) and one rollout over 50
//! simulated sites; the same delivery again, also concurrently to other members, triggers
//! nothing more; forged, stale, oversized and malformed deliveries are refused with the
//! reason and change nothing; an invalid blueprint in a commit is reported on the source
//! with file:line:col and makes no revision; a force-push is followed; the leader killed
//! right after it accepted a delivery still yields exactly one rollout.

use std::time::{Duration, Instant};

use moor_jepsen_like_tests::fleet::Fleet;
use moor_jepsen_like_tests::git_repo::GitRepo;
use moor_jepsen_like_tests::harness::{connect, MemberSettings};
use moor_jepsen_like_tests::webhook::{github_headers, github_push, HookClient};
use moor_proto::auth::auth_api_client::AuthApiClient;
use moor_proto::auth::ListAuditRequest;
use moor_proto::hooks::hook_api_client::HookApiClient;
use moor_proto::hooks::*;
use moor_proto::rollout::{ListRolloutsRequest, StartRolloutRequest};
use moor_proto::workflow::GetBlueprintRequest;
use tonic::transport::Channel;

const SITES: usize = 50;

/// A refused delivery: what it is, its headers and body, the status and a word of the reason.
type BadDelivery = (
    &'static str,
    Vec<(String, String)>,
    Vec<u8>,
    u16,
    &'static str,
);
const SECRET: &str = "a webhook secret of some length";

fn hello(version: &str) -> String {
    format!(
        "name: hello\nresources:\n  - name: motd\n    type: sim.resource\n    properties: {{ text: \"hello {version}\" }}\n"
    )
}

const DB: &str =
    "name: db\nresources:\n  - name: x\n    type: sim.resource\n    properties: { v: 1 }\n";

fn hooks(fleet: &Fleet, id: u64) -> HookApiClient<Channel> {
    HookApiClient::new(connect(fleet.cluster.addr(id), fleet.cluster.security()).connect_lazy())
}

fn client(fleet: &Fleet, id: u64) -> HookClient {
    HookClient::new(fleet.cluster.addr(id), fleet.cluster.security()).unwrap()
}

async fn source(fleet: &Fleet) -> Source {
    let running = fleet.cluster.running();
    hooks(fleet, running[0])
        .get_source(GetSourceRequest {
            name: "bp".into(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Waits until source `bp` has no fetch pending and `done` holds.
async fn wait_source(fleet: &Fleet, what: &str, done: impl Fn(&Source) -> bool) -> Source {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = source(fleet).await;
        if !s.fetch_pending && done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "source never {what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn trigger(fleet: &Fleet) -> Trigger {
    let running = fleet.cluster.running();
    hooks(fleet, running[0])
        .get_trigger(GetTriggerRequest {
            name: "hello-edge".into(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner()
}

/// The rollout the trigger started for `revision`, once it has.
async fn rollout_of(fleet: &Fleet, revision: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = trigger(fleet).await;
        if let Some(f) = t.firings.iter().find(|f| f.revision == revision) {
            assert_eq!(f.outcome, "started", "{f:?}");
            return f.rollout.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no firing for revision {revision}: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn update_rollouts(fleet: &Fleet) -> Vec<moor_proto::rollout::Rollout> {
    fleet
        .rollouts(0)
        .list_rollouts(ListRolloutsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rollouts
        .into_iter()
        .filter(|r| r.action == "update")
        .collect()
}

async fn revisions(fleet: &Fleet, name: &str) -> moor_proto::workflow::GetBlueprintResponse {
    fleet
        .workflow(0)
        .get_blueprint(GetBlueprintRequest {
            name: name.into(),
            revision: 0,
            stale: false,
        })
        .await
        .unwrap()
        .into_inner()
}

async fn push(
    c: &HookClient,
    repo: &GitRepo,
    id: &str,
    git_ref: &str,
    commit: &str,
) -> serde_json::Value {
    let body = github_push(&repo.url(), git_ref, commit);
    let a = c
        .post(
            "/hooks/github",
            &github_headers("push", id, SECRET, &body),
            &body,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    a.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_rolls_out_exactly_once_and_bad_deliveries_change_nothing() {
    let mut fleet = Fleet::start(3, MemberSettings::default(), &["--latency-ms", "5"])
        .await
        .unwrap();
    fleet.register_sites("edge", SITES, 16).await.unwrap();
    fleet.apply_blueprint(&hello("v1")).await.unwrap();
    fleet.apply_blueprint(DB).await.unwrap();
    fleet
        .put_group("edge-sites", "sites", &[("fleet", "edge")])
        .await
        .unwrap();
    let install = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "edge-sites".into(),
            action: "install".into(),
            blueprint: "hello".into(),
            labels: [("app".to_string(), "hello".to_string())].into(),
            max_parallel: SITES as i64,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    fleet
        .wait_rollout(&install.id, Duration::from_secs(120), "succeeded", |r| {
            r.state == "succeeded"
        })
        .await
        .unwrap();
    assert_eq!(
        fleet
            .put_group("edge", "environments", &[("app", "hello")])
            .await
            .unwrap(),
        SITES as u64
    );

    // The repository holds what was applied by hand: the first fetch makes no revision.
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::create(tmp.path()).unwrap();
    repo.write("blueprints/hello.yaml", &hello("v1")).unwrap();
    repo.write("blueprints/db.yaml", DB).unwrap();
    repo.write("README.md", "not a blueprint").unwrap();
    let c0 = repo.commit_and_push("v1").unwrap();

    let mut api = hooks(&fleet, 1);
    let secret_file = tmp.path().join("secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    api.put_receiver(PutReceiverRequest {
        receiver: Some(Receiver {
            name: "github".into(),
            r#type: "github".into(),
            secret: SECRET.into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    api.put_source(PutSourceRequest {
        source: Some(Source {
            name: "bp".into(),
            url: repo.url(),
            branch: "main".into(),
            path: "blueprints".into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    api.put_trigger(PutTriggerRequest {
        trigger: Some(Trigger {
            name: "hello-edge".into(),
            source: "bp".into(),
            blueprint: "hello".into(),
            rollout: Some(StartRolloutRequest {
                group: "edge".into(),
                action: "update".into(),
                waves: "1,10%,100%".into(),
                max_parallel: 10,
                max_failed_percent: Some(2),
                ..Default::default()
            }),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    let s = wait_source(&fleet, "fetched the first commit", |s| s.commit == c0).await;
    assert_eq!(s.blueprints.len(), 2, "{s:?}");
    assert_eq!(revisions(&fleet, "hello").await.revisions, [1]);

    // A push of v2, delivered to member 1.
    repo.write("blueprints/hello.yaml", &hello("v2")).unwrap();
    let c1 = repo.commit_and_push("hello v2").unwrap();
    let first = push(
        &client(&fleet, 1),
        &repo,
        "delivery-1",
        "refs/heads/main",
        &c1,
    )
    .await;
    assert_eq!(first["verdict"], "accepted", "{first}");
    assert_eq!(first["duplicate"], false);
    // The same delivery again, concurrently to the two other members: recorded once.
    let (c2, c3) = (client(&fleet, 2), client(&fleet, 3));
    let (a, b) = tokio::join!(
        push(&c2, &repo, "delivery-1", "refs/heads/main", &c1),
        push(&c3, &repo, "delivery-1", "refs/heads/main", &c1),
    );
    for again in [a, b] {
        assert_eq!(again["duplicate"], true, "{again}");
        assert_eq!(again["verdict"], "accepted");
        assert_eq!(
            again["member"], first["member"],
            "the original record comes back"
        );
    }
    let rollout = rollout_of(&fleet, 2).await;
    let done = fleet
        .wait_rollout(&rollout, Duration::from_secs(120), "succeeded", |r| {
            r.state == "succeeded"
        })
        .await
        .unwrap();
    assert_eq!((done.succeeded, done.failed), (SITES as u32, 0));
    let hello_revs = revisions(&fleet, "hello").await;
    assert_eq!(hello_revs.revisions, [1, 2]);
    assert_eq!(hello_revs.origin_commit, c1);
    assert_eq!(hello_revs.origin_path, "blueprints/hello.yaml");
    assert_eq!(
        revisions(&fleet, "db").await.revisions,
        [1],
        "db did not change"
    );
    assert_eq!(update_rollouts(&fleet).await.len(), 1);

    // Bad deliveries: refused with the reason, nothing recorded, nothing started.
    let c = client(&fleet, 2);
    let body = github_push(&repo.url(), "refs/heads/main", &c1);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let h = github_headers("push", "bad-1", SECRET, &body);
    let wrong = github_headers("push", "bad-2", "not the secret at all", &body);
    let unsigned: Vec<_> = h
        .iter()
        .filter(|(k, _)| k != "X-Hub-Signature-256")
        .cloned()
        .collect();
    let cases: Vec<BadDelivery> = vec![
        (
            "tampered body",
            h.clone(),
            tampered,
            401,
            "does not match the body",
        ),
        (
            "wrong secret",
            wrong,
            body.clone(),
            401,
            "does not match the body",
        ),
        (
            "no signature",
            unsigned,
            body.clone(),
            401,
            "missing X-Hub-Signature-256",
        ),
        (
            "malformed JSON",
            github_headers("push", "bad-3", SECRET, b"{not json"),
            b"{not json".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "wrong type",
            github_headers("push", "bad-4", SECRET, br#"{"ref":1}"#),
            br#"{"ref":1}"#.to_vec(),
            400,
            "names no repository URL",
        ),
    ];
    for (what, headers, body, status, reason) in cases {
        let a = c.post("/hooks/github", &headers, &body).await.unwrap();
        assert_eq!(a.status, status, "{what}: {a:?}");
        assert!(
            a.json()["error"].as_str().unwrap_or("").contains(reason),
            "{what}: {a:?}"
        );
    }
    let form: Vec<_> = h
        .iter()
        .map(|(k, v)| {
            if k == "Content-Type" {
                (k.clone(), "application/x-www-form-urlencoded".to_string())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    assert_eq!(
        c.post("/hooks/github", &form, &body).await.unwrap().status,
        415
    );
    assert_eq!(
        c.post("/hooks/nobody", &h, &body).await.unwrap().status,
        404
    );
    // 20 MB declared: refused from the headers, the body is never sent.
    let big = c
        .post_declared("/hooks/github", &h, 20 << 20)
        .await
        .unwrap();
    assert_eq!(big.status, 413, "{big:?}");
    // A push to another branch is authentic but followed by no source: recorded, ignored.
    let other = push(&c, &repo, "delivery-dev", "refs/heads/dev", &c1).await;
    assert_eq!(other["verdict"], "ignored");
    assert!(
        other["detail"]
            .as_str()
            .unwrap()
            .contains("no source follows"),
        "{other}"
    );
    // GitLab's signed format (Standard Webhooks): a delivery signed a day ago is a replay.
    api.put_receiver(PutReceiverRequest {
        receiver: Some(Receiver {
            name: "gitlab".into(),
            r#type: "gitlab".into(),
            secret: SECRET.into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    let gl_body = br#"{"object_kind":"push","ref":"refs/heads/dev","after":"abc","checkout_sha":"abc","project":{"git_http_url":"https://gitlab.example/acme/other.git"}}"#;
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = |id: &str, ts: u64| {
        use base64::Engine;
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(gl_body);
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("X-Gitlab-Event".to_string(), "Push Hook".to_string()),
            ("webhook-id".to_string(), id.to_string()),
            ("webhook-timestamp".to_string(), ts.to_string()),
            ("webhook-signature".to_string(), format!("v1,{sig}")),
        ]
    };
    let stale = c
        .post("/hooks/gitlab", &signed("gl-1", now_s - 86_400), gl_body)
        .await
        .unwrap();
    assert_eq!(stale.status, 401, "{stale:?}");
    assert!(stale.body.contains("tolerance"), "{stale:?}");
    let fresh = c
        .post("/hooks/gitlab", &signed("gl-2", now_s), gl_body)
        .await
        .unwrap();
    assert_eq!(fresh.status, 200, "{fresh:?}");
    assert_eq!(fresh.json()["verdict"], "ignored", "{fresh:?}");
    let deliveries = api
        .list_deliveries(ListDeliveriesRequest {
            receiver: "github".into(),
            limit: 0,
            stale: false,
        })
        .await
        .unwrap()
        .into_inner()
        .deliveries;
    let ids: Vec<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        ["delivery-1", "delivery-dev"],
        "refused deliveries are not recorded"
    );
    assert_eq!(update_rollouts(&fleet).await.len(), 1);
    assert_eq!(revisions(&fleet, "hello").await.revisions, [1, 2]);

    // An invalid blueprint: reported with file:line:col, no revision of anything.
    repo.write(
        "blueprints/hello.yaml",
        "name: hello\nresources:\n  - name: motd\n    type: sim.resource\n    propertiez: {}\n",
    )
    .unwrap();
    let bad = repo.commit_and_push("broken").unwrap();
    push(&c, &repo, "delivery-bad", "refs/heads/main", &bad).await;
    let s = wait_source(&fleet, "reported the broken commit", |s| {
        s.error_commit == bad
    })
    .await;
    assert!(s.error.contains("blueprints/hello.yaml:5:5"), "{}", s.error);
    assert_eq!(s.commit, c1, "the applied commit stays the last good one");
    assert_eq!(revisions(&fleet, "hello").await.revisions, [1, 2]);

    // A force-push replaces the broken commit: followed, one new revision, one rollout.
    repo.write("blueprints/hello.yaml", &hello("v3")).unwrap();
    let c3 = repo.rewrite_last_and_force_push("hello v3").unwrap();
    push(&c, &repo, "delivery-force", "refs/heads/main", &c3).await;
    let rollout3 = rollout_of(&fleet, 3).await;
    let s = wait_source(&fleet, "followed the force-push", |s| s.commit == c3).await;
    assert!(s.error.is_empty(), "{s:?}");
    assert_eq!(revisions(&fleet, "hello").await.origin_commit, c3);
    fleet
        .wait_rollout(&rollout3, Duration::from_secs(120), "succeeded", |r| {
            r.state == "succeeded"
        })
        .await
        .unwrap();

    // The leader accepts a delivery and is killed before it can fetch: after the failover,
    // the new leader fetches, and exactly one rollout starts for the revision.
    repo.write("blueprints/hello.yaml", &hello("v4")).unwrap();
    let c4 = repo.commit_and_push("hello v4").unwrap();
    let leader = fleet
        .cluster
        .wait_leader(Duration::from_secs(20))
        .await
        .unwrap();
    let accepted = push(
        &client(&fleet, leader),
        &repo,
        "delivery-failover",
        "refs/heads/main",
        &c4,
    )
    .await;
    fleet.cluster.kill(leader).unwrap();
    assert_eq!(accepted["verdict"], "accepted");
    fleet
        .cluster
        .wait_leader(Duration::from_secs(30))
        .await
        .unwrap();
    let rollout4 = rollout_of(&fleet, 4).await;
    fleet
        .wait_rollout(&rollout4, Duration::from_secs(120), "succeeded", |r| {
            r.state == "succeeded"
        })
        .await
        .unwrap();
    // The redelivery a CI system makes when it saw no answer changes nothing.
    let survivor = fleet.cluster.running()[0];
    let again = push(
        &client(&fleet, survivor),
        &repo,
        "delivery-failover",
        "refs/heads/main",
        &c4,
    )
    .await;
    assert_eq!(again["duplicate"], true);
    let updates = update_rollouts(&fleet).await;
    assert_eq!(
        updates.len(),
        3,
        "one rollout per new revision: {updates:?}"
    );
    // Who fetched v4: the audit trail names the source and the member (not the killed one,
    // which would mean the kill came too late to test anything).
    let mut audit = AuthApiClient::new(
        connect(fleet.cluster.addr(survivor), fleet.cluster.security()).connect_lazy(),
    );
    let entries = audit
        .list_audit(ListAuditRequest {
            who: "source:bp".into(),
            operation: "source.fetch".into(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let short: String = c4.chars().take(12).collect();
    let v4 = entries
        .iter()
        .find(|e| e.object.contains(&short))
        .expect("the fetch of v4 is audited");
    assert_ne!(
        v4.member, leader,
        "the killed leader fetched v4 before it died: {v4:?}"
    );
    let delivered = AuthApiClient::new(
        connect(fleet.cluster.addr(survivor), fleet.cluster.security()).connect_lazy(),
    )
    .list_audit(ListAuditRequest {
        who: "receiver:github".into(),
        limit: 1000,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .entries;
    assert_eq!(
        delivered.len(),
        5,
        "one audit record per recorded delivery: {delivered:?}"
    );
}
