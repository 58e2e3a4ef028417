//! Seeded fault-injection runs and the profiles that group them.
//!
//! One run: start a cluster (each member in its own network namespace when possible) → start
//! the workload → inject faults on a schedule drawn from the seed → heal everything → measure
//! how long until writes succeed again → final reads → checkers (per-key linearizability,
//! acknowledged adds present, WF1–WF5 for rollouts, the heal bound) → a report directory. A
//! run that fails prints the exact command that repeats it.
//!
//! The seed fixes every choice the test makes (which fault, which member, how long, which
//! operation with which value); the cluster's own timing is not seeded, so a repeat follows
//! the same script but may interleave differently.
//!
//! Profiles: `smoke` (CI: kill / pause / partition / membership × register / rollout, a
//! killed site agent under `rollout-agents`, a damaged disk, plus the two negative controls) and `long`
//! (100+ runs of 60 s for a human).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::agent_proc::{AgentFleet, AgentProc};
use crate::backend::{Backend, ProcessBackend};
use crate::checkers::{linearizable, set};
use crate::harness::{MemberSettings, SiteSimProc};
use crate::history::{FaultStatus, History, NemesisEvent, Op, OpKind};
use crate::nemesis::{self, NemesisKind};
use crate::workload::{self, register, rollout, set as set_wl, Endpoints, Stop};

/// What a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Register read/write/CAS on a few keys, plus unique set adds (acked-write durability).
    Register,
    /// Unique set adds only, final read after heal.
    Set,
    /// A bulk rollout against moor-sitesim (WF1–WF5), plus the acked-creation check.
    Rollout,
    /// The rollout with its first sites served by real `moor-agent` processes running
    /// commands (their journals and real effects checked too).
    RolloutAgents,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::Set => "set",
            WorkloadKind::Rollout => "rollout",
            WorkloadKind::RolloutAgents => "rollout-agents",
        }
    }
}

/// What the run must show to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Every checker holds.
    Clean,
    /// WF6 negative control: the journal checker must report WF2 (the sitesim runs with
    /// fencing and dedupe off). If it does not, the checker is broken and the run fails.
    Wf2Violation,
}

/// Everything that defines a run; [`RunSpec::command`] turns it back into a command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    pub seed: u64,
    pub nemesis: NemesisKind,
    pub workload: WorkloadKind,
    pub duration_secs: u64,
    pub members: u64,
    /// Members in network namespaces (needed for partitions).
    pub netns: bool,
    pub expect: Expect,
    /// Sites (= environments) of a rollout.
    pub sites: usize,
    /// After the final heal, a write must succeed within this bound.
    pub heal_bound_secs: u64,
}

impl RunSpec {
    pub fn new(
        seed: u64,
        nemesis: NemesisKind,
        workload: WorkloadKind,
        duration_secs: u64,
    ) -> Self {
        RunSpec {
            seed,
            nemesis,
            workload,
            duration_secs,
            members: 3,
            netns: true,
            expect: Expect::Clean,
            sites: 150,
            heal_bound_secs: 15,
        }
    }

    /// The command that repeats this run.
    pub fn command(&self) -> String {
        let mut c = format!(
            "MOOR_BIN_DIR={} {}/moor-jepsen run --seed {} --nemesis {} --workload {} --duration-secs {} --members {} --sites {} --heal-bound-secs {}",
            crate::harness::bin_dir().display(),
            crate::harness::bin_dir().display(),
            self.seed,
            self.nemesis.name(),
            self.workload.name(),
            self.duration_secs,
            self.members,
            self.sites,
            self.heal_bound_secs
        );
        if !self.netns {
            c.push_str(" --no-netns");
        }
        if self.expect == Expect::Wf2Violation {
            c.push_str(" --expect wf2-violation");
        }
        c
    }

    fn label(&self) -> String {
        let control = if self.expect == Expect::Wf2Violation {
            "-wf6"
        } else {
            ""
        };
        format!(
            "{}-{}{}-seed{}",
            self.nemesis.name(),
            self.workload.name(),
            control,
            self.seed
        )
    }
}

/// Operations by outcome and faults by status, for a run or a profile.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub operations: usize,
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
    pub faults_installed: usize,
    pub faults_skipped: usize,
    pub faults_indeterminate: usize,
    /// Elections from the workload's start to the end of the final heal (the highest term
    /// any member reports, after minus before). In a run without faults, every one is
    /// spurious: a heartbeat that came too late.
    pub elections: usize,
}

impl Counts {
    /// The operations of a run by outcome, and its faults by status (the final heal is not a
    /// fault).
    fn of(ops: &[Op], events: &[NemesisEvent]) -> Counts {
        let mut c = Counts {
            operations: ops.len(),
            ..Counts::default()
        };
        for o in ops {
            match o.effective_outcome() {
                crate::history::Outcome::Ok => c.ok += 1,
                crate::history::Outcome::Fail => c.failed += 1,
                crate::history::Outcome::Unknown => c.unknown += 1,
            }
        }
        for e in events {
            if e.name == "heal-all" {
                continue;
            }
            match e.status {
                FaultStatus::Installed => c.faults_installed += 1,
                FaultStatus::Skipped => c.faults_skipped += 1,
                FaultStatus::Indeterminate => c.faults_indeterminate += 1,
            }
        }
        c
    }

    fn add(&mut self, o: &Counts) {
        self.operations += o.operations;
        self.ok += o.ok;
        self.failed += o.failed;
        self.unknown += o.unknown;
        self.faults_installed += o.faults_installed;
        self.faults_skipped += o.faults_skipped;
        self.faults_indeterminate += o.faults_indeterminate;
        self.elections += o.elections;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "operations={} (ok {}, fail {}, unknown {}) faults installed={} skipped={} indeterminate={} elections={}",
            self.operations,
            self.ok,
            self.failed,
            self.unknown,
            self.faults_installed,
            self.faults_skipped,
            self.faults_indeterminate,
            self.elections
        )
    }
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub spec: RunSpec,
    pub passed: bool,
    /// Why it failed (checker violations, expectation not met, harness errors).
    pub problems: Vec<String>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Invariant violations found (for a WF6 control these are expected, see `passed`).
    pub violations: usize,
    pub heal_secs: Option<f64>,
    pub wall_secs: f64,
    pub report_dir: PathBuf,
}

fn settings() -> MemberSettings {
    MemberSettings::default()
}

/// Runs one seeded run on real processes and writes its report under `report_root`.
pub async fn run_one(spec: &RunSpec, report_root: &Path) -> RunResult {
    run_one_with(spec, report_root, None::<ProcessBackend>).await
}

/// Runs one seeded run on `backend` (already started, e.g. the compose cluster) and writes
/// its report under `report_root`.
pub async fn run_one_on<B: Backend>(spec: &RunSpec, backend: B, report_root: &Path) -> RunResult {
    run_one_with(spec, report_root, Some(backend)).await
}

async fn run_one_with<B: Backend>(
    spec: &RunSpec,
    report_root: &Path,
    backend: Option<B>,
) -> RunResult {
    let started = Instant::now();
    let dir = report_root.join(spec.label());
    let mut result = RunResult {
        spec: spec.clone(),
        passed: false,
        problems: Vec::new(),
        counts: Counts::default(),
        violations: 0,
        heal_secs: None,
        wall_secs: 0.0,
        report_dir: dir.clone(),
    };
    let outcome = match backend {
        Some(b) => run_on(spec, &dir, &mut result, b).await,
        None => run_inner(spec, &dir, &mut result).await,
    };
    if let Err(e) = outcome {
        result
            .problems
            .push(format!("the run could not complete: {e:#}"));
    }
    result.passed = result.problems.is_empty();
    result.wall_secs = started.elapsed().as_secs_f64();
    result
}

async fn run_inner(spec: &RunSpec, dir: &Path, result: &mut RunResult) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let b = ProcessBackend::start(spec.members, settings(), spec.netns)
        .await
        .context("starting the cluster")?;
    run_on(spec, dir, result, b).await
}

/// One run on a started cluster: workload → seeded faults → final heal → final reads and
/// checks → report. Each stage is one function below, in this order.
async fn run_on<B: Backend>(
    spec: &RunSpec,
    dir: &Path,
    result: &mut RunResult,
    mut b: B,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let h = History::new();
    if let Some(reason) = b.network_faults_unavailable() {
        if spec.netns {
            eprintln!("moor-jepsen: WARNING: partition nemeses will be SKIPPED: {reason}");
        }
    }
    let run = Run {
        spec,
        dir,
        h,
        endpoints: Endpoints::new(client_addrs(&b), b.security()),
        agents: AgentFleet::default(),
    };
    let term_before = highest_term(&b).await;
    let mut workload = RunWorkload::start(&run, &b, &mut rng).await?;
    let mut events = inject_faults(&run, &mut b, &mut rng).await;
    let heal = heal_all(&run, &mut b).await;
    let elections = highest_term(&b).await.saturating_sub(term_before);
    events.push(heal.event.clone());
    result.heal_secs = heal.first_write_after.map(|d| d.as_secs_f64());
    // The workload keeps going through the heal, so its clients see the recovery too.
    workload.stop().await;

    let mut findings = Findings::new(&run, &b, &heal, result.heal_secs);
    for e in events
        .iter()
        .filter(|e| e.detail.starts_with(nemesis::NOT_DETECTED))
    {
        findings
            .violations
            .push(format!("disk fault: {}", e.detail));
    }
    workload.finish(&run, &mut b, &mut findings).await?;
    let ops = run.h.ops();
    check_history(&ops, &mut findings);
    result.counts = Counts::of(&ops, &events);
    result.counts.elections = elections as usize;
    report(&run, &mut b, result, findings, &ops, &events)
}

/// The highest term any running member reports (0 if none answers).
async fn highest_term<B: Backend>(b: &B) -> u64 {
    let mut term = 0;
    for id in b.running() {
        if let Some(s) = b.status(id).await {
            term = term.max(s.term);
        }
    }
    term
}

/// What every stage of one run shares.
struct Run<'a> {
    spec: &'a RunSpec,
    dir: &'a Path,
    h: History,
    /// The members' client addresses, updated after every fault.
    endpoints: Endpoints,
    /// The real site agents of a `rollout-agents` run (none otherwise).
    agents: AgentFleet,
}

fn client_addrs<B: Backend>(b: &B) -> Vec<String> {
    b.members().iter().map(|id| b.client_addr(*id)).collect()
}

/// The workload of one run: its client tasks and, for a rollout, the rollout's own parts.
struct RunWorkload {
    reg_cfg: register::RegisterConfig,
    set_cfg: set_wl::SetConfig,
    /// Raised after the final heal: the clients stop.
    stop: Stop,
    tasks: Vec<JoinHandle<u64>>,
    rollout: Option<RolloutRun>,
}

impl RunWorkload {
    /// Starts the workload's clients (for a rollout: its sitesim, sites and blueprint first,
    /// before any fault).
    async fn start<B: Backend>(run: &Run<'_>, b: &B, rng: &mut StdRng) -> Result<RunWorkload> {
        let mut w = RunWorkload {
            reg_cfg: register::RegisterConfig::default(),
            set_cfg: set_wl::SetConfig::default(),
            stop: Stop::default(),
            tasks: Vec::new(),
            rollout: None,
        };
        let (h, endpoints) = (&run.h, &run.endpoints);
        match run.spec.workload {
            WorkloadKind::Register | WorkloadKind::Set => {
                if run.spec.workload == WorkloadKind::Register {
                    w.tasks.push(tokio::spawn(register::run(
                        h.clone(),
                        endpoints.clone(),
                        w.reg_cfg.clone(),
                        rng.random(),
                        w.stop.clone(),
                    )));
                }
                w.tasks.push(tokio::spawn(set_wl::run(
                    h.clone(),
                    endpoints.clone(),
                    w.set_cfg.clone(),
                    1_000_000,
                    w.stop.clone(),
                )));
            }
            WorkloadKind::Rollout | WorkloadKind::RolloutAgents => {
                let rollout = RolloutRun::start(run, b).await?;
                let (wf4, endpoints, stop) =
                    (rollout.wf4.clone(), endpoints.clone(), w.stop.clone());
                w.tasks.push(tokio::spawn(async move {
                    wf4.run(endpoints, 20, Duration::from_millis(400), stop)
                        .await;
                    0
                }));
                w.rollout = Some(rollout);
            }
        }
        Ok(w)
    }

    /// After the final heal: lets the rollout's creators finish (bounded), then stops every
    /// client and waits for it.
    async fn stop(&mut self) {
        if let Some(rollout) = &mut self.rollout {
            rollout.stop_creating().await;
        }
        self.stop.raise();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    /// Final reads, and for a rollout its checkers (WF1–WF5).
    async fn finish<B: Backend>(
        self,
        run: &Run<'_>,
        b: &mut B,
        findings: &mut Findings,
    ) -> Result<()> {
        let final_timeout = Duration::from_secs(20);
        let (h, endpoints) = (&run.h, &run.endpoints);
        match self.rollout {
            Some(rollout) => rollout.check(run, b, findings).await?,
            None => {
                if run.spec.workload == WorkloadKind::Register {
                    register::final_reads(h, endpoints, &self.reg_cfg, 5_000_000, final_timeout)
                        .await;
                }
                let op_timeout = self.set_cfg.op_timeout;
                set_wl::final_read(h, endpoints, 6_000_000, op_timeout, final_timeout).await;
            }
        }
        Ok(())
    }
}

/// A rollout workload's own parts: its sitesim, the task that creates the rollout, and the WF4
/// monitor.
struct RolloutRun {
    sim: SiteSimProc,
    /// The rollout's creators run until every environment exists (bounded), not just for the
    /// fault window, so every site gets its install.
    creators: Option<JoinHandle<u64>>,
    stop_creators: Stop,
    wf4: rollout::Wf4Monitor,
}

impl RolloutRun {
    async fn start<B: Backend>(run: &Run<'_>, b: &B) -> Result<RolloutRun> {
        let spec = run.spec;
        let with_agents = spec.workload == WorkloadKind::RolloutAgents;
        let config = rollout::RolloutConfig {
            sites: spec.sites,
            spread: Duration::from_secs(spec.duration_secs).mul_f64(0.4),
            agents: with_agents,
            ..Default::default()
        };
        let listen = b.sitesim_listen()?;
        let args = rollout::sitesim_args(spec.seed, spec.expect == Expect::Wf2Violation);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // With the cluster's site certificate (it names the address the members dial);
        // the WF6 control's flag only turns fencing and dedupe off, never TLS.
        let sim = SiteSimProc::start_on(
            &listen,
            &run.dir.join("sitesim-journal.jsonl"),
            &run.dir.join("sitesim.log"),
            &b.security(),
            &args,
        )
        .context("starting moor-sitesim")?;
        let mut agent_addrs = std::collections::BTreeMap::new();
        if with_agents {
            for i in rollout::agent_site_indexes(spec.sites) {
                let site = rollout::site_name(i);
                let dir = run.dir.join("agents").join(&site);
                let agent = AgentProc::start_on(&site, &dir, &b.security(), &listen)
                    .with_context(|| format!("starting the moor-agent of {site}"))?;
                agent_addrs.insert(i, agent.addr.clone());
                run.agents.add(agent);
            }
        }
        rollout::setup(&run.endpoints, &sim.addr, &agent_addrs, &config)
            .await
            .context("rollout setup (blueprint and sites) before any fault")?;
        let stop_creators = Stop::default();
        let creators = tokio::spawn(rollout::start_rollout(
            run.h.clone(),
            run.endpoints.clone(),
            config,
            2_000_000,
            stop_creators.clone(),
        ));
        Ok(RolloutRun {
            sim,
            creators: Some(creators),
            stop_creators,
            wf4: rollout::Wf4Monitor::default(),
        })
    }

    /// Gives the creators 30 s more to finish, then stops them.
    async fn stop_creating(&mut self) {
        if let Some(mut c) = self.creators.take() {
            if tokio::time::timeout(Duration::from_secs(30), &mut c)
                .await
                .is_err()
            {
                self.stop_creators.raise();
                let _ = c.await;
            }
        }
    }

    /// Waits for every execution to end, stops the members and the sitesim (which flushes its
    /// journal), and checks WF1–WF5. For the WF6 control, WF2 violations are the pass.
    async fn check<B: Backend>(
        self,
        run: &Run<'_>,
        b: &mut B,
        findings: &mut Findings,
    ) -> Result<()> {
        let (execs, envs, wf1) =
            rollout::finish(&run.h, &run.endpoints, 7_000_000, Duration::from_secs(90)).await?;
        let journal = self.sim.journal.clone();
        // The sitesim's graceful shutdown waits for its client connections: stop the
        // members first (everything they recorded has been read above).
        for id in b.running() {
            b.kill(id)?;
        }
        self.sim
            .stop_within(Duration::from_secs(20))
            .context("stopping moor-sitesim (flushes the journal)")?;
        run.agents.stop_all().context("stopping the site agents")?;
        let agents = run.agents.files();
        let v = rollout::verdict(&journal, &agents, &execs, envs, wf1, &self.wf4)?;
        match run.spec.expect {
            Expect::Clean => {
                if !v.ok {
                    findings.violations.push(rollout_violation(&v));
                }
            }
            Expect::Wf2Violation => {
                // The control passes when the checker sees the duplicates.
                if v.wf2 == 0 {
                    findings.problems.push(format!(
                        "WF6 negative control: the sitesim ran with fencing and dedupe off, yet the journal checker reported no WF2 violation ({} steps done). Either no step was re-dispatched (the fault missed the in-flight window) or the checker is broken: inspect {}",
                        v.steps_done,
                        journal.display()
                    ));
                }
                findings.expected_violations += v.wf2 + v.wf3 + v.wf5;
            }
        }
        findings.verdicts.insert("rollout".into(), json!(v));
        Ok(())
    }
}

/// One line for a rollout that broke WF1–WF5: the counts, the journal verdict and the first
/// WF1 and WF4 findings.
fn rollout_violation(v: &rollout::RolloutVerdict) -> String {
    format!(
        "rollout: WF1 {} WF2 {} WF3 {} WF4 {} WF5 {}: {}{}{}",
        v.wf1_violations.len(),
        v.wf2,
        v.wf3,
        v.wf4_violations.len(),
        v.wf5,
        v.journal,
        v.wf1_violations
            .first()
            .map(|s| format!("\n  {s}"))
            .unwrap_or_default(),
        v.wf4_violations
            .first()
            .map(|s| format!("\n  {s}"))
            .unwrap_or_default(),
    )
}

/// Injects faults on the schedule drawn from the seed until the run's duration is over;
/// returns what each fault did.
async fn inject_faults<B: Backend>(
    run: &Run<'_>,
    b: &mut B,
    rng: &mut StdRng,
) -> Vec<NemesisEvent> {
    let mut events = Vec::new();
    let window = Duration::from_secs(run.spec.duration_secs);
    let begin = Instant::now();
    while begin.elapsed() < window {
        let quiet = Duration::from_millis(rng.random_range(300..1200));
        tokio::time::sleep(quiet).await;
        if begin.elapsed() >= window {
            break;
        }
        let active = nemesis::inject(run.spec.nemesis, b, &run.agents, rng, &run.h).await;
        eprintln!(
            "  nemesis {} {:?}: {}",
            active.event.name, active.event.status, active.event.detail
        );
        if active.needs_hold() {
            // Longer than the election timeout (400–800 ms) so a pause or a cut leader is
            // replaced; the hold is the fault's duration, not a wait for a condition.
            let hold = Duration::from_millis(rng.random_range(1200..2600));
            tokio::time::sleep(hold).await;
        }
        let event = active.heal(b, &run.agents, &run.h).await;
        run.endpoints.set(client_addrs(b));
        let skipped = event.status == FaultStatus::Skipped;
        events.push(event);
        if skipped && run.spec.nemesis != NemesisKind::Mixed {
            // The same fault would be skipped again; let the workload run fault-free.
            tokio::time::sleep(window.saturating_sub(begin.elapsed())).await;
            break;
        }
    }
    events
}

/// The final heal and how the cluster came back from it.
struct Heal {
    /// What the final heal did, or why it failed.
    outcome: Result<String, String>,
    event: NemesisEvent,
    /// From the heal to the first successful write; `None` if none within the heal bound.
    first_write_after: Option<Duration>,
}

/// Heals everything, then measures how long until a write succeeds.
async fn heal_all<B: Backend>(run: &Run<'_>, b: &mut B) -> Heal {
    let heal_start = run.h.now_ns();
    let outcome = nemesis::heal_all(b, &run.agents).await;
    let event = NemesisEvent {
        name: "heal-all".into(),
        detail: match &outcome {
            Ok(d) => format!("final heal: {d}"),
            Err(e) => format!("final heal failed: {e}"),
        },
        status: if outcome.is_ok() {
            FaultStatus::Installed
        } else {
            FaultStatus::Indeterminate
        },
        start_ns: heal_start,
        end_ns: Some(run.h.now_ns()),
    };
    run.endpoints.set(client_addrs(b));
    let bound = Duration::from_secs(run.spec.heal_bound_secs);
    let first_write_after = heal_probe(&run.endpoints, bound).await;
    Heal {
        outcome,
        event,
        first_write_after,
    }
}

/// What the checks of one run found.
struct Findings {
    /// The content of verdicts.json.
    verdicts: serde_json::Map<String, serde_json::Value>,
    /// Broken invariants; each is also a problem of the run.
    violations: Vec<String>,
    /// Problems that are not invariant violations (a negative control that saw nothing).
    problems: Vec<String>,
    /// Violations a negative control found, where they are expected.
    expected_violations: usize,
}

impl Findings {
    /// Starts the verdicts with the run's description and the heal's check.
    fn new<B: Backend>(run: &Run<'_>, b: &B, heal: &Heal, heal_secs: Option<f64>) -> Findings {
        let spec = run.spec;
        let mut verdicts = serde_json::Map::new();
        let mut violations = Vec::new();
        verdicts.insert("spec".into(), json!(spec));
        verdicts.insert("reproduce".into(), json!(spec.command()));
        verdicts.insert("backend".into(), json!(b.kind()));
        verdicts.insert(
            "network_faults".into(),
            json!(b
                .network_faults_unavailable()
                .map(|r| format!("unavailable: {r}"))
                .unwrap_or_else(|| "network namespaces + iptables".into())),
        );
        verdicts.insert(
            "heal".into(),
            json!({
                "ok": heal.first_write_after.is_some(),
                "bound_secs": spec.heal_bound_secs,
                "first_write_after_heal_secs": heal_secs,
                "final_heal": heal.outcome.clone().unwrap_or_else(|e| e),
            }),
        );
        if heal.first_write_after.is_none() {
            let bound = Duration::from_secs(spec.heal_bound_secs);
            violations.push(format!(
                "heal: no write succeeded within {bound:?} after the last fault was removed"
            ));
        }
        Findings {
            verdicts,
            violations,
            problems: Vec::new(),
            expected_violations: 0,
        }
    }
}

/// Per-key linearizability of the register operations, and acknowledged-write durability of
/// the set and rollout keys.
fn check_history(ops: &[Op], findings: &mut Findings) {
    let reg_ops: Vec<Op> = ops
        .iter()
        .filter(|o| matches!(o.kind, OpKind::Read | OpKind::Write | OpKind::Cas))
        .cloned()
        .collect();
    if !reg_ops.is_empty() {
        let lin = linearizable::check_registers(&reg_ops);
        if !lin.ok {
            findings.violations.push(format!(
                "linearizability: violating keys {:?}, undecided keys {:?}: {}",
                lin.violating_keys,
                lin.indeterminate_keys,
                lin.first_violation.clone().unwrap_or_default()
            ));
        }
        findings.verdicts.insert("linearizable".into(), json!(lin));
    }
    for key in [set_wl::SET_KEY, rollout::ROLLOUT_KEY] {
        let key_ops: Vec<Op> = ops
            .iter()
            .filter(|o| o.key == key && matches!(o.kind, OpKind::Add | OpKind::ReadAll))
            .cloned()
            .collect();
        if key_ops.is_empty() {
            continue;
        }
        let v = set::check_set(&key_ops);
        if !v.ok {
            findings.violations.push(format!(
                "acknowledged writes ({key}): lost {:?}, unexpected {:?}, errors {:?}",
                v.lost, v.unexpected, v.errors
            ));
        }
        findings.verdicts.insert(format!("set:{key}"), json!(v));
    }
}

/// Settles the run's result from `findings` and writes the report directory; keeps the
/// members' data and logs when the run failed.
fn report<B: Backend>(
    run: &Run<'_>,
    b: &mut B,
    result: &mut RunResult,
    findings: Findings,
    ops: &[Op],
    events: &[NemesisEvent],
) -> Result<()> {
    let Findings {
        mut verdicts,
        violations,
        problems,
        expected_violations,
    } = findings;
    result.violations += expected_violations + violations.len();
    result.problems.extend(problems);
    result.problems.extend(violations.iter().cloned());
    verdicts.insert("violations".into(), json!(violations));
    verdicts.insert(
        "faults".into(),
        json!({"installed": result.counts.faults_installed, "skipped": result.counts.faults_skipped,
               "indeterminate": result.counts.faults_indeterminate}),
    );
    if !result.problems.is_empty() || result.counts.faults_indeterminate > 0 {
        // Keep the members' data and logs for a post-mortem: of a failed run, and of one
        // where a fault's outcome could not be told (what the members logged explains it).
        let kept = b.keep_evidence();
        verdicts.insert("cluster_dir".into(), json!(kept));
    }
    crate::report::write_report(run.dir, ops, events, &serde_json::Value::Object(verdicts))
        .context("writing the report")?;
    Ok(())
}

/// Writes a probe key until one write succeeds; returns how long that took, or None if no
/// write succeeded within `bound`.
async fn heal_probe(endpoints: &Endpoints, bound: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut i = 0u64;
    while start.elapsed() < bound {
        if let Some(addr) = endpoints.pick(i) {
            let t = Duration::from_secs(1);
            let r = workload::with_deadline(
                t,
                endpoints.kv_client(&addr).put(workload::request(
                    moor_proto::api::PutRequest {
                        key: "jepsen/heal-probe".into(),
                        value: i.to_string().into_bytes(),
                    },
                    t,
                )),
            )
            .await;
            if r.is_ok() {
                return Some(start.elapsed());
            }
        }
        i += 1;
        // Polls until the healed cluster accepts a write.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The runs of a profile. `smoke`: 17 runs of 6 s (kill, pause, partition and membership,
/// each with the register and the rollout workload; a leader killed and restarted at once;
/// a site agent killed under `rollout-agents`; a follower's disk damaged)
/// plus the WF6 control; `long`: 100 runs of 60 s cycling every nemesis over the three
/// workloads, 3 and 5 members.
///
/// `from` skips the plan's first runs and `runs` caps how many follow, so a long profile
/// can be run in parts (`from 20, runs 30`: the plan's runs 21–50). Run i draws its seed
/// i-th from `seed` whatever the part, so a part's runs are the full plan's runs; each part
/// ends with its own WF6 control.
pub fn profile(name: &str, seed: u64, from: usize, runs: Option<usize>) -> Result<Vec<RunSpec>> {
    use NemesisKind::*;
    use WorkloadKind::*;
    let mut rng = StdRng::seed_from_u64(seed);
    match name {
        "smoke" => {
            let plan = [
                (KillLeader, Register),
                (KillLeader, Rollout),
                (KillAll, Register),
                (KillRandom, Rollout),
                (PauseLeader, Register),
                (PauseLeader, Rollout),
                (PartitionLeaderMinority, Register),
                (PartitionLeaderMajority, Rollout),
                (PartitionBridge, Register),
                (PartitionOneWay, Rollout),
                (PartitionClients, Register),
                (Membership, Register),
                (Membership, Rollout),
                (Restart, Set),
                (KillRestartLeader, Rollout),
                (KillAgent, RolloutAgents),
                (CorruptDisk, Register),
            ];
            let mut specs: Vec<RunSpec> = plan
                .iter()
                .map(|(n, w)| RunSpec {
                    sites: 100,
                    ..RunSpec::new(rng.random(), *n, *w, 6)
                })
                .collect();
            specs.truncate(runs.map_or(specs.len(), |r| from.saturating_add(r)));
            specs.drain(..from.min(specs.len()));
            specs.push(wf6_control(rng.random()));
            Ok(specs)
        }
        "long" => {
            let n = runs.map_or(100.max(from), |r| from.saturating_add(r));
            let workloads = [Register, Rollout, Set, RolloutAgents];
            let mut specs = Vec::new();
            for i in 0..n {
                let nemesis = if i % 4 == 3 {
                    Mixed
                } else {
                    NemesisKind::CONCRETE[i % NemesisKind::CONCRETE.len()]
                };
                // An agent kill needs agents to kill.
                let workload = if nemesis == KillAgent {
                    RolloutAgents
                } else {
                    workloads[(i + i / 4) % workloads.len()]
                };
                let mut s = RunSpec::new(rng.random(), nemesis, workload, 60);
                s.members = if i % 5 == 4 { 5 } else { 3 };
                s.sites = 300;
                specs.push(s);
            }
            specs.drain(..from.min(specs.len()));
            specs.push(wf6_control(rng.random()));
            Ok(specs)
        }
        other => anyhow::bail!("unknown profile {other:?}: use smoke or long"),
    }
}

/// WF6: the rollout under a killed leader with fencing and dedupe off in the sitesim; the
/// journal checker must report WF2.
pub fn wf6_control(seed: u64) -> RunSpec {
    RunSpec {
        expect: Expect::Wf2Violation,
        sites: 100,
        ..RunSpec::new(seed, NemesisKind::PauseLeader, WorkloadKind::Rollout, 6)
    }
}

/// The planted-bug control of the linearizability checker: a stale read must be rejected.
/// Returns (passed, what the checker said).
pub fn planted_stale_read_control() -> (bool, String) {
    let v = linearizable::check_registers(&linearizable::planted_stale_read_history());
    let said = v
        .first_violation
        .clone()
        .unwrap_or_else(|| "accepted the history".into());
    (!v.ok && !v.violating_keys.is_empty(), said)
}

/// Runs the planted stale-read control and prints its line; returns whether it passed.
fn print_planted_stale_read_control() -> bool {
    let (planted_ok, said) = planted_stale_read_control();
    println!(
        "control planted-stale-read: {} (checker: {})",
        if planted_ok {
            "REJECTED as it must be, PASS"
        } else {
            "ACCEPTED, FAIL"
        },
        said.lines().next().unwrap_or("")
    );
    planted_ok
}

/// The one line a profile prints for run `n` of `of`.
fn print_run(n: usize, of: usize, r: &RunResult, is_control: bool) {
    let spec = &r.spec;
    println!(
        "run {}/{} {} {} seed={} {} heal={} violations={} {:.1}s {}",
        n,
        of,
        spec.nemesis.name(),
        spec.workload.name(),
        spec.seed,
        r.counts,
        r.heal_secs
            .map(|s| format!("{s:.2}s"))
            .unwrap_or_else(|| "none".into()),
        r.violations,
        r.wall_secs,
        match (is_control, r.passed) {
            (true, true) => "CONTROL PASS (WF2 reported as it must be)",
            (true, false) => "CONTROL FAIL",
            (false, true) => "PASS",
            (false, false) => "FAIL",
        }
    );
}

/// Totals over a profile.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Totals {
    pub runs: usize,
    pub passed: usize,
    #[serde(flatten)]
    pub counts: Counts,
    /// Invariant violations in runs that must be clean.
    pub violations: usize,
    pub controls_passed: usize,
    pub controls: usize,
}

/// Runs `specs` one after another, printing one line per run and the totals; returns the
/// totals and whether everything passed (including both negative controls).
pub async fn run_profile(name: &str, specs: &[RunSpec], report_root: &Path) -> (Totals, bool) {
    let started = Instant::now();
    let mut t = Totals::default();
    let mut failures = Vec::new();
    println!(
        "moor-jepsen: profile {name}: {} runs, reports under {}",
        specs.len(),
        report_root.display()
    );
    let planted_ok = print_planted_stale_read_control();
    t.controls += 1;
    if planted_ok {
        t.controls_passed += 1;
    } else {
        failures.push("planted stale-read control: the linearizability checker accepted a stale read; it is broken".to_string());
    }
    for (i, spec) in specs.iter().enumerate() {
        let r = run_one(spec, report_root).await;
        let is_control = spec.expect != Expect::Clean;
        t.runs += 1;
        t.passed += r.passed as usize;
        t.counts.add(&r.counts);
        if is_control {
            t.controls += 1;
            t.controls_passed += r.passed as usize;
        } else {
            t.violations += r.violations;
        }
        print_run(i + 1, specs.len(), &r, is_control);
        if !r.passed {
            for p in &r.problems {
                println!("    {p}");
            }
            println!("    report: {}", r.report_dir.display());
            println!("    reproduce: {}", spec.command());
            failures.push(format!("{} (reproduce: {})", spec.label(), spec.command()));
        }
        let _ = std::fs::write(
            r.report_dir.join("result.json"),
            serde_json::to_string_pretty(&r).unwrap_or_default(),
        );
    }
    println!(
        "moor-jepsen {name}: runs={} passed={} {} violations={} controls={}/{} wall={:.0}s",
        t.runs,
        t.passed,
        t.counts,
        t.violations,
        t.controls_passed,
        t.controls,
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::write(
        report_root.join("totals.json"),
        serde_json::to_string_pretty(&t).unwrap_or_default(),
    );
    for f in &failures {
        println!("FAILED: {f}");
    }
    (t, failures.is_empty())
}

/// Where reports go by default: `$CARGO_TARGET_DIR/jepsen/<profile>-<unix time>`, else
/// `/tmp/moor-jepsen/...`.
pub fn default_report_root(profile: &str) -> PathBuf {
    let base = std::env::var("CARGO_TARGET_DIR")
        .map(|d| PathBuf::from(d).join("jepsen"))
        .unwrap_or_else(|_| std::env::temp_dir().join("moor-jepsen"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    base.join(format!("{profile}-{now}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke_covers_every_family_with_register_and_rollout() {
        let specs = profile("smoke", 7, 0, None).unwrap();
        let clean: Vec<&RunSpec> = specs.iter().filter(|s| s.expect == Expect::Clean).collect();
        assert!(clean.len() >= 12, "{}", clean.len());
        for family in ["kill", "pause", "partition", "membership"] {
            for w in [WorkloadKind::Register, WorkloadKind::Rollout] {
                assert!(
                    clean
                        .iter()
                        .any(|s| s.nemesis.family() == family && s.workload == w),
                    "{family} × {w:?} missing"
                );
            }
        }
        assert_eq!(
            specs
                .iter()
                .filter(|s| s.expect == Expect::Wf2Violation)
                .count(),
            1
        );
        assert!(clean
            .iter()
            .any(|s| s.nemesis == NemesisKind::KillAgent
                && s.workload == WorkloadKind::RolloutAgents));
        assert!(clean.iter().any(|s| s.nemesis == NemesisKind::CorruptDisk));
        // Same seed, same plan.
        let again = profile("smoke", 7, 0, None).unwrap();
        let seeds = |v: &[RunSpec]| v.iter().map(|s| s.seed).collect::<Vec<_>>();
        assert_eq!(seeds(&specs), seeds(&again));
        assert_ne!(seeds(&specs), seeds(&profile("smoke", 8, 0, None).unwrap()));
    }

    #[test]
    fn long_has_a_hundred_minute_runs() {
        let specs = profile("long", 1, 0, None).unwrap();
        let clean: Vec<&RunSpec> = specs.iter().filter(|s| s.expect == Expect::Clean).collect();
        assert!(clean.len() >= 100);
        for nemesis in NemesisKind::CONCRETE {
            assert!(clean.iter().any(|s| s.nemesis == nemesis), "{nemesis:?}");
        }
        assert!(clean
            .iter()
            .filter(|s| s.nemesis == NemesisKind::KillAgent)
            .all(|s| s.workload == WorkloadKind::RolloutAgents));
        assert!(clean.iter().all(|s| s.duration_secs == 60));
        assert!(profile("nope", 1, 0, None).is_err());
    }

    #[test]
    fn a_part_of_the_long_profile_is_the_same_runs() {
        let fault_runs = |specs: Vec<RunSpec>| -> Vec<(u64, NemesisKind, u64)> {
            specs
                .into_iter()
                .filter(|s| s.expect == Expect::Clean)
                .map(|s| (s.seed, s.nemesis, s.members))
                .collect()
        };
        let whole = fault_runs(profile("long", 1, 0, None).unwrap());
        let part = fault_runs(profile("long", 1, 20, Some(30)).unwrap());
        assert_eq!(part.len(), 30);
        assert_eq!(part, whole[20..50]);
        let rest = fault_runs(profile("long", 1, 90, None).unwrap());
        assert_eq!(rest, whole[90..]);
        let smoke = fault_runs(profile("smoke", 7, 0, None).unwrap());
        assert_eq!(
            fault_runs(profile("smoke", 7, 15, None).unwrap()),
            smoke[15..]
        );
        assert!(fault_runs(profile("smoke", 7, 99, None).unwrap()).is_empty());
    }

    #[test]
    fn the_reproduce_command_names_every_setting() {
        let mut s = RunSpec::new(42, NemesisKind::PartitionOneWay, WorkloadKind::Rollout, 6);
        s.expect = Expect::Wf2Violation;
        s.netns = false;
        let c = s.command();
        for part in [
            "run --seed 42",
            "--nemesis partition-one-way",
            "--workload rollout",
            "--duration-secs 6",
            "--members 3",
            "--no-netns",
            "--expect wf2-violation",
        ] {
            assert!(c.contains(part), "{part} missing from {c}");
        }
    }

    #[test]
    fn the_planted_stale_read_is_rejected() {
        let (passed, said) = planted_stale_read_control();
        assert!(passed, "{said}");
    }
}
