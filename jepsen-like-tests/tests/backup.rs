//! Day-2 operations of Moor itself, on real processes with TLS and tokens on:
//! - a backup taken with `moorctl cluster snapshot save` from a follower, while a rollout runs
//!   and a writer writes, holds every write acknowledged before it began; a damaged copy is
//!   refused by `inspect` and by `moord restore`;
//! - `moord restore` seeds a NEW cluster (members 4, 5, 6) with a new identity; the
//!   executions in flight at backup time come back `interrupted`, are resumed, and the rollout
//!   finishes against the same sites without any effect applied twice; the old cluster, still
//!   running, cannot pull a restored member into itself (their identities differ);
//! - a member removed from the membership stops serving and says so.
//!
//! These are the runbook steps of deploy/README.md ("Back up", "Restore into a new cluster").

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moor_jepsen_like_tests::checkers::journal::check_file;
use moor_jepsen_like_tests::fleet::{chain_blueprint, Fleet};
use moor_jepsen_like_tests::harness::{bin_dir, connect, Cluster, MemberSettings};
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{
    AddMemberRequest, GetRequest, PutRequest, ReadConsistency, RemoveMemberRequest,
};
use moor_proto::rollout::rollout_api_client::RolloutApiClient;
use moor_proto::rollout::{GetRolloutRequest, Rollout, StartRolloutRequest};
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::{Execution, GetEnvironmentRequest, ListExecutionsRequest};
use tonic::transport::Channel;

const LONG: Duration = Duration::from_secs(120);

fn moorctl(cluster: &Cluster, endpoint: &str, args: &[&str]) -> Output {
    Command::new(bin_dir().join("moorctl"))
        .args(cluster.security().moorctl_args())
        .args(["--endpoints", endpoint, "--timeout-ms", "30000"])
        .args(args)
        .output()
        .expect("moorctl runs")
}

fn moord_restore(file: &Path, data_dir: &Path, id: u64, members: &str) -> Output {
    Command::new(bin_dir().join("moord"))
        .arg("restore")
        .arg("--snapshot")
        .arg(file)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--id", &id.to_string(), "--members", members])
        .output()
        .expect("moord runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn channel(cluster: &Cluster, id: u64) -> Channel {
    connect(cluster.addr(id), cluster.security()).connect_lazy()
}

fn rollouts(cluster: &Cluster, id: u64) -> RolloutApiClient<Channel> {
    RolloutApiClient::new(channel(cluster, id)).max_decoding_message_size(64 << 20)
}

fn workflow(cluster: &Cluster, id: u64) -> WorkflowApiClient<Channel> {
    WorkflowApiClient::new(channel(cluster, id)).max_decoding_message_size(64 << 20)
}

async fn get_rollout(cluster: &Cluster, member: u64, id: &str) -> Option<Rollout> {
    rollouts(cluster, member)
        .get_rollout(GetRolloutRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .ok()
        .map(|r| r.into_inner())
}

/// Polls rollout `id` on `member` until `done` holds.
async fn wait_rollout(
    cluster: &Cluster,
    member: u64,
    id: &str,
    what: &str,
    done: impl Fn(&Rollout) -> bool,
) -> Rollout {
    let deadline = Instant::now() + LONG;
    loop {
        let r = get_rollout(cluster, member, id).await;
        if let Some(r) = &r {
            if done(r) {
                return r.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "rollout {id} on member {member} did not reach {what}: {r:?}"
        );
        // Polls a state the cluster reports; rollouts move in tens of milliseconds.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn executions(cluster: &Cluster, member: u64) -> Vec<Execution> {
    workflow(cluster, member)
        .list_executions(ListExecutionsRequest {
            environment: String::new(),
            stale: false,
        })
        .await
        .expect("list executions")
        .into_inner()
        .executions
}

/// Writes `k-0`, `k-1`, … to the old cluster until stopped; the keys acknowledged so far.
fn start_writer(cluster: &Cluster, stop: Arc<Mutex<bool>>) -> Arc<Mutex<Vec<String>>> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut clients: Vec<MoorApiClient<Channel>> = (1..=3).map(|id| cluster.client(id)).collect();
    let out = acked.clone();
    tokio::spawn(async move {
        for i in 0u64.. {
            if *stop.lock().unwrap() {
                return;
            }
            let key = format!("k-{i}");
            let c = &mut clients[(i % 3) as usize];
            let put = c.put(PutRequest {
                key: key.clone(),
                value: i.to_be_bytes().to_vec(),
            });
            if tokio::time::timeout(Duration::from_secs(5), put)
                .await
                .is_ok_and(|r| r.is_ok())
            {
                out.lock().unwrap().push(key);
            }
        }
    });
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_restores_into_a_new_cluster_that_finishes_the_rollout() {
    let mut fleet = Fleet::start(3, MemberSettings::default(), &["--latency-ms", "120"])
        .await
        .unwrap();
    fleet.register_sites("site", 24, 16).await.unwrap();
    fleet
        .apply_blueprint(&chain_blueprint("chain", 3, "v1"))
        .await
        .unwrap();
    fleet
        .put_group("all", "sites", &[("fleet", "site")])
        .await
        .unwrap();
    let rollout = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "all".into(),
            action: "install".into(),
            blueprint: "chain".into(),
            max_parallel: 4,
            max_attempts: 3,
            step_timeout_ms: 2_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let stop = Arc::new(Mutex::new(false));
    let acked = start_writer(&fleet.cluster, stop.clone());

    // Mid-rollout: some targets done, some running.
    let old_leader = fleet.cluster.wait_leader(LONG).await.unwrap();
    wait_rollout(
        &fleet.cluster,
        old_leader,
        &rollout.id,
        "4 targets done",
        |r| r.succeeded >= 4 && r.running > 0,
    )
    .await;
    let acked_before: Vec<String> = acked.lock().unwrap().clone();
    assert!(!acked_before.is_empty(), "the writer acknowledged nothing");
    let follower = (1..=3).find(|id| *id != old_leader).unwrap();
    let file = fleet.dir.join("moor.backup");
    let file_s = file.to_str().unwrap();
    let saved = moorctl(
        &fleet.cluster,
        fleet.cluster.addr(follower),
        &["cluster", "snapshot", "save", file_s],
    );
    assert!(saved.status.success(), "save failed: {}", text(&saved));
    *stop.lock().unwrap() = true;

    // The file verifies and says what it holds.
    let bytes = std::fs::read(&file).unwrap();
    let backup = moor_proto::backup::parse(&bytes).unwrap();
    let header = backup.header.clone();
    assert!(header.index > 0 && header.term > 0, "{header:?}");
    assert_eq!(header.taken_by, follower);
    assert_eq!(header.members.len(), 3);
    assert_eq!(header.counts["sites"], 24);
    assert!(header.running_executions > 0, "{header:?}");
    let inspected = moorctl(
        &fleet.cluster,
        fleet.cluster.addr(follower),
        &["cluster", "snapshot", "inspect", file_s],
    );
    assert!(inspected.status.success(), "{}", text(&inspected));
    assert!(
        String::from_utf8_lossy(&inspected.stdout).contains(&header.index.to_string()),
        "{}",
        text(&inspected)
    );

    // A damaged copy: inspect says so, restore refuses it and writes nothing.
    let damaged = fleet.dir.join("damaged.backup");
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    std::fs::write(&damaged, &bad).unwrap();
    let inspected = moorctl(
        &fleet.cluster,
        fleet.cluster.addr(follower),
        &["cluster", "snapshot", "inspect", damaged.to_str().unwrap()],
    );
    assert!(!inspected.status.success(), "{}", text(&inspected));
    assert!(
        text(&inspected).to_lowercase().contains("checksum"),
        "{}",
        text(&inspected)
    );
    let scratch = fleet.dir.join("scratch-member");
    let refused = moord_restore(&damaged, &scratch, 4, "4=127.0.0.1:1");
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("checksum"), "{}", text(&refused));
    assert!(
        !scratch.join("raft").exists(),
        "a refused restore wrote a store"
    );

    // The old cluster goes on and finishes its own rollout.
    let old_status = fleet.cluster.status(old_leader).await.unwrap();
    assert!(
        !old_status.cluster_id.is_empty(),
        "the old cluster has an identity"
    );
    wait_rollout(&fleet.cluster, old_leader, &rollout.id, "succeeded", |r| {
        r.state == "succeeded"
    })
    .await;

    // Restore into members 4, 5, 6 (new data dirs and ports, the same CA and sites).
    for id in 4..=6 {
        fleet.cluster.define(id).unwrap();
    }
    let members = (4..=6)
        .map(|id| format!("{id}={}", fleet.cluster.peer_addr(id)))
        .collect::<Vec<_>>()
        .join(",");
    let data4 = fleet.cluster.members[&4].data_dir.clone();
    let restored = moord_restore(&file, &data4, 4, &members);
    assert!(restored.status.success(), "{}", text(&restored));
    let report = String::from_utf8_lossy(&restored.stdout).to_string();
    assert!(
        report.contains(&format!(
            "{} execution(s) were running",
            header.running_executions
        )),
        "{report}"
    );
    // A second restore into the same dir is refused: it holds Raft state now.
    let again = moord_restore(&file, &data4, 4, &members);
    assert!(!again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("already holds Raft state"),
        "{}",
        text(&again)
    );
    for id in 4..=6 {
        fleet.cluster.restart(id).unwrap();
    }
    let new_leader = fleet
        .cluster
        .wait_leader_among(&[4, 5, 6], LONG)
        .await
        .unwrap();
    let new_status = fleet.cluster.status(new_leader).await.unwrap();
    assert!(!new_status.cluster_id.is_empty());
    assert_ne!(new_status.cluster_id, old_status.cluster_id);
    assert!(
        new_status.term > header.term + 1_000_000,
        "terms restart above the floor: {}",
        new_status.term
    );

    // Every write acknowledged before the backup began is there, on every new member.
    for id in 4..=6 {
        let mut c = fleet.cluster.client(id);
        for key in &acked_before {
            let got = c
                .get(GetRequest {
                    key: key.clone(),
                    consistency: ReadConsistency::Linearizable as i32,
                })
                .await
                .unwrap()
                .into_inner();
            assert!(
                got.kv.is_some(),
                "member {id} lost acknowledged write {key}"
            );
        }
    }

    // The executions in flight at backup time are interrupted; nothing moves until resumed.
    let interrupted: Vec<Execution> = executions(&fleet.cluster, new_leader)
        .await
        .into_iter()
        .filter(|e| e.state == "interrupted")
        .collect();
    assert_eq!(interrupted.len() as u64, header.running_executions);
    let listed = moorctl(
        &fleet.cluster,
        fleet.cluster.addr(new_leader),
        &["-o", "json", "exec", "list", "--state", "interrupted"],
    );
    assert!(listed.status.success(), "{}", text(&listed));
    for e in &interrupted {
        assert!(
            String::from_utf8_lossy(&listed.stdout).contains(&e.id),
            "{} missing from {}",
            e.id,
            text(&listed)
        );
    }
    let before_resume = get_rollout(&fleet.cluster, new_leader, &rollout.id)
        .await
        .unwrap();
    assert_eq!(before_resume.state, "running", "{before_resume:?}");
    for e in &interrupted {
        let out = moorctl(
            &fleet.cluster,
            fleet.cluster.addr(new_leader),
            &["exec", "resume", &e.id],
        );
        assert!(out.status.success(), "resume {}: {}", e.id, text(&out));
    }
    let done = wait_rollout(&fleet.cluster, new_leader, &rollout.id, "succeeded", |r| {
        r.state == "succeeded"
    })
    .await;
    assert_eq!(done.succeeded, 24, "{done:?}");

    // The old cluster cannot take a restored member: its Raft traffic is refused.
    let mut old = fleet.cluster.client(old_leader);
    old.add_member(AddMemberRequest {
        id: 4,
        addr: fleet.cluster.peer_addr(4).to_string(),
        wait_caught_up: false,
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(&fleet.cluster.members[&4].log_path).unwrap();
        if log.contains("belongs to cluster") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "member 4 never refused the old cluster's traffic:\n{}",
            fleet.cluster.log_tail(4, 20)
        );
        // Polls a log line the member writes when it refuses.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let still = fleet.cluster.status(4).await.unwrap();
    assert_eq!(still.cluster_id, new_status.cluster_id);
    assert_eq!(
        still.members.iter().map(|m| m.id).collect::<BTreeSet<_>>(),
        BTreeSet::from([4, 5, 6])
    );
    old.remove_member(RemoveMemberRequest { id: 4 })
        .await
        .unwrap();

    // No effect was applied twice at any site, by either cluster (WF2), and no site took a
    // lower token after a higher one (WF3).
    let mut site_of = BTreeMap::new();
    let mut all = executions(&fleet.cluster, new_leader).await;
    all.extend(executions(&fleet.cluster, old_leader).await);
    let mut w = workflow(&fleet.cluster, new_leader);
    for e in &all {
        if !site_of.contains_key(&e.environment) {
            let env = w
                .get_environment(GetEnvironmentRequest {
                    name: e.environment.clone(),
                    stale: false,
                })
                .await
                .unwrap()
                .into_inner();
            site_of.insert(e.environment.clone(), env.site);
        }
    }
    let done_steps = Fleet::done_steps(&all, |env| site_of[env].clone());
    let journal = fleet.stop_sim().unwrap();
    let verdict = check_file(&journal, &done_steps).unwrap();
    assert!(verdict.is_clean(), "journal violations:\n{verdict}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_member_stops_serving_and_says_so() {
    let cluster = Cluster::start(3, MemberSettings::default()).await.unwrap();
    let leader = cluster.wait_leader(LONG).await.unwrap();
    let victim = (1..=3).find(|id| *id != leader).unwrap();
    cluster
        .client(leader)
        .remove_member(RemoveMemberRequest { id: victim })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = cluster.status(victim).await {
            if s.state == "Removed" {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "member {victim} never said it was removed:\n{}",
            cluster.log_tail(victim, 20)
        );
        // Polls the state the member reports; it decides within an election timeout or two.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = cluster
        .client(victim)
        .put(PutRequest {
            key: "after".into(),
            value: b"x".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("removed"), "{}", err.message());
    assert!(
        err.message().contains("wipe its data dir"),
        "{}",
        err.message()
    );
    // The others still serve.
    let survivor = (1..=3).find(|id| *id != victim).unwrap();
    cluster
        .client(survivor)
        .put(PutRequest {
            key: "after".into(),
            value: b"y".to_vec(),
        })
        .await
        .unwrap();
    let log = std::fs::read_to_string(&cluster.members[&victim].log_path).unwrap();
    assert!(log.contains("was removed from the cluster"), "{log}");
}
