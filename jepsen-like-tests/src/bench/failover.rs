//! `moor-bench failover`: SIGKILL the leader while installs are in flight and measure, from
//! the sitesim journal, the time from the kill to the first step dispatched by the new
//! leader (a token above the old term), plus Raft log entries per step.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::{connect, Cluster, MemberSettings, SiteSimProc};
use crate::security::Security;
use anyhow::{bail, Context, Result};
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::{
    ApplyBlueprintRequest, CreateEnvironmentRequest, GetExecutionRequest, PutSiteRequest, Site,
};
use tonic::transport::Channel;

const BLUEPRINT: &str = include_str!("../../../examples/blueprints/hello.yaml");

fn client(addr: &str, security: &Security) -> WorkflowApiClient<Channel> {
    WorkflowApiClient::new(connect(addr, security).connect_lazy())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct RunResult {
    kill_to_first_step_ms: u64,
    entries_per_step: f64,
}

/// One failover: installs `envs` environments through a follower, SIGKILLs the leader once
/// the last one's first step is in flight, waits for every install to succeed under the new
/// leader, and reads the figures off the journal and the Raft log.
async fn one_run(envs: usize, latency_ms: u64, tls: bool) -> Result<RunResult> {
    let dir = tempfile::Builder::new()
        .prefix("moor-failover-")
        .tempdir()?;
    let journal = dir.path().join("journal.jsonl");
    let latency = latency_ms.to_string();
    let settings = MemberSettings {
        insecure_plaintext: !tls,
        ..MemberSettings::default()
    };
    let mut cluster = Cluster::start(3, settings).await?;
    let sim = SiteSimProc::start(
        &journal,
        &dir.path().join("sitesim.log"),
        cluster.security(),
        &["--latency-ms", &latency],
    )?;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await?;
    let follower = *cluster
        .running()
        .iter()
        .find(|id| **id != leader)
        .context("a follower")?;
    let mut c = client(cluster.addr(follower), cluster.security());
    c.apply_blueprint(ApplyBlueprintRequest {
        source_name: "hello.yaml".into(),
        yaml: BLUEPRINT.into(),
        validate_only: false,
    })
    .await?;
    let start_index = last_log_index(&cluster, leader).await?;
    let ids = create_environments(&mut c, envs, &sim.addr).await?;
    // Kill once the first step of the last environment is in flight.
    wait_dispatched(&mut c, &ids[envs - 1]).await?;
    let old_term = cluster.status(leader).await.context("status")?.term;
    let killed_at = now_ms();
    cluster.kill(leader)?;
    let new_leader = cluster.wait_leader(Duration::from_secs(20)).await?;
    wait_succeeded(&mut cluster, new_leader, &ids).await?;
    let end_index = last_log_index(&cluster, new_leader).await?;
    sim.stop()?;
    let first = first_step_above(&journal, old_term)?;
    Ok(RunResult {
        kill_to_first_step_ms: first.saturating_sub(killed_at),
        entries_per_step: (end_index - start_index) as f64 / (envs * 3) as f64,
    })
}

/// The last Raft log index of member `id`.
async fn last_log_index(cluster: &Cluster, id: u64) -> Result<u64> {
    Ok(cluster.status(id).await.context("status")?.last_log_index)
}

/// Puts sites `site-0..envs` (all served by the sitesim at `sim_addr`) and creates one
/// `hello` environment on each; returns the executions' ids.
async fn create_environments(
    c: &mut WorkflowApiClient<Channel>,
    envs: usize,
    sim_addr: &str,
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for i in 0..envs {
        let site = format!("site-{i}");
        c.put_site(PutSiteRequest {
            site: Some(Site {
                name: site.clone(),
                region: "bench".into(),
                latitude: 0.0,
                longitude: 0.0,
                labels: Default::default(),
                agent_endpoint: sim_addr.to_string(),
                ..Default::default()
            }),
        })
        .await?;
        let r = c
            .create_environment(CreateEnvironmentRequest {
                name: format!("env-{i}"),
                site,
                blueprint: "hello".into(),
                inputs_json: "{}".into(),
                ..Default::default()
            })
            .await?;
        ids.push(r.into_inner().id);
    }
    Ok(ids)
}

/// Waits (up to 30 s) until execution `id` has a step running or done.
async fn wait_dispatched(c: &mut WorkflowApiClient<Channel>, id: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A stale read on a follower may not have applied the creation yet.
        let in_flight = match c
            .get_execution(GetExecutionRequest {
                id: id.to_string(),
                stale: true,
            })
            .await
        {
            Ok(e) => e.get_ref().steps_running > 0 || e.get_ref().steps_succeeded > 0,
            Err(s) if s.code() == tonic::Code::NotFound => false,
            Err(s) => return Err(s.into()),
        };
        if in_flight {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nothing was dispatched");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (up to 120 s in all) until every execution in `ids` succeeded, reading through
/// `leader`. If a read fails, keeps the cluster's files and prints each member's state.
async fn wait_succeeded(cluster: &mut Cluster, leader: u64, ids: &[String]) -> Result<()> {
    let mut c = client(cluster.addr(leader), cluster.security());
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in ids {
        loop {
            let request = GetExecutionRequest {
                id: id.clone(),
                stale: false,
            };
            let e = match c.get_execution(request).await {
                Ok(e) => e.into_inner(),
                Err(status) => {
                    let dir = cluster.keep_dir();
                    for m in cluster.running() {
                        let s = cluster.status(m).await;
                        eprintln!(
                            "member {m}: {:?}",
                            s.map(|s| (s.state, s.term, s.applied_index))
                        );
                    }
                    bail!(
                        "reading {id} from member {leader}: {status}; files kept in {}",
                        dir.display()
                    );
                }
            };
            if e.state == "succeeded" {
                break;
            }
            if Instant::now() > deadline || e.state == "failed" {
                bail!("execution {id} ended {} ({})", e.state, e.error);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// When (ms since the epoch) the journal first shows a step fenced above `old_term`: the
/// first step a later leader dispatched.
fn first_step_above(journal: &Path, old_term: u64) -> Result<u64> {
    let text = std::fs::read_to_string(journal)?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["fence_token"].as_u64().unwrap_or(0) > old_term)
        .filter_map(|r| r["ts_ms"].as_u64())
        .min()
        .context("the new leader dispatched nothing")
}

/// Runs `runs` failovers; `tls` false starts plaintext members with auth off (and a
/// plaintext sitesim).
pub async fn run(runs: usize, envs: usize, latency_ms: u64, tls: bool) -> Result<()> {
    let mut times = Vec::new();
    for i in 0..runs {
        let r = one_run(envs.max(1), latency_ms, tls).await?;
        println!(
            "run {i}: kill -> first step of the new leader {} ms, {:.3} Raft entries per step (incl. environment creation)",
            r.kill_to_first_step_ms, r.entries_per_step
        );
        times.push(r.kill_to_first_step_ms);
    }
    times.sort_unstable();
    println!(
        "failover median kill -> first resumed step: {} ms over {} runs",
        times[times.len() / 2],
        times.len()
    );
    Ok(())
}
