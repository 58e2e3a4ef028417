//! Workflows end to end: a real 3-member cluster, a real `moor-sitesim`, blueprints, sites,
//! environments and executions driven over the workflow API, the leader killed or paused
//! mid-run, and the sitesim journal checked for WF1–WF5 afterwards.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use moor_jepsen_like_tests::checkers::journal::{check_file, DoneStep};
use moor_jepsen_like_tests::harness::{connect, Cluster, MemberSettings, SiteSimProc};
use moor_proto::site::site_sim_admin_client::SiteSimAdminClient;
use moor_proto::site::{InjectDriftRequest, SetUnreachableRequest};
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::*;
use tonic::transport::Channel;
use tonic::Code;

const ELECTION: Duration = Duration::from_secs(20);

/// A blueprint with a fan-out: `base`, then `a`, `b`, `c` in parallel, then `top`.
fn blueprint(name: &str, version: &str) -> String {
    format!(
        "name: {name}\ndescription: test\ninputs:\n  v: {{ type: string, default: \"{version}\" }}\nresources:\n  - name: base\n    type: sim.resource\n    properties: {{ v: \"${{inputs.v}}\" }}\n  - name: a\n    type: sim.resource\n    depends_on: [base]\n    properties: {{ v: \"{version}\" }}\n  - name: b\n    type: sim.resource\n    depends_on: [base]\n    properties: {{ k: 1 }}\n  - name: c\n    type: sim.resource\n    depends_on: [base]\n    properties: {{ v: \"{version}-c\" }}\n  - name: top\n    type: sim.resource\n    depends_on: [a, b, c]\n    properties: {{ v: \"{version}\" }}\n"
    )
}

fn wf(cluster: &Cluster, id: u64) -> WorkflowApiClient<Channel> {
    WorkflowApiClient::new(connect(cluster.addr(id), cluster.security()).connect_lazy())
}

struct World {
    cluster: Cluster,
    sim: Option<SiteSimProc>,
    dir: tempfile::TempDir,
}

impl World {
    async fn start(sim_args: &[&str]) -> World {
        World::start_with(sim_args, MemberSettings::default()).await
    }

    async fn start_with(sim_args: &[&str], settings: MemberSettings) -> World {
        let dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::start(3, settings).await.unwrap();
        // With the cluster's site certificate: the members call it over mutual TLS.
        let sim = SiteSimProc::start(
            &dir.path().join("journal.jsonl"),
            &dir.path().join("sitesim.log"),
            cluster.security(),
            sim_args,
        )
        .unwrap();
        World {
            cluster,
            sim: Some(sim),
            dir,
        }
    }

    fn sim_addr(&self) -> String {
        self.sim.as_ref().unwrap().addr.clone()
    }

    /// The sitesim's test-control service.
    fn sim_admin(&self) -> SiteSimAdminClient<Channel> {
        self.sim.as_ref().unwrap().admin()
    }

    /// Any running member's client.
    fn client(&self) -> WorkflowApiClient<Channel> {
        wf(&self.cluster, self.cluster.running()[0])
    }

    async fn sites(&self, n: usize) -> Vec<String> {
        let mut names = Vec::new();
        for i in 0..n {
            let name = format!("site-{i:03}");
            self.client()
                .put_site(PutSiteRequest {
                    site: Some(Site {
                        name: name.clone(),
                        region: ["europe", "americas", "asia"][i % 3].into(),
                        latitude: (i as f64 * 7.0) % 80.0,
                        longitude: (i as f64 * 13.0) % 170.0,
                        labels: Default::default(),
                        agent_endpoint: self.sim_addr(),
                        ..Default::default()
                    }),
                })
                .await
                .unwrap();
            names.push(name);
        }
        names
    }

    async fn execution(&self, id: &str) -> Execution {
        self.client()
            .get_execution(GetExecutionRequest {
                id: id.into(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Waits until execution `id` has a step dispatched or done.
    async fn wait_in_flight(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let e = self.execution(id).await;
            if e.steps_succeeded > 0 || e.steps_running > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "nothing was dispatched");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every execution in `ids` reached one of `states`.
    async fn wait_states(&self, ids: &[String], states: &[&str]) -> Vec<Execution> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut all = Vec::new();
            let mut c = self.client();
            for id in ids {
                match c
                    .get_execution(GetExecutionRequest {
                        id: id.clone(),
                        stale: false,
                    })
                    .await
                {
                    Ok(e) => all.push(e.into_inner()),
                    Err(s) if s.code() == Code::Unavailable => break,
                    Err(s) => panic!("get {id}: {s}"),
                }
            }
            if all.len() == ids.len() && all.iter().all(|e| states.contains(&e.state.as_str())) {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "executions did not reach {states:?}: {:?}",
                all.iter()
                    .map(|e| (&e.id, &e.state, &e.error))
                    .collect::<Vec<_>>()
            );
            // Polls state the cluster reports; steps take tens of milliseconds each.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the sitesim (flushing its journal) and checks WF2, WF3, WF5 against the steps
    /// Moor recorded as succeeded.
    async fn check_journal(&mut self, executions: &[Execution]) {
        let mut c = self.client();
        let mut done = Vec::new();
        for e in executions {
            let env = c
                .get_environment(GetEnvironmentRequest {
                    name: e.environment.clone(),
                    stale: false,
                })
                .await
                .unwrap()
                .into_inner();
            for s in &e.steps {
                if s.state == "succeeded" {
                    done.push(DoneStep {
                        execution_id: e.id.clone(),
                        step: s.index,
                        site: env.site.clone(),
                    });
                }
            }
        }
        let journal = self.sim.as_ref().unwrap().journal.clone();
        self.sim.take().unwrap().stop().unwrap();
        let verdict = check_file(&journal, &done).unwrap();
        assert!(verdict.is_clean(), "journal violations:\n{verdict}");
        assert!(!done.is_empty());
    }
}

async fn create_envs(w: &World, sites: &[String], blueprint: &str) -> Vec<String> {
    let retry = RetryPolicy {
        max_attempts: 5,
        backoff_base_ms: 50,
        backoff_max_ms: 500,
        step_timeout_ms: 2000,
    };
    create_envs_with(w, sites, blueprint, retry).await
}

async fn create_envs_with(
    w: &World,
    sites: &[String],
    blueprint: &str,
    retry: RetryPolicy,
) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let r = w
            .client()
            .create_environment(CreateEnvironmentRequest {
                name: format!("env-{i:03}"),
                site: site.clone(),
                blueprint: blueprint.into(),
                revision: 0,
                inputs_json: "{}".into(),
                labels: Default::default(),
                retry: Some(retry),
                drift: None,
            })
            .await
            .unwrap()
            .into_inner();
        ids.push(r.id);
    }
    ids
}

async fn apply_blueprint(w: &World, yaml: &str) -> u64 {
    w.client()
        .apply_blueprint(ApplyBlueprintRequest {
            source_name: "test.yaml".into(),
            yaml: yaml.into(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .revision
}

fn journal_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_mid_install_new_leader_finishes_and_journal_holds_wf1_to_wf5() {
    let mut w = World::start(&["--latency-ms", "60", "--latency-jitter-ms", "40"]).await;
    apply_blueprint(&w, &blueprint("app", "1")).await;
    let sites = w.sites(12).await;
    let ids = create_envs(&w, &sites, "app").await;

    // Kill the leader once steps are in flight.
    let leader = w.cluster.wait_leader(ELECTION).await.unwrap();
    let old_term = w.cluster.status(leader).await.unwrap().term;
    w.wait_in_flight(&ids[ids.len() - 1]).await;
    w.cluster.kill(leader).unwrap();
    let survivors = w.cluster.running();
    let new_leader = w
        .cluster
        .wait_leader_among(&survivors, ELECTION)
        .await
        .unwrap();
    assert_ne!(new_leader, leader);

    let execs = w.wait_states(&ids, &["succeeded"]).await;
    for e in &execs {
        assert_eq!(e.steps_succeeded, 5, "{e:?}");
    }
    // The new leader really took over mid-run: it dispatched steps with its own, higher
    // fence token (otherwise the old leader had finished everything and this proves nothing).
    let taken_over = execs
        .iter()
        .flat_map(|e| &e.steps)
        .filter(|s| s.fence_token > old_term)
        .count();
    assert!(taken_over > 0, "no step was dispatched by the new leader");
    // The old leader comes back as a follower and does not disturb anything.
    w.cluster.restart(leader).unwrap();
    w.cluster.wait_leader(ELECTION).await.unwrap();
    w.check_journal(&execs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_leader_is_fenced_out_after_a_new_leader_took_over() {
    let mut w = World::start(&["--latency-ms", "150", "--latency-jitter-ms", "50"]).await;
    apply_blueprint(&w, &blueprint("app", "1")).await;
    let sites = w.sites(8).await;
    let ids = create_envs(&w, &sites, "app").await;
    let leader = w.cluster.wait_leader(ELECTION).await.unwrap();
    // Pause the leader with calls in flight, let another member take over and finish.
    w.wait_in_flight(&ids[ids.len() - 1]).await;
    w.cluster.signal(leader, libc::SIGSTOP).unwrap();
    let survivors: Vec<u64> = w
        .cluster
        .running()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let new_leader = w
        .cluster
        .wait_leader_among(&survivors, ELECTION)
        .await
        .unwrap();
    assert_ne!(new_leader, leader);
    let client = wf(&w.cluster, new_leader);
    let mut c = client.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut done = 0;
        for id in &ids {
            let e = c
                .get_execution(GetExecutionRequest {
                    id: id.clone(),
                    stale: true,
                })
                .await
                .unwrap()
                .into_inner();
            done += (e.state == "succeeded") as usize;
        }
        if done == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "executions did not finish under the new leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The zombie wakes up: whatever it still sends carries its old token and is refused.
    w.cluster.signal(leader, libc::SIGCONT).unwrap();
    w.cluster.wait_leader(ELECTION).await.unwrap();
    let execs = w.wait_states(&ids, &["succeeded"]).await;
    w.check_journal(&execs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_site_failure_touches_only_failed_steps() {
    let mut w = World::start(&["--latency-ms", "5"]).await;
    apply_blueprint(&w, &blueprint("app", "1")).await;
    let sites = w.sites(2).await;
    let mut admin = w.sim_admin();
    admin
        .set_unreachable(SetUnreachableRequest {
            site: sites[1].clone(),
            unreachable: true,
        })
        .await
        .unwrap();
    let retry = RetryPolicy {
        max_attempts: 2,
        backoff_base_ms: 20,
        backoff_max_ms: 50,
        step_timeout_ms: 300,
    };
    let ids = create_envs_with(&w, &sites, "app", retry).await;
    let execs = w.wait_states(&ids, &["succeeded", "failed"]).await;
    assert_eq!(execs[0].state, "succeeded");
    let failed = &execs[1];
    assert_eq!(failed.state, "failed");
    assert!(failed.error.contains("base"), "{}", failed.error);
    // Resuming a running or succeeded execution is refused and changes nothing.
    let err = w
        .client()
        .resume_execution(ExecutionActionRequest { id: ids[0].clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    // Heal the site, resume: only the failed step and those after it run.
    admin
        .set_unreachable(SetUnreachableRequest {
            site: sites[1].clone(),
            unreachable: false,
        })
        .await
        .unwrap();
    // Make the first environment's steps recognisable: they must not run again.
    let before = w.execution(&ids[0]).await;
    w.client()
        .resume_execution(ExecutionActionRequest { id: ids[1].clone() })
        .await
        .unwrap();
    let execs = w.wait_states(&ids, &["succeeded"]).await;
    assert_eq!(
        execs[0].steps, before.steps,
        "the succeeded execution was touched"
    );
    w.check_journal(&execs).await;
    // Each step of the healed environment applied exactly once at its site.
    let lines = journal_lines(&w.dir.path().join("journal.jsonl"));
    let applied_for = |exec: &str| {
        lines
            .iter()
            .filter(|l| l["execution_id"] == exec && l["outcome"] == "applied")
            .count()
    };
    assert_eq!(applied_for(&ids[1]), 5);
    assert_eq!(applied_for(&ids[0]), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_then_rollback_restores_the_previous_revision() {
    let mut w = World::start(&["--latency-ms", "2"]).await;
    apply_blueprint(&w, &blueprint("app", "1")).await;
    let sites = w.sites(1).await;
    let ids = create_envs(&w, &sites, "app").await;
    w.wait_states(&ids, &["succeeded"]).await;
    let env = |w: &World| {
        let mut c = w.client();
        async move {
            c.get_environment(GetEnvironmentRequest {
                name: "env-000".into(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner()
        }
    };
    let v1 = env(&w).await;
    assert_eq!((v1.revision, v1.status.as_str()), (1, "in_sync"));

    // Rollback without a previous revision is refused.
    let err = w
        .client()
        .rollback(RollbackRequest {
            environment: "env-000".into(),
            retry: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");

    assert_eq!(apply_blueprint(&w, &blueprint("app", "2")).await, 2);
    let up = w
        .client()
        .start_execution(StartExecutionRequest {
            environment: "env-000".into(),
            kind: "update".into(),
            revision: 0,
            inputs_json: None,
            retry: None,
        })
        .await
        .unwrap()
        .into_inner();
    let done = w
        .wait_states(std::slice::from_ref(&up.id), &["succeeded"])
        .await;
    // base (input default), a, c and top changed; b did not.
    assert_eq!(done[0].steps_total, 4, "{:?}", done[0].steps);
    assert!(done[0]
        .steps
        .iter()
        .all(|s| s.action == "modify" && s.resource != "b"));
    let v2 = env(&w).await;
    assert_eq!(v2.revision, 2);

    let rb = w
        .client()
        .rollback(RollbackRequest {
            environment: "env-000".into(),
            retry: None,
        })
        .await
        .unwrap()
        .into_inner();
    w.wait_states(&[rb.id], &["succeeded"]).await;
    let back = env(&w).await;
    assert_eq!(back.revision, 1);
    let digests = |e: &Environment| {
        e.resources
            .iter()
            .map(|r| (r.name.clone(), r.applied_digest.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        digests(&back),
        digests(&v1),
        "rollback did not restore revision 1"
    );
    assert_ne!(digests(&v2), digests(&v1));
    let all: Vec<Execution> = {
        let mut c = w.client();
        let list = c
            .list_executions(ListExecutionsRequest {
                environment: String::new(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner()
            .executions;
        let mut full = Vec::new();
        for e in list {
            full.push(w.execution(&e.id).await);
        }
        full
    };
    w.check_journal(&all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_dispatch_and_bad_requests_change_nothing() {
    let mut w = World::start(&["--latency-ms", "400"]).await;
    apply_blueprint(&w, &blueprint("app", "1")).await;
    let sites = w.sites(1).await;
    let ids = create_envs(&w, &sites, "app").await;
    // Wait for the first step to be dispatched, then cancel.
    let deadline = Instant::now() + Duration::from_secs(20);
    while w.execution(&ids[0]).await.steps_running == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.client()
        .cancel_execution(ExecutionActionRequest { id: ids[0].clone() })
        .await
        .unwrap();
    let e = w.wait_states(&ids, &["cancelled"]).await.remove(0);
    // Wait for the in-flight step to report, then nothing else may ever run.
    let deadline = Instant::now() + Duration::from_secs(20);
    let e = loop {
        let e2 = w.execution(&e.id).await;
        if e2.steps_running == 0 {
            break e2;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let skipped: Vec<u32> = e
        .steps
        .iter()
        .filter(|s| s.state == "skipped")
        .map(|s| s.index)
        .collect();
    assert_eq!(skipped.len(), 4, "{:?}", e.steps);

    // Bad input: invalid blueprint with positions, unknown environment, unknown site,
    // resume of a cancelled execution.
    let err = w
        .client()
        .apply_blueprint(ApplyBlueprintRequest {
            source_name: "bad.yaml".into(),
            yaml: "name: bad\nresources:\n  - name: x\n    type: nope.thing\n".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("bad.yaml:4:"), "{}", err.message());
    let err = w
        .client()
        .start_execution(StartExecutionRequest {
            environment: "nope".into(),
            kind: "heal".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = w
        .client()
        .create_environment(CreateEnvironmentRequest {
            name: "e2".into(),
            site: "nowhere".into(),
            blueprint: "app".into(),
            inputs_json: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("apply -f"), "{}", err.message());
    let err = w
        .client()
        .resume_execution(ExecutionActionRequest { id: ids[0].clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let list = w
        .client()
        .list_environments(ListEnvironmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        list.environments.len(),
        1,
        "a refused request created an environment"
    );

    // No step was applied at the site after the cancel: only the steps Moor shows as
    // dispatched before it (not skipped) appear in the journal.
    w.check_journal(std::slice::from_ref(&e)).await;
    let lines = journal_lines(&w.dir.path().join("journal.jsonl"));
    for l in &lines {
        if l["execution_id"] == e.id.as_str() {
            let step = l["step"].as_u64().unwrap() as u32;
            assert!(
                !skipped.contains(&step),
                "skipped step {step} reached the site: {l}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_observed_and_heal_repairs_only_the_drifted_resource() {
    let settings = MemberSettings {
        executor: vec!["drift_check_interval_ms = 200".into()],
        ..Default::default()
    };
    let mut w = World::start_with(&["--latency-ms", "2"], settings).await;
    apply_blueprint(&w, &blueprint("app", "1")).await;
    let sites = w.sites(1).await;
    let ids = create_envs(&w, &sites, "app").await;
    w.wait_states(&ids, &["succeeded"]).await;

    let mut admin = w.sim_admin();
    admin
        .inject_drift(InjectDriftRequest {
            site: sites[0].clone(),
            environment: "env-000".into(),
            resource: "b".into(),
        })
        .await
        .unwrap();
    // The leader's drift check notices it and records the observed digest.
    let deadline = Instant::now() + Duration::from_secs(20);
    let env = loop {
        let env = w
            .client()
            .get_environment(GetEnvironmentRequest {
                name: "env-000".into(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner();
        if env.status == "drifted" {
            break env;
        }
        assert!(Instant::now() < deadline, "drift not detected: {env:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let drifted: Vec<&str> = env
        .resources
        .iter()
        .filter(|r| r.drifted)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(drifted, ["b"]);

    let heal = w
        .client()
        .start_execution(StartExecutionRequest {
            environment: "env-000".into(),
            kind: "heal".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let done = w
        .wait_states(std::slice::from_ref(&heal.id), &["succeeded"])
        .await;
    assert_eq!(done[0].steps_total, 1, "{:?}", done[0].steps);
    assert_eq!(done[0].steps[0].resource, "b");
    let env = w
        .client()
        .get_environment(GetEnvironmentRequest {
            name: "env-000".into(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(env.status, "in_sync");
    let mut all = Vec::new();
    for id in ids.iter().chain([&heal.id]) {
        all.push(w.execution(id).await);
    }
    w.check_journal(&all).await;
}

/// Reads environment `name` (linearizable).
async fn env(w: &World, name: &str) -> Environment {
    w.client()
        .get_environment(GetEnvironmentRequest {
            name: name.into(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Polls environment `name` until `done` holds for it (state the cluster reports; drift
/// checks run on their own schedule).
async fn wait_env(
    w: &World,
    name: &str,
    what: &str,
    done: impl Fn(&Environment) -> bool,
) -> Environment {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = env(w, name).await;
        if done(&e) {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {what} did not happen: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The heal executions of environment `name`.
async fn heals_of(w: &World, name: &str) -> Vec<Execution> {
    w.client()
        .list_executions(ListExecutionsRequest {
            environment: name.into(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner()
        .executions
        .into_iter()
        .filter(|e| e.kind == "heal")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heal_policy_heals_drift_by_itself_until_the_hourly_cap() {
    let mut w = World::start(&["--latency-ms", "2"]).await;
    apply_blueprint(&w, &blueprint("app", "1")).await;
    let sites = w.sites(1).await;
    let ids = create_envs(&w, &sites, "app").await;
    w.wait_states(&ids, &["succeeded"]).await;
    // The members' default interval (30 s) is far longer: the checks that matter are the
    // policy's.
    let e = w
        .client()
        .set_environment_drift(SetEnvironmentDriftRequest {
            environment: "env-000".into(),
            drift: Some(DriftPolicy {
                check_every_ms: 1_000,
                on_drift: "heal".into(),
                max_heals_per_hour: 2,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(e.drift_policy_source, "environment");
    assert_eq!(e.effective_drift.unwrap().max_heals_per_hour, 2);

    let mut admin = w.sim_admin();
    for round in 1..=2u32 {
        admin
            .inject_drift(InjectDriftRequest {
                site: sites[0].clone(),
                environment: "env-000".into(),
                resource: "b".into(),
            })
            .await
            .unwrap();
        let healed = wait_env(&w, "env-000", "heal", |e| {
            e.heals_last_hour == round && e.status == "in_sync"
        })
        .await;
        assert!(healed.heal_suspended.is_empty(), "{healed:?}");
        let heals = heals_of(&w, "env-000").await;
        assert_eq!(heals.len(), round as usize);
        let last = w.execution(&heals[heals.len() - 1].id).await;
        assert_eq!(last.state, "succeeded");
        // A heal repairs only the drifted resource.
        let touched: Vec<&str> = last.steps.iter().map(|s| s.resource.as_str()).collect();
        assert_eq!(touched, ["b"], "{last:?}");
    }

    // The third drift within the hour: reported, not healed, and the reason is shown.
    admin
        .inject_drift(InjectDriftRequest {
            site: sites[0].clone(),
            environment: "env-000".into(),
            resource: "b".into(),
        })
        .await
        .unwrap();
    let capped = wait_env(&w, "env-000", "heal cap", |e| !e.heal_suspended.is_empty()).await;
    assert_eq!(capped.status, "drifted");
    assert_eq!(capped.heals_last_hour, 2);
    assert!(
        capped
            .heal_suspended
            .contains("moorctl exec start env-000 --kind heal"),
        "{}",
        capped.heal_suspended
    );
    // The diff asks the site now and names the field the hand edit added.
    let diff = w
        .client()
        .diff_environment(EnvironmentDiffRequest {
            name: "env-000".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let b = diff.resources.iter().find(|r| r.resource == "b").unwrap();
    assert_eq!(b.state, "drifted");
    assert!(
        b.fields
            .iter()
            .any(|f| f.path == "/_drift" && f.desired_json.is_empty()),
        "{b:?}"
    );
    assert!(
        diff.resources
            .iter()
            .filter(|r| r.resource != "b")
            .all(|r| r.state == "in_sync"),
        "{diff:?}"
    );
    // Checks go on, and still heal nothing while capped.
    let after = heals_of(&w, "env-000").await;
    assert_eq!(after.len(), 2);

    let mut all = Vec::new();
    for id in ids.iter().chain(after.iter().map(|e| &e.id)) {
        all.push(w.execution(id).await);
    }
    w.check_journal(&all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_racing_drift_checks_record_no_false_drift() {
    // Every environment is checked every second under a heal policy, so an observation
    // recorded with a stale resource set would show as a heal execution (a permanent
    // record), not only as a passing `drifted` status. The site is slow to answer, so
    // checks overlap the updates' steps.
    let mut w = World::start(&["--latency-ms", "15"]).await;
    apply_blueprint(&w, &blueprint("app", "1")).await;
    let sites = w.sites(12).await;
    let ids = create_envs(&w, &sites, "app").await;
    w.wait_states(&ids, &["succeeded"]).await;
    let mut rollouts = moor_proto::rollout::rollout_api_client::RolloutApiClient::new(
        connect(w.cluster.addr(w.cluster.running()[0]), w.cluster.security()).connect_lazy(),
    );
    rollouts
        .put_group(moor_proto::rollout::PutGroupRequest {
            group: Some(moor_proto::rollout::Group {
                name: "all".into(),
                kind: "environments".into(),
                drift_check_every_ms: 1_000,
                drift_on_drift: "heal".into(),
                drift_max_heals_per_hour: 10,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    assert_eq!(env(&w, "env-000").await.drift_policy_source, "group all");
    let mut all = Vec::new();
    for version in 2..=5 {
        apply_blueprint(&w, &blueprint("app", &version.to_string())).await;
        let mut round = Vec::new();
        for i in 0..sites.len() {
            let r = w
                .client()
                .start_execution(StartExecutionRequest {
                    environment: format!("env-{i:03}"),
                    kind: "update".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            round.push(r.id);
        }
        all.extend(w.wait_states(&round, &["succeeded"]).await);
    }
    // Let the checks run over the settled environments too: wait until the site has
    // answered two more observes per environment than when the last round ended.
    let observed = |w: &World| {
        let mut admin = w.sim_admin();
        async move {
            admin
                .stats(moor_proto::site::SiteSimStatsRequest {})
                .await
                .unwrap()
                .into_inner()
        }
    };
    let settled = observed(&w).await.observed;
    let deadline = Instant::now() + Duration::from_secs(30);
    while observed(&w).await.observed < settled + 2 * sites.len() as u64 {
        assert!(Instant::now() < deadline, "drift checks stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 0..sites.len() {
        let name = format!("env-{i:03}");
        let e = env(&w, &name).await;
        assert_eq!(e.status, "in_sync", "{e:?}");
        assert!(
            heals_of(&w, &name).await.is_empty(),
            "{name} was healed from a false drift"
        );
    }
    let stats = observed(&w).await;
    assert_eq!(stats.drift_injected, 0);
    for id in &ids {
        all.push(w.execution(id).await);
    }
    w.check_journal(&all).await;
}
