//! `moor-bench backup`: the size and time of a backup and a restore at N environments.
//!
//! A fresh 3-member fleet installs N environments (one rollout, fast steps), then a follower
//! is asked for a backup (`SaveSnapshot`, streamed and verified here as `moorctl` does); the
//! file is restored with `moord restore` into a one-member cluster that is started and timed
//! until it leads and answers a linearizable read with every environment.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::SaveSnapshotRequest;
use moor_proto::rollout::StartRolloutRequest;
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::ListEnvironmentsRequest;

use crate::bench::rollout::{peak_rss_mib, prepare, RolloutBench};
use crate::harness::{bin_dir, connect};

/// What a run measured.
#[derive(Debug, Clone)]
pub struct BackupFigures {
    pub environments: usize,
    pub executions: u64,
    pub file_bytes: usize,
    pub save_s: f64,
    pub restore_s: f64,
    pub start_to_serving_s: f64,
    pub restored_peak_rss_mib: u64,
}

/// Runs the bench with `environments` (TLS and tokens on, as in production).
pub async fn run(environments: usize) -> Result<BackupFigures> {
    let b = RolloutBench {
        environments,
        steps: 3,
        step_latency_ms: 1,
        parallel: 1000,
        kill_leader_at: None,
        timeout: Duration::from_secs(3600),
        tls: true,
        snapshot_every_entries: None,
    };
    let (mut fleet, _) = prepare(&b).await?;
    eprintln!("installing {environments} environments…");
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
        .wait_rollout(&r.id, b.timeout, "an end", |r| {
            matches!(r.state.as_str(), "succeeded" | "failed" | "cancelled")
        })
        .await?;
    if done.state != "succeeded" {
        bail!("the install rollout ended {}", done.state);
    }

    let leader = fleet.cluster.wait_leader(Duration::from_secs(20)).await?;
    let follower = fleet
        .cluster
        .running()
        .into_iter()
        .find(|id| *id != leader)
        .context("no follower")?;
    eprintln!("backup from follower {follower}…");
    let started = Instant::now();
    let mut api = MoorApiClient::new(
        connect(fleet.cluster.addr(follower), fleet.cluster.security()).connect_lazy(),
    )
    .max_decoding_message_size(64 << 20);
    let mut stream = api
        .save_snapshot(SaveSnapshotRequest {})
        .await?
        .into_inner();
    let mut file = Vec::new();
    while let Some(chunk) = stream.message().await? {
        file.extend_from_slice(&chunk.data);
    }
    let backup = moor_proto::backup::parse(&file).context("the backup does not verify")?;
    let save_s = started.elapsed().as_secs_f64();
    let executions = backup.header.counts.get("executions").copied().unwrap_or(0);
    let path = fleet.dir.join("bench.backup");
    std::fs::write(&path, &file)?;
    let _ = fleet.stop_sim();

    // Restore into member 9, alone.
    let id = 9;
    fleet.cluster.define(id)?;
    let data_dir = fleet.cluster.members[&id].data_dir.clone();
    let members = format!("{id}={}", fleet.cluster.peer_addr(id));
    let started = Instant::now();
    let out = Command::new(bin_dir().join("moord"))
        .arg("restore")
        .arg("--snapshot")
        .arg(&path)
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--id", &id.to_string(), "--members", &members])
        .output()?;
    if !out.status.success() {
        bail!(
            "moord restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let restore_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    fleet.cluster.restart(id)?;
    fleet
        .cluster
        .wait_leader_among(&[id], Duration::from_secs(120))
        .await?;
    let mut wf = WorkflowApiClient::new(
        connect(fleet.cluster.addr(id), fleet.cluster.security()).connect_lazy(),
    )
    .max_decoding_message_size(1 << 30);
    let envs = wf
        .list_environments(ListEnvironmentsRequest::default())
        .await?
        .into_inner();
    let start_to_serving_s = started.elapsed().as_secs_f64();
    if envs.environments.len() != environments {
        bail!(
            "the restored member lists {} environments, not {environments}",
            envs.environments.len()
        );
    }
    let pid = fleet.cluster.members[&id].pid().context("member 9 runs")?;
    Ok(BackupFigures {
        environments,
        executions,
        file_bytes: file.len(),
        save_s,
        restore_s,
        start_to_serving_s,
        restored_peak_rss_mib: peak_rss_mib(pid).unwrap_or(0),
    })
}
