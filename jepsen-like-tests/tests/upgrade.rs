//! Issue 16 §3: a rolling upgrade from the previous release to this build, on real processes
//! with TLS and authentication on, while a rollout runs and a writer writes.
//!
//! Three members start on the previous release's `moord` (feature level 1, which knows nothing
//! of feature levels; built by `make previous-moord`), every one with auto-finalize off (as
//! `MOOR_UPGRADE_AUTO_FINALIZE`: the old release's config file refuses unknown keys). They
//! are replaced one at a time, followers first and the leader last: SIGTERM, then this build
//! on the same data dir, caught up before the next. Meanwhile:
//! - `UpgradeFinalize` is refused (FAILED_PRECONDITION, naming a member still on the old
//!   release) and the cluster stays at level 1; steps record no attempt history;
//! - once all three run this build, `UpgradeFinalize` raises the level to this build's (3)
//!   on every member;
//! - the rollout started before the first replacement finishes with every target succeeded,
//!   no step's effect applied twice (the sitesim journal), and every acknowledged write reads
//!   back;
//! - an execution dispatched at that level records each step's attempt.
//!
//! And the way back (deploy/README.md, "Going back"): before the level rises, a cluster of
//! this build goes back to the previous release member by member, under a rollout this
//! build started and a writer, each release opening snapshots the other built.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use moor_jepsen_like_tests::checkers::journal::check_file;
use moor_jepsen_like_tests::fleet::{chain_blueprint, Fleet, REGIONS};
use moor_jepsen_like_tests::harness::{
    bin_dir, connect, get_request, put_request, Cluster, Launch, MemberSettings, SiteSimProc,
};
use moor_proto::api::{ClusterStatusResponse, ReadConsistency, UpgradeFinalizeRequest};
use moor_proto::names::{ExecState, RolloutState, WireName};
use moor_proto::rollout::rollout_api_client::RolloutApiClient;
use moor_proto::rollout::{
    GetRolloutRequest, Group, PutGroupRequest, Rollout, StartRolloutRequest,
};
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::{
    ApplyBlueprintRequest, Execution, GetEnvironmentRequest, GetExecutionRequest, PutSiteRequest,
    Site, StartExecutionRequest,
};
use tonic::transport::Channel;
use tonic::Code;

const LONG: Duration = Duration::from_secs(120);
/// The rollout: ceil(60 / 4) × 3 steps × 1 s = at least 45 s, longer than the upgrade.
const SITES: usize = 60;
const PARALLEL: i64 = 4;
const STEP_LATENCY_MS: &str = "1000";
/// A graceful stop longer than this is reported (a known slow stop exists); the member is
/// killed only past [`STOP_LIMIT`].
const SLOW_STOP: Duration = Duration::from_secs(10);
const STOP_LIMIT: Duration = Duration::from_secs(60);
/// The cluster feature levels: every release up to the previous one, and this one.
const LEVEL_PREVIOUS: u32 = 1;
const LEVEL_THIS: u32 = 3;

/// The previous release's moord: `MOOR_PREVIOUS_MOORD`, else `previous/moord` beside the
/// profile dir of the binaries under test (where scripts/previous-moord.sh puts it). Missing
/// is a failure, never a skip: `make test` builds it first.
fn previous_moord() -> PathBuf {
    let path = std::env::var_os("MOOR_PREVIOUS_MOORD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let dir = bin_dir();
            dir.parent().unwrap_or(&dir).join("previous").join("moord")
        });
    assert!(
        path.is_file(),
        "the previous release's moord is not at {}: build it with `make previous-moord` \
         (scripts/previous-moord.sh), or set MOOR_PREVIOUS_MOORD to its path",
        path.display()
    );
    path
}

fn channel(cluster: &Cluster, id: u64) -> Channel {
    connect(cluster.addr(id), cluster.security()).connect_lazy()
}

fn workflow(cluster: &Cluster, id: u64) -> WorkflowApiClient<Channel> {
    WorkflowApiClient::new(channel(cluster, id)).max_decoding_message_size(64 << 20)
}

fn rollouts(cluster: &Cluster, id: u64) -> RolloutApiClient<Channel> {
    RolloutApiClient::new(channel(cluster, id)).max_decoding_message_size(64 << 20)
}

/// `level` as a member reports it: 0 comes from releases before feature levels, and means 1.
fn level(reported: u32) -> u32 {
    reported.max(LEVEL_PREVIOUS)
}

/// The member ids `message` names: the numbers right after a word starting with "member"
/// ("member 3", "members 1, 3", "member-2"), not the levels that follow them.
fn named_members(message: &str) -> BTreeSet<u64> {
    let lower = message.to_lowercase();
    let mut named = BTreeSet::new();
    let mut after_member = false;
    for token in lower.split(|c: char| !c.is_ascii_alphanumeric()) {
        if token.is_empty() {
            continue;
        }
        if token.starts_with("member") {
            after_member = true;
        } else if let (true, Ok(id)) = (after_member, token.parse::<u64>()) {
            named.insert(id);
        } else if token != "and" && token != "id" {
            after_member = false;
        }
    }
    named
}

/// Sites, the chain blueprint, a group of the sites and an install rollout over it, started.
async fn start_rollout(cluster: &Cluster, sim_addr: &str) -> String {
    let sites: Vec<Site> = (0..SITES)
        .map(|i| Site {
            name: format!("site-{i:03}"),
            region: REGIONS[i % REGIONS.len()].into(),
            labels: [("fleet".to_string(), "upgrade".to_string())].into(),
            agent_endpoint: sim_addr.into(),
            ..Default::default()
        })
        .collect();
    let mut w = workflow(cluster, 1);
    for site in sites {
        w.put_site(PutSiteRequest { site: Some(site) })
            .await
            .expect("put site");
    }
    w.apply_blueprint(ApplyBlueprintRequest {
        source_name: "chain.yaml".into(),
        yaml: chain_blueprint("chain", 3, "v1"),
        validate_only: false,
    })
    .await
    .expect("apply blueprint");
    let mut r = rollouts(cluster, 1);
    r.put_group(PutGroupRequest {
        group: Some(Group {
            name: "all".into(),
            kind: "sites".into(),
            match_labels: [("fleet".to_string(), "upgrade".to_string())].into(),
            ..Default::default()
        }),
    })
    .await
    .expect("put group");
    r.start_rollout(StartRolloutRequest {
        group: "all".into(),
        action: "install".into(),
        blueprint: "chain".into(),
        max_parallel: PARALLEL,
        // A leader stopped mid-step: its successor dispatches the step again.
        max_attempts: 5,
        step_timeout_ms: 10_000,
        ..Default::default()
    })
    .await
    .expect("start rollout")
    .into_inner()
    .id
}

/// Rollout `id` as the first running member that answers sees it (linearizable).
async fn get_rollout(cluster: &Cluster, id: &str, targets: &str) -> Option<Rollout> {
    for member in cluster.running() {
        let r = rollouts(cluster, member)
            .get_rollout(GetRolloutRequest {
                id: id.into(),
                targets: targets.into(),
                ..Default::default()
            })
            .await;
        if let Ok(r) = r {
            return Some(r.into_inner());
        }
    }
    None
}

/// Polls rollout `id` until it ended.
async fn wait_rollout_ended(cluster: &Cluster, id: &str) -> Rollout {
    let deadline = Instant::now() + LONG;
    loop {
        let r = get_rollout(cluster, id, "").await;
        if let Some(r) = &r {
            if RolloutState::parse(&r.state).is_some_and(|s| s.is_ended()) {
                return r.clone();
            }
        }
        assert!(Instant::now() < deadline, "rollout {id} did not end: {r:?}");
        // Polls a state the cluster reports; a rollout moves in tens of milliseconds.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every child execution of rollout `id`, read through `member`.
async fn child_executions(cluster: &Cluster, member: u64, id: &str) -> Vec<Execution> {
    let targets = rollouts(cluster, member)
        .get_rollout(GetRolloutRequest {
            id: id.into(),
            targets: "all".into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("get rollout {id} via member {member}: {s}"))
        .into_inner()
        .targets;
    let mut out = Vec::new();
    for t in targets.iter().filter(|t| !t.execution.is_empty()) {
        out.push(get_execution(cluster, member, &t.execution).await);
    }
    out
}

async fn get_execution(cluster: &Cluster, member: u64, id: &str) -> Execution {
    workflow(cluster, member)
        .get_execution(GetExecutionRequest {
            id: id.into(),
            stale: false,
        })
        .await
        .unwrap_or_else(|s| panic!("get execution {id} via member {member}: {s}"))
        .into_inner()
}

/// Before the cluster reaches this build's level no member records attempt history.
async fn assert_no_attempts(cluster: &Cluster, rollout: &str) {
    for member in cluster.running() {
        for e in child_executions(cluster, member, rollout).await {
            for s in &e.steps {
                assert!(
                    s.attempts.is_empty(),
                    "member {member} shows attempts of step {} of {} before the cluster \
                     reached level {LEVEL_THIS}: {:?}",
                    s.index,
                    e.id,
                    s.attempts
                );
            }
        }
    }
}

/// Every running member's status (each must answer).
async fn statuses(cluster: &Cluster) -> Vec<ClusterStatusResponse> {
    let mut out = Vec::new();
    for id in cluster.running() {
        let s = cluster.status(id).await.unwrap_or_else(|| {
            panic!("member {id} does not answer:\n{}", cluster.log_tail(id, 20))
        });
        out.push(s);
    }
    out
}

/// Acknowledged writes and how many were not (failed or outcome unknown: never assumed
/// absent, never checked).
#[derive(Default)]
struct Writes {
    acked: Mutex<Vec<(String, String)>>,
    not_acked: AtomicU64,
    stop: AtomicBool,
}

impl Writes {
    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

/// Puts unique keys through the members in turn, one every 20 ms, until stopped.
fn start_writer(cluster: &Cluster) -> (Arc<Writes>, tokio::task::JoinHandle<()>) {
    let writes = Arc::new(Writes::default());
    let clients: Vec<_> = cluster
        .running()
        .iter()
        .map(|id| cluster.client(*id))
        .collect();
    let w = writes.clone();
    let task = tokio::spawn(async move {
        let mut pace = tokio::time::interval(Duration::from_millis(20));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for i in 0u64.. {
            if w.stop.load(Ordering::Relaxed) {
                return;
            }
            pace.tick().await;
            let (key, value) = (format!("up/{i:06}"), format!("value-{i}"));
            let mut c = clients[i as usize % clients.len()].clone();
            match tokio::time::timeout(Duration::from_secs(5), c.put(put_request(&key, &value)))
                .await
            {
                Ok(Ok(_)) => w.acked.lock().unwrap().push((key, value)),
                _ => {
                    w.not_acked.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    (writes, task)
}

/// Waits until the writer has more than `n` acknowledged writes: the cluster takes writes.
async fn wait_acked_beyond(writes: &Writes, n: usize, what: &str) {
    let deadline = Instant::now() + LONG;
    while writes.acked() <= n {
        assert!(
            Instant::now() < deadline,
            "no write acknowledged {what} ({n} before)"
        );
        // Polls the writer's progress.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until member `id` answers, a leader is agreed, and `id` has applied the leader's
/// commit index as it was once `id` answered.
async fn wait_caught_up(cluster: &Cluster, id: u64) {
    let leader = cluster.wait_leader(LONG).await.expect("a leader");
    let target = cluster
        .status(leader)
        .await
        .expect("the leader answers")
        .committed_index;
    let deadline = Instant::now() + LONG;
    while cluster
        .status(id)
        .await
        .is_none_or(|s| s.applied_index < target)
    {
        assert!(
            Instant::now() < deadline,
            "member {id} did not apply index {target} in time:\n{}",
            cluster.log_tail(id, 20)
        );
        // Polls a condition the member reports.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One member replaced.
struct Replacement {
    id: u64,
    was_leader: bool,
    stop: Duration,
    /// Killed after [`STOP_LIMIT`] instead of stopping by itself.
    killed: bool,
    total: Duration,
    rollout_succeeded: u32,
}

/// Stops member `id` with SIGTERM and starts `binary` on its data dir; returns once it has
/// caught up and a leader is agreed.
async fn replace(cluster: &mut Cluster, id: u64, binary: &Path, rollout: &str) -> Replacement {
    let was_leader = cluster.wait_leader(LONG).await.expect("a leader") == id;
    let rollout_succeeded = get_rollout(cluster, rollout, "")
        .await
        .map_or(0, |r| r.succeeded);
    let start = Instant::now();
    let killed = match cluster.stop_within(id, STOP_LIMIT) {
        Ok(status) => {
            eprintln!("upgrade: member {id} stopped ({status})");
            false
        }
        Err(e) => {
            eprintln!("upgrade: WARNING: {e:#}");
            true
        }
    };
    let stop = start.elapsed();
    if stop > SLOW_STOP {
        eprintln!(
            "upgrade: WARNING: member {id} took {stop:.1?} to stop after SIGTERM (more than \
             {SLOW_STOP:?}: the known slow graceful stop)"
        );
    }
    if was_leader {
        cluster
            .wait_leader(LONG)
            .await
            .expect("a leader among the others");
    }
    cluster
        .restart_with(id, binary)
        .expect("start the new moord");
    wait_caught_up(cluster, id).await;
    let total = start.elapsed();
    eprintln!(
        "upgrade: member {id}{} replaced in {total:.1?} (stop {stop:.1?})",
        if was_leader { " (leader)" } else { "" }
    );
    Replacement {
        id,
        was_leader,
        stop,
        killed,
        total,
        rollout_succeeded,
    }
}

/// The next member to replace: a follower while any old member follows, else the leader.
async fn next_to_replace(cluster: &Cluster, old: &BTreeSet<u64>) -> u64 {
    let leader = cluster.wait_leader(LONG).await.expect("a leader");
    old.iter()
        .copied()
        .find(|id| *id != leader)
        .unwrap_or(leader)
}

/// While some members run the old release: the level stays 1 everywhere and finalizing is
/// refused, naming one of them.
async fn assert_not_finalizable(cluster: &Cluster, new: &BTreeSet<u64>, old: &BTreeSet<u64>) {
    for s in statuses(cluster).await {
        let supported = if new.contains(&s.id) { LEVEL_THIS } else { 0 };
        assert_eq!(
            s.supported_feature_level, supported,
            "member {} runs the wrong release",
            s.id
        );
        assert!(
            s.feature_level <= LEVEL_PREVIOUS,
            "member {} reports feature level {} with members {old:?} still on the previous \
             release",
            s.id,
            s.feature_level
        );
    }
    let via = *new.iter().next().expect("a replaced member");
    let refused = cluster
        .client(via)
        .upgrade_finalize(UpgradeFinalizeRequest { level: 0 })
        .await
        .expect_err("UpgradeFinalize accepted while members run the previous release");
    assert_eq!(
        refused.code(),
        Code::FailedPrecondition,
        "UpgradeFinalize via member {via}: {refused}"
    );
    let named = named_members(refused.message());
    assert!(
        named.iter().any(|id| old.contains(id)),
        "the refusal names none of the old members {old:?}: {:?}",
        refused.message()
    );
    eprintln!("upgrade: UpgradeFinalize refused: {}", refused.message());
}

/// Finalizes (retrying while the leader has not yet heard from every member since it was
/// elected) and waits until every member applied this build's level; returns the refusals seen first.
async fn finalize(cluster: &Cluster) -> usize {
    let deadline = Instant::now() + LONG;
    let mut refusals = 0;
    let mut last: Option<String> = None;
    let answer = loop {
        match cluster
            .client(1)
            .upgrade_finalize(UpgradeFinalizeRequest { level: 0 })
            .await
        {
            Ok(a) => break a.into_inner(),
            Err(s) if Instant::now() < deadline && s.code() == Code::FailedPrecondition => {
                refusals += 1;
                if last.as_deref() != Some(s.message()) {
                    eprintln!("upgrade: finalize refused for now: {}", s.message());
                    last = Some(s.message().to_string());
                }
            }
            Err(s) if Instant::now() < deadline && s.code() == Code::Unavailable => {}
            Err(s) => panic!("UpgradeFinalize with every member upgraded: {s}"),
        }
        // Polls until the leader has heard from every member.
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (level(answer.previous_level), answer.feature_level),
        (LEVEL_PREVIOUS, LEVEL_THIS),
        "{answer:?}"
    );
    assert!(answer.log_index > 0, "{answer:?}");
    let deadline = Instant::now() + LONG;
    loop {
        let all = statuses(cluster).await;
        if all
            .iter()
            .all(|s| s.feature_level == LEVEL_THIS && s.applied_index >= answer.log_index)
        {
            for s in &all {
                assert_eq!(s.supported_feature_level, LEVEL_THIS, "member {}", s.id);
                assert!(!s.version.is_empty(), "member {} reports no version", s.id);
            }
            return refusals;
        }
        assert!(
            Instant::now() < deadline,
            "not every member applied level {LEVEL_THIS}: {:?}",
            all.iter()
                .map(|s| (s.id, s.feature_level, s.applied_index))
                .collect::<Vec<_>>()
        );
        // Polls what each member reports it applied.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every running member runs this build, with auto-finalize off, and the leader has heard
/// what each supports; the level is still the previous one (nobody finalized).
async fn assert_all_upgraded(cluster: &Cluster) {
    let leader = cluster.wait_leader(LONG).await.expect("a leader");
    let deadline = Instant::now() + LONG;
    loop {
        let view = cluster.status(leader).await.expect("the leader answers");
        let known: Vec<_> = view
            .members
            .iter()
            .map(|m| (m.id, m.supported_feature_level))
            .collect();
        if known.iter().all(|(_, l)| *l == Some(LEVEL_THIS)) {
            break;
        }
        assert!(Instant::now() < deadline, "the leader's view: {known:?}");
        // Polls the leader's view of its members.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for s in statuses(cluster).await {
        assert_eq!(s.supported_feature_level, LEVEL_THIS, "member {}", s.id);
        assert!(
            !s.auto_finalize,
            "member {} ignored MOOR_UPGRADE_AUTO_FINALIZE",
            s.id
        );
        assert_eq!(
            level(s.feature_level),
            LEVEL_PREVIOUS,
            "member {}: raised without UpgradeFinalize",
            s.id
        );
    }
}

/// At this build's level: an update of one environment records one attempt per step, matching the step.
async fn assert_attempts_recorded(cluster: &Cluster, environment: &str) -> Execution {
    let mut w = workflow(cluster, 2);
    w.apply_blueprint(ApplyBlueprintRequest {
        source_name: "chain.yaml".into(),
        yaml: chain_blueprint("chain", 3, "v2"),
        validate_only: false,
    })
    .await
    .expect("apply v2");
    let id = w
        .start_execution(StartExecutionRequest {
            environment: environment.into(),
            kind: "update".into(),
            ..Default::default()
        })
        .await
        .expect("start the update")
        .into_inner()
        .id;
    let deadline = Instant::now() + LONG;
    let e = loop {
        let e = get_execution(cluster, 3, &id).await;
        if ExecState::parse(&e.state).is_some_and(|s| s.is_terminal()) {
            break e;
        }
        assert!(Instant::now() < deadline, "{id} did not end: {e:?}");
        // Polls the execution's reported state.
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(e.state, "succeeded", "{e:?}");
    assert!(!e.steps.is_empty(), "{e:?}");
    for s in &e.steps {
        let [a] = s.attempts.as_slice() else {
            panic!(
                "step {} of {id}: one attempt expected, got {:?}",
                s.index, s.attempts
            );
        };
        assert_eq!(
            (a.attempt, a.fence_token, a.outcome.as_str()),
            (1, s.fence_token, "succeeded"),
            "step {} of {id}: {a:?}",
            s.index
        );
        assert!(
            a.dispatched_ms > 0 && a.finished_ms >= a.dispatched_ms,
            "{a:?}"
        );
        assert!(
            a.result_term >= a.fence_token && a.error.is_empty(),
            "{a:?}"
        );
    }
    e
}

/// The attempts the rollout's steps recorded (those dispatched at this build's level) agree with the
/// steps; returns how many steps have them.
fn check_rollout_attempts(executions: &[Execution]) -> usize {
    let mut with = 0;
    for e in executions {
        for s in e.steps.iter().filter(|s| !s.attempts.is_empty()) {
            with += 1;
            let last = s.attempts.last().expect("not empty");
            assert_eq!(
                (last.attempt, last.fence_token, last.outcome.as_str()),
                (s.attempt, s.fence_token, s.state.as_str()),
                "step {} of {}: {:?}",
                s.index,
                e.id,
                s.attempts
            );
        }
    }
    with
}

/// Every acknowledged write reads back, linearizably, through the members in turn.
async fn assert_writes_survived(cluster: &Cluster, acked: &[(String, String)]) {
    let clients: Vec<_> = cluster
        .running()
        .iter()
        .map(|id| cluster.client(*id))
        .collect();
    let lost: Vec<String> = futures::stream::iter(acked.iter().enumerate())
        .map(|(i, (key, value))| {
            let mut c = clients[i % clients.len()].clone();
            async move {
                let kv = c
                    .get(get_request(key, ReadConsistency::Linearizable))
                    .await
                    .unwrap_or_else(|s| panic!("get {key}: {s}"))
                    .into_inner()
                    .kv;
                let found = kv.map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
                (found.as_ref() != Some(value)).then(|| format!("{key}: {found:?}"))
            }
        })
        .buffer_unordered(16)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}

/// Stops the members, then the sitesim, and checks WF2, WF3, WF5 on its journal against the
/// steps Moor recorded as done.
async fn check_journal(cluster: &mut Cluster, sim: SiteSimProc, executions: &[Execution]) {
    let mut site_of = BTreeMap::new();
    let mut w = workflow(cluster, 1);
    for e in executions {
        if !site_of.contains_key(&e.environment) {
            let env = w
                .get_environment(GetEnvironmentRequest {
                    name: e.environment.clone(),
                    stale: false,
                })
                .await
                .expect("get environment")
                .into_inner();
            site_of.insert(e.environment.clone(), env.site);
        }
    }
    let done = Fleet::done_steps(executions, |env| site_of[env].clone());
    for id in cluster.running() {
        cluster.stop_within(id, STOP_LIMIT).expect("stop member");
    }
    let journal = sim.journal.clone();
    sim.stop_within(Duration::from_secs(10))
        .expect("stop sitesim");
    let verdict = check_file(&journal, &done).expect("read the journal");
    assert!(verdict.is_clean(), "journal violations:\n{verdict}");
}

/// Three members of the previous release (`previous`), auto-finalize off (as
/// `MOOR_UPGRADE_AUTO_FINALIZE`: that release's config file refuses unknown keys), and a
/// sitesim whose steps take [`STEP_LATENCY_MS`]; the temporary dir holds its journal.
async fn start_previous(
    previous: &Path,
    settings: MemberSettings,
) -> (Cluster, SiteSimProc, tempfile::TempDir) {
    let launch = Launch {
        binary: Some(previous.to_path_buf()),
        env: vec![("MOOR_UPGRADE_AUTO_FINALIZE".into(), "false".into())],
    };
    let cluster = Cluster::start_launched(3, settings, launch).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sim = SiteSimProc::start(
        &dir.path().join("journal.jsonl"),
        &dir.path().join("sitesim.log"),
        cluster.security(),
        &["--latency-ms", STEP_LATENCY_MS],
    )
    .unwrap();
    (cluster, sim, dir)
}

/// Replaces every running member with `binary`, one at a time, followers first and the
/// leader last, each caught up and the writer acknowledged again before the next.
async fn replace_all(
    cluster: &mut Cluster,
    binary: &Path,
    writes: &Writes,
    rollout: &str,
) -> Vec<Replacement> {
    let mut left: BTreeSet<u64> = cluster.running().into_iter().collect();
    let mut done = Vec::new();
    while !left.is_empty() {
        let id = next_to_replace(cluster, &left).await;
        done.push(replace(cluster, id, binary, rollout).await);
        left.remove(&id);
        let before = writes.acked();
        let what = format!("with member {id} replaced by {}", binary.display());
        wait_acked_beyond(writes, before, &what).await;
    }
    assert!(
        done.last().is_some_and(|r| r.was_leader) && !done[0].was_leader,
        "followers first, the leader last"
    );
    done
}

/// The way back: three members of the previous release are replaced with this build
/// (auto-finalize off: the level stays 1), snapshots built every 200 entries so that each
/// release opens snapshots the other wrote. A rollout started through this build's leader
/// then spans the way back: each member is replaced by the previous release again,
/// followers first, the leader last. The previous release reads everything this build
/// wrote: writes are acknowledged throughout and every acknowledged one reads back, the
/// rollout ends with every target succeeded, and the sitesim's journal shows no step
/// applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn going_back_to_the_previous_release_before_the_level_rises() {
    let previous = previous_moord();
    let current = bin_dir().join("moord");
    let settings = MemberSettings {
        raft: vec!["snapshot_every_entries = 200".into()],
        ..MemberSettings::default()
    };
    let (mut cluster, sim, _dir) = start_previous(&previous, settings).await;
    let (writes, writer) = start_writer(&cluster);
    wait_acked_beyond(&writes, 0, "on the previous release").await;

    let up = replace_all(&mut cluster, &current, &writes, "").await;
    assert_all_upgraded(&cluster).await;
    let rollout = start_rollout(&cluster, &sim.addr).await;
    let r = get_rollout(&cluster, &rollout, "").await.expect("rollout");
    assert_eq!(r.state, "running", "{r:?}");

    let back = replace_all(&mut cluster, &previous, &writes, &rollout).await;
    assert!(
        back[0].rollout_succeeded < SITES as u32,
        "the rollout must span the way back: {} of {SITES} done before",
        back[0].rollout_succeeded
    );
    for s in statuses(&cluster).await {
        assert_eq!(
            (s.feature_level, s.supported_feature_level),
            (0, 0),
            "member {} is not back on the previous release",
            s.id
        );
    }
    let done = wait_rollout_ended(&cluster, &rollout).await;
    assert_eq!(
        (done.state.as_str(), done.succeeded, done.failed, done.total),
        ("succeeded", SITES as u32, 0, SITES as u32),
        "{done:?}"
    );
    let executions = child_executions(&cluster, 1, &rollout).await;
    assert_eq!(executions.len(), SITES);

    writes.stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let acked = writes.acked.lock().unwrap().clone();
    assert_writes_survived(&cluster, &acked).await;
    check_journal(&mut cluster, sim, &executions).await;
    for (way, replaced) in [("up", &up), ("back", &back)] {
        for r in replaced {
            println!(
                "way back: {way}: member {}{} replaced and caught up in {:.1?} (rollout: {} \
                 of {SITES} targets done before)",
                r.id,
                if r.was_leader { " (leader)" } else { "" },
                r.total,
                r.rollout_succeeded
            );
        }
    }
    println!(
        "way back: rollout {} {}/{} succeeded; writes: {} acknowledged (all read back), {} \
         failed or unknown",
        done.id,
        done.succeeded,
        done.total,
        acked.len(),
        writes.not_acked.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_upgrade_under_a_rollout_and_writes_then_finalize() {
    let previous = previous_moord();
    let current = bin_dir().join("moord");
    let (mut cluster, sim, _dir) = start_previous(&previous, MemberSettings::default()).await;
    // The previous release knows nothing of feature levels: it reports none.
    for s in statuses(&cluster).await {
        assert_eq!(
            (s.feature_level, s.supported_feature_level),
            (0, 0),
            "member {} does not run the previous release ({})",
            s.id,
            previous.display()
        );
    }
    let rollout = start_rollout(&cluster, &sim.addr).await;
    let (writes, writer) = start_writer(&cluster);
    wait_acked_beyond(&writes, 0, "on the previous release").await;

    let mut old: BTreeSet<u64> = cluster.running().into_iter().collect();
    let mut new = BTreeSet::new();
    let mut replaced = Vec::new();
    while !old.is_empty() {
        let id = next_to_replace(&cluster, &old).await;
        if replaced.is_empty() {
            let r = get_rollout(&cluster, &rollout, "").await.expect("rollout");
            assert_eq!(
                r.state, "running",
                "the rollout must span the upgrade: {r:?}"
            );
        }
        replaced.push(replace(&mut cluster, id, &current, &rollout).await);
        old.remove(&id);
        new.insert(id);
        let before = writes.acked();
        wait_acked_beyond(&writes, before, &format!("with {new:?} upgraded")).await;
        if !old.is_empty() {
            assert_not_finalizable(&cluster, &new, &old).await;
        }
        assert_no_attempts(&cluster, &rollout).await;
    }
    assert!(
        replaced.last().is_some_and(|r| r.was_leader) && !replaced[0].was_leader,
        "followers first, the leader last"
    );
    assert_all_upgraded(&cluster).await;
    assert_no_attempts(&cluster, &rollout).await;
    let succeeded_at_finalize = get_rollout(&cluster, &rollout, "")
        .await
        .map(|r| r.succeeded);
    let refusals = finalize(&cluster).await;

    let done = wait_rollout_ended(&cluster, &rollout).await;
    assert_eq!(
        (done.state.as_str(), done.succeeded, done.failed, done.total),
        ("succeeded", SITES as u32, 0, SITES as u32),
        "{done:?}"
    );
    let mut executions = child_executions(&cluster, 1, &rollout).await;
    let with_attempts = check_rollout_attempts(&executions);
    let update = assert_attempts_recorded(&cluster, &executions[0].environment).await;
    executions.push(update.clone());

    writes.stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let acked = writes.acked.lock().unwrap().clone();
    assert_writes_survived(&cluster, &acked).await;
    check_journal(&mut cluster, sim, &executions).await;

    println!(
        "upgrade: previous {} -> {}",
        previous.display(),
        current.display()
    );
    for r in &replaced {
        println!(
            "upgrade: member {}{}: stop {:.1?}{}, replaced and caught up in {:.1?} (rollout: \
             {} of {SITES} targets done before)",
            r.id,
            if r.was_leader { " (leader)" } else { "" },
            r.stop,
            if r.killed {
                " (KILLED: did not stop)"
            } else {
                ""
            },
            r.total,
            r.rollout_succeeded
        );
    }
    println!(
        "upgrade: finalized to level {LEVEL_THIS} after {refusals} early refusals, with \
         {succeeded_at_finalize:?} of {SITES} targets done; rollout {} {}/{} succeeded, {} of \
         its steps dispatched at level {LEVEL_THIS} with attempts; update {} {} steps, one \
         attempt each",
        done.id,
        done.succeeded,
        done.total,
        with_attempts,
        update.id,
        update.steps.len()
    );
    println!(
        "upgrade: writes: {} acknowledged (all read back), {} failed or unknown",
        acked.len(),
        writes.not_acked.load(Ordering::Relaxed)
    );
}

#[test]
fn named_members_reads_ids_not_levels() {
    let named = |m: &str| named_members(m).into_iter().collect::<Vec<_>>();
    assert_eq!(named("member 3 supports level 1"), vec![3]);
    assert_eq!(
        named("members 1, 3 (level 1) have not answered"),
        vec![1, 3]
    );
    assert_eq!(
        named("member-2 runs level 1; member 1 and 3 too"),
        vec![1, 2, 3]
    );
    assert_eq!(named("level 1 everywhere"), Vec::<u64>::new());
}
