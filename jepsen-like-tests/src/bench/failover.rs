//! `moor-bench failover`: SIGKILL the leader while installs are in flight and measure, from
//! the sitesim journal, the time from the kill to the first step dispatched by the new
//! leader (a token above the old term), plus Raft log entries per step.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::{Cluster, MemberSettings, SiteSimProc};
use anyhow::{bail, Context, Result};
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::{
    ApplyBlueprintRequest, CreateEnvironmentRequest, GetExecutionRequest, PutSiteRequest, Site,
};
use tonic::transport::Channel;

const BLUEPRINT: &str = include_str!("../../../examples/blueprints/hello.yaml");

fn client(addr: &str) -> Result<WorkflowApiClient<Channel>> {
    Ok(WorkflowApiClient::new(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?.connect_lazy(),
    ))
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

async fn one_run(envs: usize, latency_ms: u64) -> Result<RunResult> {
    let dir = tempfile::Builder::new()
        .prefix("moor-failover-")
        .tempdir()?;
    let journal = dir.path().join("journal.jsonl");
    let latency = latency_ms.to_string();
    let sim = SiteSimProc::start(
        &journal,
        &dir.path().join("sitesim.log"),
        &["--latency-ms", &latency],
    )?;
    let mut cluster = Cluster::start(3, MemberSettings::default()).await?;
    let leader = cluster.wait_leader(Duration::from_secs(20)).await?;
    let follower = *cluster
        .running()
        .iter()
        .find(|id| **id != leader)
        .context("a follower")?;
    let mut c = client(cluster.addr(follower))?;
    c.apply_blueprint(ApplyBlueprintRequest {
        source_name: "hello.yaml".into(),
        yaml: BLUEPRINT.into(),
    })
    .await?;
    let start_index = cluster
        .status(leader)
        .await
        .context("status")?
        .last_log_index;
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
                agent_endpoint: sim.addr.clone(),
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
    // Kill once the first step of the last environment is in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A stale read on a follower may not have applied the creation yet.
        let in_flight = match c
            .get_execution(GetExecutionRequest {
                id: ids[envs - 1].clone(),
                stale: true,
            })
            .await
        {
            Ok(e) => e.get_ref().steps_running > 0 || e.get_ref().steps_succeeded > 0,
            Err(s) if s.code() == tonic::Code::NotFound => false,
            Err(s) => return Err(s.into()),
        };
        if in_flight {
            break;
        }
        if Instant::now() > deadline {
            bail!("nothing was dispatched");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let old_term = cluster.status(leader).await.context("status")?.term;
    let killed_at = now_ms();
    cluster.kill(leader)?;
    let new_leader = cluster.wait_leader(Duration::from_secs(20)).await?;
    let mut c = client(cluster.addr(new_leader))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    for id in &ids {
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
                        "reading {id} from member {new_leader}: {status}; files kept in {}",
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
    let end_index = cluster
        .status(new_leader)
        .await
        .context("status")?
        .last_log_index;
    sim.stop()?;
    let text = std::fs::read_to_string(&journal)?;
    let first = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["fence_token"].as_u64().unwrap_or(0) > old_term)
        .filter_map(|r| r["ts_ms"].as_u64())
        .min()
        .context("the new leader dispatched nothing")?;
    Ok(RunResult {
        kill_to_first_step_ms: first.saturating_sub(killed_at),
        entries_per_step: (end_index - start_index) as f64 / (envs * 3) as f64,
    })
}

pub async fn run(runs: usize, envs: usize, latency_ms: u64) -> Result<()> {
    let mut times = Vec::new();
    for i in 0..runs {
        let r = one_run(envs.max(1), latency_ms).await?;
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
