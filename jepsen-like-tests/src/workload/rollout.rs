//! The rollout workload: one blueprint, a few hundred `moor-sitesim` sites, and one bulk
//! install rollout over all of them (RolloutApi), its parallelism chosen so the rollout runs
//! through the fault window; after the faults heal the rollout must end, every execution must
//! reach an end state and the sitesim journal must hold WF1–WF5.
//!
//! `rollout-agents` is the same with [`AGENT_SITES`] sites spread over the rollout's order
//! ([`agent_site_indexes`]) served by real `moor-agent` processes: its blueprint is made of `agent.command` resources (the sitesim
//! takes any type), each command appending one line per run to `effects.log` in its agent's
//! root, after a short sleep, with the call it ran for. The agents' journals join the
//! sitesim's for WF2/WF3/WF5, and [`agent_effects`] checks the effects themselves: at most
//! one run per step once the agent has recorded it, and a run behind every step Moor counts
//! as done.
//!
//! The rollout submission is recorded in the history as one `Add` op per environment it
//! creates, on key [`ROLLOUT_KEY`] (value = environment index), all completed with the
//! submission's outcome; the final list of environments is a `ReadAll`. So the set checker
//! proves that an acknowledged rollout created every one of its environments despite the
//! faults.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use moor_proto::rollout::rollout_api_client::RolloutApiClient;
use moor_proto::rollout::{Group, ListRolloutsRequest, PutGroupRequest, StartRolloutRequest};
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::*;
use serde::Serialize;
use serde_json::json;
use tonic::transport::Channel;

use super::{classify, request, with_deadline, Endpoints, Stop};
use crate::agent_proc::AgentFiles;
use crate::checkers::effects::{self, AgentEvidence, EffectsVerdict};
use crate::checkers::journal::{self, DoneStep};
use crate::history::{History, OpKind, Outcome};

/// The history key of environment creations and of the final environment list.
pub const ROLLOUT_KEY: &str = "rollout";
const BLUEPRINT: &str = "jepsen-app";

#[derive(Debug, Clone)]
pub struct RolloutConfig {
    pub sites: usize,
    pub creators: usize,
    pub op_timeout: Duration,
    /// Spread the creations over this long (so faults hit executions at every stage).
    pub spread: Duration,
    /// Whether the `rollout-agents` blueprint is used (the sites at
    /// [`agent_site_indexes`] are then real agents).
    pub agents: bool,
}

/// Sites served by real `moor-agent` processes in `rollout-agents`.
pub const AGENT_SITES: usize = 8;

/// The indexes of the sites real agents serve among `sites`: spread evenly, so agents are
/// busy from the rollout's first wave to its last, while the faults happen.
pub fn agent_site_indexes(sites: usize) -> Vec<usize> {
    let n = AGENT_SITES.min(sites);
    (0..n).map(|k| k * sites / n.max(1)).collect()
}
/// The file every command of the `rollout-agents` blueprint appends its run to.
pub const EFFECTS_FILE: &str = "effects.log";

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            sites: 200,
            creators: 4,
            op_timeout: Duration::from_secs(2),
            spread: Duration::from_secs(4),
            agents: false,
        }
    }
}

/// Flags for the `moor-sitesim` a rollout run uses: enough latency that faults land while
/// calls are in flight.
pub fn sitesim_args(seed: u64, unsafe_no_fencing: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "--latency-ms",
        "150",
        "--latency-jitter-ms",
        "100",
        "--seed",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(seed.to_string());
    if unsafe_no_fencing {
        args.push("--unsafe-no-fencing-no-dedupe".into());
    }
    args
}

fn wf(endpoints: &Endpoints, addr: &str) -> WorkflowApiClient<Channel> {
    WorkflowApiClient::new(endpoints.channel(addr))
}

pub fn site_name(i: usize) -> String {
    format!("site-{i:04}")
}

/// The environment the rollout creates on `site_name(i)` (template `env-{site}`).
const ENV_PREFIX: &str = "env-site-";
const GROUP: &str = "jepsen-sites";
/// Deadline of one call made after the faults healed, while waiting for the run to end.
const AFTER_HEAL_CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// A blueprint with a fan-out: `base`, then `a`, `b`, `c` in parallel, then `top`.
fn blueprint() -> String {
    format!(
        "name: {BLUEPRINT}\ndescription: jepsen rollout\nresources:\n  - name: base\n    type: sim.resource\n    properties: {{ v: \"1\" }}\n  - name: a\n    type: sim.resource\n    depends_on: [base]\n    properties: {{ v: \"a\" }}\n  - name: b\n    type: sim.resource\n    depends_on: [base]\n    properties: {{ k: 1 }}\n  - name: c\n    type: sim.resource\n    depends_on: [base]\n    properties: {{ v: \"c\" }}\n  - name: top\n    type: sim.resource\n    depends_on: [a, b, c]\n    properties: {{ v: \"top\" }}\n"
    )
}

/// The `rollout-agents` blueprint: the same fan-out, every resource an `agent.command` that
/// sleeps a little (so a killed agent is often caught mid-command), then appends
/// `execution step attempt token` to [`EFFECTS_FILE`]: one line per run of the effect.
fn agents_blueprint() -> String {
    let resource = |name: &str, deps: &str| {
        format!(
            "  - name: {name}\n    type: agent.command\n{deps}    properties:\n      shell: true\n      timeout_s: 20\n      apply: 'sleep 0.2; echo \"$MOOR_EXECUTION_ID $MOOR_STEP $MOOR_ATTEMPT $MOOR_FENCE_TOKEN\" >> {EFFECTS_FILE}'\n"
        )
    };
    let mut yaml = format!(
        "name: {BLUEPRINT}\ndescription: jepsen rollout over sitesim sites and real agents\nresources:\n"
    );
    yaml.push_str(&resource("base", ""));
    for name in ["a", "b", "c"] {
        yaml.push_str(&resource(name, "    depends_on: [base]\n"));
    }
    yaml.push_str(&resource("top", "    depends_on: [a, b, c]\n"));
    yaml
}

/// Retries an idempotent setup call through the members until it succeeds.
async fn retry<T, F, Fut>(
    endpoints: &Endpoints,
    what: &str,
    timeout: Duration,
    mut f: F,
) -> Result<T>
where
    F: FnMut(WorkflowApiClient<Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let deadline = Instant::now() + timeout;
    let mut i = 0;
    loop {
        let addr = endpoints.pick(i).context("no member address")?;
        match f(wf(endpoints, &addr)).await {
            Ok(v) => return Ok(v),
            Err(s) if Instant::now() < deadline => {
                tracing::debug!("{what} via {addr}: {s}");
            }
            Err(s) => bail!("{what} did not succeed within {timeout:?}: {}", s.message()),
        }
        i += 1;
        // Polls until the cluster accepts the call.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Before the faults: the blueprint and the sites (idempotent, retried). Site `i` is served at
/// `agents[&i]` when there is one, else by the sitesim at `sim_addr`.
pub async fn setup(
    endpoints: &Endpoints,
    sim_addr: &str,
    agents: &BTreeMap<usize, String>,
    config: &RolloutConfig,
) -> Result<()> {
    let yaml = if config.agents {
        agents_blueprint()
    } else {
        blueprint()
    };
    let t = config.op_timeout;
    retry(
        endpoints,
        "apply blueprint",
        Duration::from_secs(30),
        |mut c| {
            let yaml = yaml.clone();
            async move {
                with_deadline(
                    t,
                    c.apply_blueprint(request(
                        ApplyBlueprintRequest {
                            source_name: "jepsen.yaml".into(),
                            yaml,
                            validate_only: false,
                        },
                        t,
                    )),
                )
                .await
            }
        },
    )
    .await?;
    for i in 0..config.sites {
        let sim = agents.get(&i).map_or(sim_addr, String::as_str).to_string();
        retry(endpoints, "put site", Duration::from_secs(30), |mut c| {
            let sim = sim.clone();
            async move {
                with_deadline(
                    t,
                    c.put_site(request(
                        PutSiteRequest {
                            site: Some(Site {
                                name: site_name(i),
                                region: ["europe", "americas", "asia"][i % 3].into(),
                                latitude: (i as f64 * 7.0) % 80.0,
                                longitude: (i as f64 * 13.0) % 170.0,
                                labels: Default::default(),
                                agent_endpoint: sim,
                                ..Default::default()
                            }),
                        },
                        t,
                    )),
                )
                .await
            }
        })
        .await?;
    }
    Ok(())
}

/// Starts the bulk work: one install rollout over every site (see the module docs), retried
/// until it is known to exist or `stop` is raised; returns the number of calls made.
pub async fn start_rollout(
    h: History,
    endpoints: Endpoints,
    config: RolloutConfig,
    first_process: u64,
    stop: Stop,
) -> u64 {
    let parallel = parallelism(&config);
    let t = config.op_timeout;
    let mut calls = 0u64;
    let mut attempt = 0u64;
    while !stop.is_raised() {
        let Some(addr) = endpoints.pick(attempt) else {
            break;
        };
        attempt += 1;
        let mut c = rollouts(&endpoints, &addr);
        calls += 1;
        if put_group(&mut c, t).await.is_err() {
            // Idempotent: try again (through the next member).
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let process = first_process + attempt * config.sites as u64;
        let ops = invoke_creations(&h, process, config.sites);
        calls += 1;
        let r = submit_rollout(&mut c, parallel, t).await;
        match complete_creations(&h, ops, &r) {
            Outcome::Ok => break,
            // Maybe applied: it exists when a rollout shows up; else submit again.
            Outcome::Unknown => {
                if rollout_exists(&endpoints, t).await {
                    break;
                }
            }
            Outcome::Fail => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    calls
}

/// The rollout's parallelism: enough to finish in about `spread` with 150 ms steps, 3
/// rounds each.
fn parallelism(config: &RolloutConfig) -> i64 {
    let rounds_s = 3.0 * 0.2;
    ((config.sites as f64 * rounds_s) / config.spread.as_secs_f64().max(0.5))
        .ceil()
        .clamp(1.0, config.sites.max(1) as f64) as i64
}

/// Puts the group of every site the rollout targets (idempotent).
async fn put_group(c: &mut RolloutApiClient<Channel>, t: Duration) -> Result<(), tonic::Status> {
    let group = PutGroupRequest {
        group: Some(Group {
            name: GROUP.into(),
            kind: "sites".into(),
            ..Default::default()
        }),
    };
    with_deadline(t, c.put_group(request(group, t)))
        .await
        .map(|_| ())
}

/// Invokes one `Add` per environment the submission is to create, each as its own process
/// from `process` on; returns their ids.
fn invoke_creations(h: &History, process: u64, sites: usize) -> Vec<u64> {
    (0..sites)
        .map(|i| {
            h.invoke(
                process + i as u64,
                OpKind::Add,
                ROLLOUT_KEY,
                Some(i as i64),
                None,
            )
        })
        .collect()
}

/// Submits the install rollout over the group.
async fn submit_rollout(
    c: &mut RolloutApiClient<Channel>,
    parallel: i64,
    t: Duration,
) -> Result<(), tonic::Status> {
    let start = StartRolloutRequest {
        group: GROUP.into(),
        action: "install".into(),
        blueprint: BLUEPRINT.into(),
        environment_name: "env-{site}".into(),
        max_parallel: parallel,
        max_attempts: 20,
        backoff_base_ms: 100,
        backoff_max_ms: 1000,
        step_timeout_ms: 2000,
        ..Default::default()
    };
    with_deadline(t, c.start_rollout(request(start, t)))
        .await
        .map(|_| ())
}

/// Completes the creations with the submission's outcome; returns that outcome.
fn complete_creations(h: &History, ops: Vec<u64>, r: &Result<(), tonic::Status>) -> Outcome {
    let (outcome, error) = match r {
        Ok(()) => (Outcome::Ok, None),
        Err(s) => (classify(s), Some(s.message().to_string())),
    };
    for id in ops {
        h.complete(id, outcome, None, error.clone());
    }
    outcome
}

fn rollouts(endpoints: &Endpoints, addr: &str) -> RolloutApiClient<Channel> {
    RolloutApiClient::new(endpoints.channel(addr))
}

/// Whether any member shows a rollout (the run starts exactly one), polling for a while.
async fn rollout_exists(endpoints: &Endpoints, t: Duration) -> bool {
    for i in 0..20 {
        if let Some(addr) = endpoints.pick(i) {
            let r = with_deadline(
                t,
                rollouts(endpoints, &addr)
                    .list_rollouts(request(ListRolloutsRequest { stale: false }, t)),
            )
            .await;
            if let Ok(list) = r {
                return !list.rollouts.is_empty();
            }
        }
        // Polls until a member with a leader answers.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Waits until every rollout of the run has ended (or `deadline` passes).
async fn wait_rollouts_ended(endpoints: &Endpoints, deadline: Instant) -> Result<()> {
    let t = AFTER_HEAL_CALL_TIMEOUT;
    let mut i = 0;
    loop {
        if let Some(addr) = endpoints.pick(i) {
            let r = with_deadline(
                t,
                rollouts(endpoints, &addr)
                    .list_rollouts(request(ListRolloutsRequest { stale: false }, t)),
            )
            .await;
            if let Ok(list) = r {
                let open: Vec<String> = list
                    .rollouts
                    .iter()
                    .filter(|r| !matches!(r.state.as_str(), "succeeded" | "failed" | "cancelled"))
                    .map(|r| {
                        format!(
                            "{} {} ({} queued, {} running)",
                            r.id, r.state, r.queued, r.running
                        )
                    })
                    .collect();
                if open.is_empty() {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    bail!("rollouts did not end after the faults healed: {open:?}");
                }
            }
        }
        if Instant::now() > deadline {
            bail!("no member answered ListRollouts after the faults healed");
        }
        i += 1;
        // Polls until the rollout reaches an end state.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One observation of a step's committed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StepSeen {
    state: String,
    attempt: u32,
}

/// Snapshots of executions taken during the run, for WF4 (committed checkpoints never go
/// backwards): every snapshot is a linearizable read, so later ones must not show an earlier
/// state.
#[derive(Default, Clone)]
pub struct Wf4Monitor {
    seen: Arc<Mutex<Wf4State>>,
}

#[derive(Default)]
struct Wf4State {
    last: HashMap<(String, u32), StepSeen>,
    last_exec: HashMap<String, String>,
    snapshots: u64,
    violations: Vec<String>,
}

fn terminal(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "cancelled")
}

fn step_final(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "skipped")
}

impl Wf4Monitor {
    fn observe(&self, e: &Execution) {
        let mut s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        s.snapshots += 1;
        if let Some(prev) = s.last_exec.get(&e.id) {
            if terminal(prev) && prev != &e.state {
                let v = format!(
                    "WF4: execution {} was {prev}, later read as {}",
                    e.id, e.state
                );
                s.violations.push(v);
            }
        }
        s.last_exec.insert(e.id.clone(), e.state.clone());
        for st in &e.steps {
            let key = (e.id.clone(), st.index);
            let now = StepSeen {
                state: st.state.clone(),
                attempt: st.attempt,
            };
            if let Some(prev) = s.last.get(&key) {
                let backwards = now.attempt < prev.attempt
                    || (step_final(&prev.state) && prev.state != now.state);
                if backwards {
                    let v = format!(
                        "WF4: execution {} step {} went from {:?} (attempt {}) back to {:?} (attempt {})",
                        e.id, st.index, prev.state, prev.attempt, now.state, now.attempt
                    );
                    s.violations.push(v);
                }
            }
            s.last.insert(key, now);
        }
    }

    /// Polls up to `sample` executions every `every` (linearizable reads) until `stop`.
    pub async fn run(self, endpoints: Endpoints, sample: usize, every: Duration, stop: Stop) {
        let mut i = 0u64;
        while !stop.is_raised() {
            if let Some(addr) = endpoints.pick(i) {
                let mut c = wf(&endpoints, &addr);
                let t = Duration::from_secs(1);
                if let Ok(list) = with_deadline(
                    t,
                    c.list_executions(request(
                        ListExecutionsRequest {
                            environment: String::new(),
                            stale: false,
                        },
                        t,
                    )),
                )
                .await
                {
                    let step = (list.executions.len() / sample.max(1)).max(1);
                    for e in list.executions.iter().step_by(step).take(sample) {
                        let got = with_deadline(
                            t,
                            c.get_execution(request(
                                GetExecutionRequest {
                                    id: e.id.clone(),
                                    stale: false,
                                },
                                t,
                            )),
                        )
                        .await;
                        match got {
                            Ok(full) => self.observe(&full),
                            Err(_) => break,
                        }
                    }
                }
            }
            i += 1;
            // Sampling interval, not synchronisation.
            tokio::time::sleep(every).await;
        }
    }

    /// (snapshots taken, violations).
    pub fn verdict(&self) -> (u64, Vec<String>) {
        let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        (s.snapshots, s.violations.clone())
    }
}

/// What the rollout checkers found.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutVerdict {
    pub ok: bool,
    pub environments: usize,
    pub executions: usize,
    pub executions_by_state: BTreeMap<String, usize>,
    pub steps_done: usize,
    /// WF1: executions or dispatched steps that never reached an end state.
    pub wf1_violations: Vec<String>,
    /// WF2/WF3/WF5 from the sitesim journal.
    pub journal: String,
    pub wf2: usize,
    pub wf3: usize,
    pub wf5: usize,
    pub wf4_snapshots: u64,
    pub wf4_violations: Vec<String>,
    /// `rollout-agents`: the agents' real effects (see `checkers::effects`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effects: Option<EffectsVerdict>,
}

/// After the faults healed: waits (up to `timeout`) for every execution to reach an end
/// state, records the final environment list as a `ReadAll`, and returns the executions and
/// the WF1 findings.
pub async fn finish(
    h: &History,
    endpoints: &Endpoints,
    process: u64,
    timeout: Duration,
) -> Result<(Vec<Execution>, usize, Vec<String>)> {
    let deadline = Instant::now() + timeout;
    // The rollout creates its environments as it goes: let it end first.
    wait_rollouts_ended(endpoints, deadline).await?;
    let envs = read_final_environments(h, endpoints, process, deadline, timeout).await?;
    let (executions, wf1) = wait_executions_ended(endpoints, deadline, timeout).await?;
    Ok((executions, envs, wf1))
}

/// Records the final environment list as a `ReadAll` (creations acknowledged must all be
/// there), retried with a fresh process each time until one read succeeds; returns how
/// many environments there are.
async fn read_final_environments(
    h: &History,
    endpoints: &Endpoints,
    process: u64,
    deadline: Instant,
    timeout: Duration,
) -> Result<usize> {
    let t = AFTER_HEAL_CALL_TIMEOUT;
    let mut attempt = 0;
    loop {
        let addr = endpoints.pick(attempt).context("no member address")?;
        let id = h.invoke(process + attempt, OpKind::ReadAll, ROLLOUT_KEY, None, None);
        let r = with_deadline(
            t,
            wf(endpoints, &addr).list_environments(request(ListEnvironmentsRequest::default(), t)),
        )
        .await;
        match r {
            Ok(list) => {
                let idx: Vec<i64> = list
                    .environments
                    .iter()
                    .filter_map(|e| e.name.strip_prefix(ENV_PREFIX)?.parse().ok())
                    .collect();
                h.complete(id, Outcome::Ok, Some(json!(idx)), None);
                return Ok(list.environments.len());
            }
            Err(s) => h.complete(id, Outcome::Fail, None, Some(s.message().to_string())),
        }
        if Instant::now() > deadline {
            bail!(
                "the environment list could not be read within {timeout:?} after the faults healed"
            );
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for every execution to reach an end state; returns them all and the WF1
/// findings: the executions still open at the deadline, or else the steps dispatched but
/// never finished.
async fn wait_executions_ended(
    endpoints: &Endpoints,
    deadline: Instant,
    timeout: Duration,
) -> Result<(Vec<Execution>, Vec<String>)> {
    let mut i = 0;
    loop {
        let addr = endpoints.pick(i).context("no member address")?;
        if let Ok(all) = read_executions(endpoints, &addr).await {
            let open = still_open(&all);
            if open.is_empty() {
                let wf1 = unfinished_steps(&all);
                return Ok((all, wf1));
            }
            if Instant::now() > deadline {
                return Ok((all, open));
            }
        } else if Instant::now() > deadline {
            bail!("the executions could not be read within {timeout:?} after the faults healed");
        }
        i += 1;
        // Polls until every execution reached an end state.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every execution through `addr`, each read in full (linearizably).
async fn read_executions(
    endpoints: &Endpoints,
    addr: &str,
) -> Result<Vec<Execution>, tonic::Status> {
    let t = AFTER_HEAL_CALL_TIMEOUT;
    let mut c = wf(endpoints, addr);
    let list = with_deadline(
        t,
        c.list_executions(request(ListExecutionsRequest::default(), t)),
    )
    .await?;
    let mut full = Vec::new();
    for e in list.executions {
        let get = GetExecutionRequest {
            id: e.id,
            stale: false,
        };
        full.push(with_deadline(t, c.get_execution(request(get, t))).await?);
    }
    Ok(full)
}

/// WF1 findings for the executions not yet in an end state, naming their open steps.
fn still_open(all: &[Execution]) -> Vec<String> {
    all.iter()
        .filter(|e| !terminal(&e.state))
        .map(|e| {
            let stuck: Vec<String> = e
                .steps
                .iter()
                .filter(|s| !step_final(&s.state))
                .map(|s| format!("step {} {} attempt {}", s.index, s.state, s.attempt))
                .collect();
            format!(
                "WF1: execution {} ({}) still {}: {}",
                e.id,
                e.environment,
                e.state,
                stuck.join(", ")
            )
        })
        .collect()
}

/// WF1 findings for ended executions with a step that was dispatched but never finished.
fn unfinished_steps(all: &[Execution]) -> Vec<String> {
    let mut wf1 = Vec::new();
    for e in all {
        for s in &e.steps {
            if s.attempt > 0 && !step_final(&s.state) {
                wf1.push(format!(
                    "WF1: execution {} is {} but step {} was dispatched and is {}",
                    e.id, e.state, s.index, s.state
                ));
            }
        }
    }
    wf1
}

/// The steps Moor recorded as done, per site (environment `env-i` runs on `site-i`).
pub fn done_steps(executions: &[Execution]) -> Vec<DoneStep> {
    let mut done = Vec::new();
    for e in executions {
        let Some(i) = e
            .environment
            .strip_prefix(ENV_PREFIX)
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        for s in &e.steps {
            if s.state == "succeeded" {
                done.push(DoneStep {
                    execution_id: e.id.clone(),
                    step: s.index,
                    site: site_name(i),
                });
            }
        }
    }
    done
}

/// Checks the journals — the sitesim's and every agent's, which must all be stopped — and
/// the agents' effects, and assembles the rollout verdict.
pub fn verdict(
    journal_path: &Path,
    agents: &[AgentFiles],
    executions: &[Execution],
    environments: usize,
    wf1: Vec<String>,
    wf4: &Wf4Monitor,
) -> Result<RolloutVerdict> {
    let done = done_steps(executions);
    let read = |path: &Path| {
        moor_site::journal::read_journal(path)
            .with_context(|| format!("cannot check the journal {}", path.display()))
    };
    // Each file holds its own sites, in the order they decided calls: joined, every site's
    // lines keep their order, which is all the checks need.
    let mut lines = read(journal_path)?.lines;
    let mut evidence = Vec::new();
    for agent in agents {
        let agent_lines = read(&agent.journal)?.lines;
        let (runs, _torn) = effects::read_runs(&agent.root)
            .with_context(|| format!("cannot read the effects of {}", agent.site))?;
        evidence.push((agent, runs, agent_lines.clone()));
        lines.extend(agent_lines);
    }
    let j = journal::check(&lines, &done);
    let effects = (!agents.is_empty()).then(|| {
        let evidence: Vec<AgentEvidence<'_>> = evidence
            .iter()
            .map(|(agent, runs, journal)| AgentEvidence {
                site: &agent.site,
                runs,
                journal,
                kills: agent.kills,
            })
            .collect();
        effects::check(&evidence, &done)
    });
    let (wf4_snapshots, wf4_violations) = wf4.verdict();
    let mut by_state = BTreeMap::new();
    for e in executions {
        *by_state.entry(e.state.clone()).or_insert(0) += 1;
    }
    let wf2 = j.count(journal::Check::Wf2AtMostOnceEffect);
    let wf3 = j.count(journal::Check::Wf3MonotonicFencing);
    let wf5 = j.count(journal::Check::Wf5NoPhantomCompletion);
    // Keep the report readable: the summary plus the first violations.
    let mut text = j.to_string();
    if text.chars().count() > 4000 {
        text = text.chars().take(4000).collect::<String>() + " …";
    }
    Ok(RolloutVerdict {
        ok: j.is_clean()
            && wf1.is_empty()
            && wf4_violations.is_empty()
            && effects.as_ref().is_none_or(EffectsVerdict::is_clean),
        environments,
        executions: executions.len(),
        executions_by_state: by_state,
        steps_done: done.len(),
        wf1_violations: wf1,
        journal: text,
        wf2,
        wf3,
        wf5,
        wf4_snapshots,
        wf4_violations,
        effects,
    })
}
