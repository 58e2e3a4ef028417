//! Real sites: a 3-member cluster rolls a blueprint of `agent.file` and `agent.command`
//! resources out over 20 real `moor-agent` processes (mutual TLS, members only), one agent
//! is SIGKILLed while a step's command runs at it and restarted on the same data dir, and
//! every site ends with its files written and each command's effect applied exactly once
//! (a counter file per site). Then a hand edit of a file is found by a drift check and
//! healed by policy.

use std::time::{Duration, Instant};

use moor_jepsen_like_tests::agent_proc::AgentProc;
use moor_jepsen_like_tests::fleet::Fleet;
use moor_jepsen_like_tests::harness::MemberSettings;
use moor_proto::rollout::StartRolloutRequest;
use moor_proto::workflow::{
    DriftPolicy, GetEnvironmentRequest, PutSiteRequest, SetEnvironmentDriftRequest, Site,
};

const SITES: usize = 20;
/// The site whose agent is killed mid-step.
const VICTIM: usize = 7;

/// A file, then a command that marks its start, takes a while, and appends one line: a step
/// the agent is killed in the middle of leaves `started` but no line.
const BLUEPRINT: &str = r#"
name: files
inputs:
  v: { type: string, default: "1" }
resources:
  - name: conf
    type: agent.file
    properties: { path: "app/app.conf", content: "version=${inputs.v}\n", mode: "0640" }
  - name: mark
    type: agent.command
    depends_on: [conf]
    properties:
      shell: true
      apply: "touch started; sleep 1; echo applied >> applied.log"
      timeout_s: 30
"#;

fn wait_for(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_over_real_agents_survives_a_killed_agent_and_applies_each_effect_once() {
    // The sitesim is not used: every site here is a real agent.
    let fleet = Fleet::start(3, MemberSettings::default(), &[])
        .await
        .unwrap();
    let mut agents = Vec::new();
    for i in 0..SITES {
        let site = format!("agent-{i:02}");
        let dir = fleet.dir.join(&site);
        agents.push(AgentProc::start(&site, &dir, fleet.cluster.security()).unwrap());
    }
    let mut wf = fleet.workflow(0);
    for (i, agent) in agents.iter().enumerate() {
        wf.put_site(PutSiteRequest {
            site: Some(Site {
                name: agent.site.clone(),
                region: ["europe", "americas", "asia"][i % 3].into(),
                latitude: i as f64,
                longitude: i as f64,
                labels: [("tier".to_string(), "agents".to_string())].into(),
                agent_endpoint: agent.addr.clone(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    }
    fleet.apply_blueprint(BLUEPRINT).await.unwrap();
    fleet
        .put_group("agents", "sites", &[("tier", "agents")])
        .await
        .unwrap();
    let rollout = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "agents".into(),
            action: "install".into(),
            blueprint: "files".into(),
            environment_name: "files-{site}".into(),
            max_parallel: SITES as i64,
            max_attempts: 10,
            backoff_base_ms: 100,
            backoff_max_ms: 1_000,
            step_timeout_ms: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // Kill the victim while its command runs (it has started, it has not appended), then
    // bring it back on the same address and data dir.
    let started = agents[VICTIM].root.join("started");
    wait_for(
        "the victim's command starting",
        Duration::from_secs(60),
        || started.exists(),
    );
    agents[VICTIM].kill().unwrap();
    assert!(
        !agents[VICTIM].root.join("applied.log").exists(),
        "the command finished before the kill: the test proves nothing"
    );
    agents[VICTIM].restart().unwrap();

    let done = fleet
        .wait_rollout(&rollout.id, Duration::from_secs(120), "succeeded", |r| {
            r.state == "succeeded"
        })
        .await
        .unwrap();
    assert_eq!((done.succeeded, done.failed), (SITES as u32, 0), "{done:?}");

    for agent in &agents {
        let conf = std::fs::read_to_string(agent.root.join("app/app.conf")).unwrap();
        assert_eq!(conf, "version=1\n", "{}", agent.site);
        let applied = std::fs::read_to_string(agent.root.join("applied.log")).unwrap();
        assert_eq!(
            applied.lines().count(),
            1,
            "{}: the command's effect was applied {} times",
            agent.site,
            applied.lines().count()
        );
    }
    // The victim's step needed more than one attempt: the kill really hit it in flight.
    let children = fleet.child_executions(&rollout.id).await.unwrap();
    let victim_env = format!("files-{}", agents[VICTIM].site);
    let victim = children
        .iter()
        .find(|e| e.environment == victim_env)
        .unwrap();
    let mark = victim.steps.iter().find(|s| s.resource == "mark").unwrap();
    assert!(mark.attempt > 1, "{mark:?}");

    // A hand edit at a real site is drift, and a heal policy repairs it.
    let edited = agents[3].root.join("app/app.conf");
    std::fs::write(&edited, "version=hacked\n").unwrap();
    let env = format!("files-{}", agents[3].site);
    wf.set_environment_drift(SetEnvironmentDriftRequest {
        environment: env.clone(),
        drift: Some(DriftPolicy {
            check_every_ms: 1_000,
            on_drift: "heal".into(),
            max_heals_per_hour: 4,
        }),
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = wf
            .get_environment(GetEnvironmentRequest {
                name: env.clone(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner();
        if e.heals_last_hour == 1 && e.status == "in_sync" {
            break;
        }
        assert!(Instant::now() < deadline, "not healed: {e:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), "version=1\n");
    // The heal touched only the file: the command did not run again.
    let applied = std::fs::read_to_string(agents[3].root.join("applied.log")).unwrap();
    assert_eq!(applied.lines().count(), 1);
}
