//! `moor-bench rollout`: one install rollout of N environments × S chained steps against
//! `moor-sitesim` with a fixed per-step latency and a parallelism cap, on a fresh 3-member
//! cluster. Prints the wall time beside the ideal time (ceil(N / parallel) × S × latency),
//! their ratio, Raft entries and fsyncs per step, CPU per step (members and sitesim summed)
//! and each member's peak RSS; optionally
//! SIGKILLs the leader once a fraction of the environments is done.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use moor_proto::api::ClusterStatusResponse;
use moor_proto::rollout::{Rollout, StartRolloutRequest};

use crate::bench::cpu_s;
use crate::fleet::{chain_blueprint, Fleet};
use crate::harness::MemberSettings;

/// What to run.
#[derive(Debug, Clone)]
pub struct RolloutBench {
    pub environments: usize,
    pub steps: usize,
    pub step_latency_ms: u64,
    pub parallel: u32,
    /// SIGKILL the leader when this fraction of the environments succeeded.
    pub kill_leader_at: Option<f64>,
    /// Give up after this long.
    pub timeout: Duration,
    /// TLS and authentication on (as in production); off: plaintext members with auth off
    /// and a plaintext sitesim.
    pub tls: bool,
    /// The members' `raft.snapshot_every_entries` (None: the default). A rollout writes few
    /// entries (results are batched), so at the default no snapshot is built during it and
    /// the peak RSS leaves out what a snapshot build costs; a small value puts builds in.
    pub snapshot_every_entries: Option<u64>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RolloutFigures {
    pub setup_s: f64,
    pub wall_s: f64,
    pub ideal_s: f64,
    pub entries_per_step: f64,
    pub appends_per_step: f64,
    pub fsyncs_per_step: f64,
    /// Peak RSS (VmHWM) per member, MiB, read just before the member stopped or the end.
    pub peak_rss_mib: Vec<(u64, u64)>,
    /// When the leader was killed: seconds into the rollout.
    pub killed_at_s: Option<f64>,
    /// CPU seconds (user + system) over the rollout: the members summed (a killed one up to
    /// its kill), the sitesim, and this benchmark process (its progress polling).
    pub members_cpu_s: f64,
    pub sitesim_cpu_s: f64,
    pub bench_cpu_s: f64,
    /// Elections during the rollout: the final leader's term minus its term before.
    pub elections: u64,
}

impl RolloutFigures {
    pub fn ratio(&self) -> f64 {
        self.wall_s / self.ideal_s
    }

    /// CPU per workflow step, members and sitesim summed (issue 15's P4), in µs.
    pub fn cpu_us_per_step(&self, b: &RolloutBench) -> f64 {
        let steps = (b.environments * b.steps).max(1) as f64;
        (self.members_cpu_s + self.sitesim_cpu_s) * 1e6 / steps
    }
}

/// Peak resident set of a process, from /proc (Linux), in MiB.
pub(crate) fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Runs the bench: sets up a fleet, starts the rollout, watches it to its end (killing the
/// leader on the way if asked) and reads the figures off the final leader.
pub async fn run(b: &RolloutBench) -> Result<RolloutFigures> {
    let setup = Instant::now();
    let (mut fleet, before) = prepare(b).await?;
    let setup_s = setup.elapsed().as_secs_f64();

    eprintln!(
        "rollout of {} environments × {} steps…",
        b.environments, b.steps
    );
    let member_pids: Vec<u32> = fleet
        .cluster
        .members
        .values()
        .filter_map(|m| m.pid())
        .collect();
    let sim_pid = fleet.sim.as_ref().map(|s| s.pid()).unwrap_or(0);
    let cpu0 = Cpu::read(&member_pids, sim_pid);
    let start = Instant::now();
    let r = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "bench".into(),
            action: "install".into(),
            blueprint: "bench".into(),
            max_parallel: b.parallel as i64,
            max_attempts: 3,
            step_timeout_ms: 30_000,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut watch = Watch::new(start, member_pids.clone());
    let done = watch.until_ended(&mut fleet, b, &r.id).await?;
    let wall_s = watch.start.elapsed().as_secs_f64();
    if done.state != "succeeded" {
        bail!(
            "rollout ended {} ({} failed): {:?}",
            done.state,
            done.failed,
            done.failures
        );
    }
    let mut cpu1 = Cpu::read(&member_pids, sim_pid);
    // A member killed on the way counts up to its kill.
    for (pid, s) in &watch.cpu_at_kill {
        cpu1.members.insert(*pid, *s);
    }
    let leader = fleet.cluster.wait_leader(Duration::from_secs(20)).await?;
    let after = fleet.cluster.status(leader).await.context("status")?;
    for (id, m) in &fleet.cluster.members {
        if let Some(pid) = m.pid() {
            watch.peak.push((*id, peak_rss_mib(pid).unwrap_or(0)));
        }
    }
    let _ = fleet.stop_sim();
    // The final leader's counters over the rollout (as a follower before a failover it
    // appended and synced every entry too).
    let mut f = figures(b, &before[&after.id], &after, setup_s, wall_s, watch);
    f.members_cpu_s = cpu1.members.values().sum::<f64>() - cpu0.members.values().sum::<f64>();
    f.sitesim_cpu_s = cpu1.sitesim - cpu0.sitesim;
    f.bench_cpu_s = cpu1.bench - cpu0.bench;
    Ok(f)
}

/// CPU seconds used so far by the members (by pid), the sitesim and this process.
struct Cpu {
    members: BTreeMap<u32, f64>,
    sitesim: f64,
    bench: f64,
}

impl Cpu {
    fn read(members: &[u32], sitesim: u32) -> Cpu {
        Cpu {
            members: members.iter().map(|p| (*p, cpu_s(*p))).collect(),
            sitesim: cpu_s(sitesim),
            bench: cpu_s(std::process::id()),
        }
    }
}

/// A fresh 3-member fleet with the sites, the chain blueprint and the group registered;
/// returns it with every member's counters before the rollout.
pub(crate) async fn prepare(
    b: &RolloutBench,
) -> Result<(Fleet, BTreeMap<u64, ClusterStatusResponse>)> {
    let latency = b.step_latency_ms.to_string();
    // Drift checks would observe every environment at every interval: off, so the figures
    // are the rollout's alone. Room for every step of every running environment in flight.
    let in_flight = (b.parallel as usize * b.steps).max(1024);
    let settings = MemberSettings {
        raft: b
            .snapshot_every_entries
            .map(|n| format!("snapshot_every_entries = {n}"))
            .into_iter()
            .collect(),
        executor: vec![
            "drift_check_interval_ms = 0".into(),
            format!("max_in_flight = {in_flight}"),
        ],
        insecure_plaintext: !b.tls,
        ..MemberSettings::default()
    };
    let fleet = Fleet::start(3, settings, &["--latency-ms", &latency]).await?;
    eprintln!("registering {} sites…", b.environments);
    fleet
        .register_sites("site", b.environments, 64)
        .await
        .context("registering sites")?;
    fleet
        .apply_blueprint(&chain_blueprint("bench", b.steps, "v1"))
        .await?;
    fleet.put_group("bench", "sites", &[]).await?;
    fleet.cluster.wait_leader(Duration::from_secs(20)).await?;
    // Every member's counters, so the figures hold for whichever member leads at the end.
    let mut before = BTreeMap::new();
    for id in fleet.cluster.running() {
        before.insert(id, fleet.cluster.status(id).await.context("status")?);
    }
    Ok((fleet, before))
}

/// What watching the rollout recorded: when it started, the peak RSS of every member
/// killed, when the leader was killed.
struct Watch {
    start: Instant,
    peak: Vec<(u64, u64)>,
    killed_at_s: Option<f64>,
    last_print: Instant,
    /// The members' pids at the start, and the CPU seconds of one read just before its kill.
    pids: Vec<u32>,
    cpu_at_kill: Vec<(u32, f64)>,
}

impl Watch {
    /// Watches a rollout started at `start`.
    fn new(start: Instant, pids: Vec<u32>) -> Watch {
        Watch {
            start,
            peak: Vec::new(),
            killed_at_s: None,
            last_print: Instant::now(),
            pids,
            cpu_at_kill: Vec::new(),
        }
    }

    /// Polls rollout `id` until it ends or pauses (or the bench's timeout passes); returns
    /// it as last read.
    async fn until_ended(
        &mut self,
        fleet: &mut Fleet,
        b: &RolloutBench,
        id: &str,
    ) -> Result<Rollout> {
        loop {
            if let Some(r) = fleet.rollout(id, "").await? {
                if matches!(
                    r.state.as_str(),
                    "succeeded" | "failed" | "cancelled" | "paused"
                ) {
                    return Ok(r);
                }
                self.kill_leader_if_due(fleet, b, &r).await?;
                self.print_progress(&r);
            }
            if self.start.elapsed() > b.timeout {
                bail!("the rollout did not end within {:?}", b.timeout);
            }
            // Progress polling; 20 ms is well under the figures measured (seconds).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs the leader (once) when the bench asks for it and enough environments
    /// succeeded, noting its peak RSS first.
    async fn kill_leader_if_due(
        &mut self,
        fleet: &mut Fleet,
        b: &RolloutBench,
        r: &Rollout,
    ) -> Result<()> {
        let due = b.kill_leader_at.is_some_and(|at| {
            self.killed_at_s.is_none() && r.succeeded as f64 >= at * b.environments as f64
        });
        if !due {
            return Ok(());
        }
        let leader = fleet.cluster.wait_leader(Duration::from_secs(20)).await?;
        if let Some(pid) = fleet.cluster.members[&leader].pid() {
            self.peak.push((leader, peak_rss_mib(pid).unwrap_or(0)));
            if self.pids.contains(&pid) {
                self.cpu_at_kill.push((pid, cpu_s(pid)));
            }
        }
        fleet.cluster.kill(leader)?;
        self.killed_at_s = Some(self.start.elapsed().as_secs_f64());
        eprintln!(
            "killed leader {leader} at {:.2} s",
            self.start.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Prints the rollout's counts every 5 s.
    fn print_progress(&mut self, r: &Rollout) {
        if self.last_print.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "  {:.0} s: {} succeeded, {} running, {} queued",
                self.start.elapsed().as_secs_f64(),
                r.succeeded,
                r.running,
                r.queued
            );
            self.last_print = Instant::now();
        }
    }
}

/// The figures from one member's counters `before` and `after` the rollout.
fn figures(
    b: &RolloutBench,
    before: &ClusterStatusResponse,
    after: &ClusterStatusResponse,
    setup_s: f64,
    wall_s: f64,
    watch: Watch,
) -> RolloutFigures {
    let mut peak = watch.peak;
    peak.sort();
    let steps = (b.environments * b.steps) as f64;
    let (entries, appends, fsyncs) = (
        after.log_entries - before.log_entries,
        after.log_appends - before.log_appends,
        after.fsyncs - before.fsyncs,
    );
    let waves = b.environments.div_ceil(b.parallel as usize) as f64;
    let ideal_s = waves * b.steps as f64 * b.step_latency_ms as f64 / 1000.0;
    RolloutFigures {
        setup_s,
        wall_s,
        ideal_s,
        entries_per_step: entries as f64 / steps,
        appends_per_step: appends as f64 / steps,
        fsyncs_per_step: fsyncs as f64 / steps,
        peak_rss_mib: peak,
        killed_at_s: watch.killed_at_s,
        members_cpu_s: 0.0,
        sitesim_cpu_s: 0.0,
        bench_cpu_s: 0.0,
        elections: after.term.saturating_sub(before.term),
    }
}
