//! `moor-bench drift`: the cost of drift checks. A fresh 3-member cluster installs N
//! environments × R resources on `moor-sitesim` (no step latency), with every environment
//! checked every `interval`; once the install has ended, it measures over a fixed window how
//! many environments the leader observed (the sitesim's observe counter), how many resources
//! that compared, and the CPU the leader, the followers and the sitesim spent on it, and
//! prints resources compared per minute per leader core beside the leader's RSS before and
//! after the window. `--bare`: N sites with nothing installed, so what the window measures
//! is the leader's reachability probes of sites no check covers.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use moor_proto::rollout::StartRolloutRequest;
use moor_proto::site::SiteSimStatsRequest;

use crate::bench::cpu_s;
use crate::fleet::{chain_blueprint, Fleet};
use crate::harness::MemberSettings;

/// What to run.
#[derive(Debug, Clone)]
pub struct DriftBench {
    pub environments: usize,
    pub resources: usize,
    pub interval_ms: u64,
    pub window: Duration,
    pub tls: bool,
    /// `environments` bare sites and nothing installed: what is measured is the leader's
    /// reachability probes (a probe is an `Observe`, counted by the sitesim alike).
    pub bare: bool,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct DriftFigures {
    pub install_s: f64,
    pub observes: u64,
    pub window_s: f64,
    /// CPU seconds over the window.
    pub leader_cpu_s: f64,
    pub followers_cpu_s: f64,
    pub sitesim_cpu_s: f64,
    pub leader_rss_before_mib: u64,
    pub leader_rss_after_mib: u64,
}

impl DriftFigures {
    /// Environments observed per second.
    pub fn observes_per_s(&self) -> f64 {
        self.observes as f64 / self.window_s
    }

    /// Resources compared per minute per core of the leader.
    pub fn resources_per_min_per_core(&self, resources: usize) -> f64 {
        let per_min = self.observes as f64 * resources as f64 * 60.0 / self.window_s;
        per_min / (self.leader_cpu_s / self.window_s).max(1e-9)
    }
}

/// Resident set now, MiB.
fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

pub async fn run(b: &DriftBench) -> Result<DriftFigures> {
    let settings = MemberSettings {
        raft: Vec::new(),
        executor: vec![
            format!("drift_check_interval_ms = {}", b.interval_ms),
            "max_in_flight = 4096".into(),
        ],
        insecure_plaintext: !b.tls,
        ..MemberSettings::default()
    };
    let fleet = Fleet::start(3, settings, &[]).await?;
    eprintln!("registering {} sites…", b.environments);
    let start = Instant::now();
    fleet.register_sites("site", b.environments, 64).await?;
    if b.bare {
        let registered_s = start.elapsed().as_secs_f64();
        return measure(fleet, b, registered_s).await;
    }
    fleet
        .apply_blueprint(&chain_blueprint("bench", b.resources, "v1"))
        .await?;
    fleet.put_group("bench", "sites", &[]).await?;
    eprintln!(
        "installing {} environments × {} resources…",
        b.environments, b.resources
    );
    let start = Instant::now();
    let r = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "bench".into(),
            action: "install".into(),
            blueprint: "bench".into(),
            max_parallel: 1000,
            max_attempts: 3,
            step_timeout_ms: 30_000,
            ..Default::default()
        })
        .await?
        .into_inner();
    let done = fleet
        .wait_rollout(&r.id, Duration::from_secs(3600), "its end", |r| {
            matches!(
                r.state.as_str(),
                "succeeded" | "failed" | "cancelled" | "paused"
            )
        })
        .await?;
    if done.state != "succeeded" {
        bail!("the install ended {}: {:?}", done.state, done.failures);
    }
    let install_s = start.elapsed().as_secs_f64();
    measure(fleet, b, install_s).await
}

/// Measures the leader's observes (checks or probes) over the window, once set up in
/// `setup_s` seconds.
async fn measure(mut fleet: Fleet, b: &DriftBench, setup_s: f64) -> Result<DriftFigures> {
    let leader = fleet.cluster.wait_leader(Duration::from_secs(20)).await?;
    let pid = |id: u64| fleet.cluster.members.get(&id).and_then(|m| m.pid());
    let Some(leader_pid) = pid(leader) else {
        bail!("the leader {leader} has no process");
    };
    let followers: Vec<u32> = fleet
        .cluster
        .running()
        .into_iter()
        .filter(|id| *id != leader)
        .filter_map(pid)
        .collect();
    let sim_pid = fleet.sim.as_ref().map(|s| s.pid()).unwrap_or(0);
    let mut admin = fleet
        .sim
        .as_ref()
        .map(|s| s.admin())
        .expect("sitesim running");
    let observed = |s: moor_proto::site::SiteSimStatsResponse| s.observed;

    let rss_before = rss_mib(leader_pid);
    let cpu0 = (
        cpu_s(leader_pid),
        followers.iter().map(|p| cpu_s(*p)).sum::<f64>(),
        cpu_s(sim_pid),
    );
    let obs0 = observed(admin.stats(SiteSimStatsRequest {}).await?.into_inner());
    let t0 = Instant::now();
    // The measurement window: the checks run on their own schedule meanwhile.
    tokio::time::sleep(b.window).await;
    let obs1 = observed(admin.stats(SiteSimStatsRequest {}).await?.into_inner());
    let window_s = t0.elapsed().as_secs_f64();
    let cpu1 = (
        cpu_s(leader_pid),
        followers.iter().map(|p| cpu_s(*p)).sum::<f64>(),
        cpu_s(sim_pid),
    );
    let rss_after = rss_mib(leader_pid);
    let _ = fleet.stop_sim();
    Ok(DriftFigures {
        install_s: setup_s,
        observes: obs1.saturating_sub(obs0),
        window_s,
        leader_cpu_s: cpu1.0 - cpu0.0,
        followers_cpu_s: cpu1.1 - cpu0.1,
        sitesim_cpu_s: cpu1.2 - cpu0.2,
        leader_rss_before_mib: rss_before,
        leader_rss_after_mib: rss_after,
    })
}
