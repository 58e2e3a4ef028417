//! `moor-bench failover`: a fault on the leader while installs are in flight, measured from
//! outside (issue 15's P5):
//! - fault → first accepted write: a client that starts writing at the fault, round-robin
//!   over the other members, each attempt bounded by [`WRITE_ATTEMPT`];
//! - fault → first step dispatched by a later leadership: the sitesim journal's first call
//!   whose fence token is above the old leader's term;
//! - Raft log entries per step.
//!
//! The faults ([`Fault`]): SIGKILL; SIGKILL and an immediate restart on the same data (what
//! systemd's and compose's restart policies do); SIGSTOP for a while, then SIGCONT. After a
//! pause, the run also counts the elections the returning member caused and the peer
//! connections torn down by HTTP/2 `GOAWAY` in every member's log.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::{connect, Cluster, MemberSettings, SiteSimProc, GOAWAY_SIGNS};
use crate::security::Security;
use anyhow::{bail, Context, Result};
use futures::stream::{FuturesUnordered, StreamExt};
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::PutRequest;
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::{
    ApplyBlueprintRequest, CreateEnvironmentRequest, GetExecutionRequest, PutSiteRequest, Site,
};
use tonic::transport::Channel;

/// How long one write attempt of the measuring client may take.
const WRITE_ATTEMPT: Duration = Duration::from_secs(2);
/// How often the measuring client starts a write attempt: the measure's resolution.
const WRITE_EVERY: Duration = Duration::from_millis(10);
/// Most write attempts in flight at once.
const WRITES_IN_FLIGHT: usize = 256;

/// What is done to the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL.
    Kill,
    /// SIGKILL, then started again at once on the same data.
    KillRestart,
    /// SIGSTOP, then SIGCONT after the pause.
    Pause,
}

impl Fault {
    pub fn describe(self) -> &'static str {
        match self {
            Fault::Kill => "leader SIGKILLed",
            Fault::KillRestart => "leader SIGKILLed and restarted at once on its data",
            Fault::Pause => "leader SIGSTOPped, SIGCONT after the pause",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct FailoverBench {
    pub runs: usize,
    /// Environments installed per run (3 steps each, the `hello` blueprint).
    pub environments: usize,
    pub step_latency_ms: u64,
    pub tls: bool,
    pub fault: Fault,
    /// How long a [`Fault::Pause`] lasts.
    pub pause: Duration,
    /// Extra `[raft]` settings of the members (`key = value` lines), e.g. election timeouts.
    pub raft: Vec<String>,
}

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

/// What one run measured.
#[derive(Debug, Clone)]
pub struct FailoverRun {
    /// Fault → the first write acknowledged (None: none within the run).
    pub fault_to_first_write_ms: Option<u64>,
    /// Fault → the first step call fenced above the old term.
    pub fault_to_first_step_ms: u64,
    pub entries_per_step: f64,
    /// After a pause: elections (term increases) from SIGCONT to the end of the run.
    pub elections_after_resume: Option<u64>,
    /// Lines in the members' logs that tell of an HTTP/2 GOAWAY for too many resets.
    pub goaway_lines: usize,
}

/// Every run's figures, and their medians.
#[derive(Debug, Clone)]
pub struct FailoverFigures {
    pub runs: Vec<FailoverRun>,
}

impl FailoverFigures {
    /// Median fault → first accepted write, over the runs that had one.
    pub fn median_write_ms(&self) -> Option<u64> {
        median(self.runs.iter().filter_map(|r| r.fault_to_first_write_ms))
    }

    /// Median fault → first re-dispatched step.
    pub fn median_step_ms(&self) -> Option<u64> {
        median(self.runs.iter().map(|r| r.fault_to_first_step_ms))
    }

    /// Runs without an acknowledged write after the fault.
    pub fn runs_without_write(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.fault_to_first_write_ms.is_none())
            .count()
    }

    pub fn goaway_lines(&self) -> usize {
        self.runs.iter().map(|r| r.goaway_lines).sum()
    }

    pub fn elections_after_resume(&self) -> u64 {
        self.runs
            .iter()
            .filter_map(|r| r.elections_after_resume)
            .sum()
    }
}

/// The lower median of `values` (None when empty).
fn median(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut v: Vec<u64> = values.collect();
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// A client that writes from the moment it is made, round-robin over `addrs`, until the
/// first write is acknowledged (or a minute passed); yields the acknowledgement's wall-clock
/// time in ms. A new attempt starts every [`WRITE_EVERY`] whatever the earlier ones do (at
/// most [`WRITES_IN_FLIGHT`] at once), so an attempt stuck on a dead leader does not delay
/// the measure.
fn first_write(addrs: Vec<String>, security: Security) -> tokio::task::JoinHandle<Option<u64>> {
    tokio::spawn(async move {
        let clients: Vec<MoorApiClient<Channel>> = addrs
            .iter()
            .map(|a| MoorApiClient::new(connect(a, &security).connect_lazy()))
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut tick = tokio::time::interval(WRITE_EVERY);
        let mut attempts = FuturesUnordered::new();
        let mut i = 0usize;
        loop {
            tokio::select! {
                _ = tick.tick(), if attempts.len() < WRITES_IN_FLIGHT => {
                    let mut c = clients[i % clients.len()].clone();
                    let mut req = tonic::Request::new(PutRequest {
                        key: format!("failover/{i}"),
                        value: b"x".to_vec(),
                    });
                    req.set_timeout(WRITE_ATTEMPT);
                    attempts.push(async move {
                        tokio::time::timeout(WRITE_ATTEMPT, c.put(req)).await
                    });
                    i += 1;
                }
                Some(done) = attempts.next() => {
                    if let Ok(Ok(_)) = done {
                        return Some(now_ms());
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    })
}

/// One failover: installs the environments through a follower, applies the fault to the
/// leader once the last one's first step is in flight, waits for every install to succeed
/// under the new leadership, and reads the figures off the journal, the log and the logs.
async fn one_run(b: &FailoverBench) -> Result<FailoverRun> {
    let envs = b.environments.max(1);
    let dir = tempfile::Builder::new()
        .prefix("moor-failover-")
        .tempdir()?;
    let journal = dir.path().join("journal.jsonl");
    let latency = b.step_latency_ms.to_string();
    let settings = MemberSettings {
        insecure_plaintext: !b.tls,
        raft: b.raft.clone(),
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
    let others: Vec<u64> = cluster
        .running()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let follower = *others.first().context("a follower")?;
    let mut c = client(cluster.addr(follower), cluster.security());
    c.apply_blueprint(ApplyBlueprintRequest {
        source_name: "hello.yaml".into(),
        yaml: BLUEPRINT.into(),
        validate_only: false,
    })
    .await?;
    let start_index = last_log_index(&cluster, leader).await?;
    let ids = create_environments(&mut c, envs, &sim.addr).await?;
    // The fault comes once the first step of the last environment is in flight.
    wait_dispatched(&mut c, &ids[envs - 1]).await?;
    let old_term = cluster.status(leader).await.context("status")?.term;
    let addrs = others
        .iter()
        .map(|id| cluster.addr(*id).to_string())
        .collect();
    let fault_at = now_ms();
    match b.fault {
        Fault::Kill => cluster.kill(leader)?,
        Fault::KillRestart => {
            cluster.kill(leader)?;
            cluster.restart(leader)?;
        }
        Fault::Pause => cluster.signal(leader, libc::SIGSTOP)?,
    }
    let writer = first_write(addrs, cluster.security().clone());
    // After a pause: the new leader's term when the paused member was let go.
    let mut term_at_resume = None;
    if b.fault == Fault::Pause {
        // The pause is the fault itself: how long the member stays stopped.
        tokio::time::sleep(b.pause).await;
        let others_leader = cluster
            .wait_leader_among(&others, Duration::from_secs(20))
            .await?;
        let term_before = cluster.status(others_leader).await.context("status")?.term;
        cluster.signal(leader, libc::SIGCONT)?;
        term_at_resume = Some(term_before);
    }
    let new_leader = cluster.wait_leader(Duration::from_secs(20)).await?;
    wait_succeeded(&mut cluster, new_leader, &ids).await?;
    let end = cluster.status(new_leader).await.context("status")?;
    let elections_after_resume = term_at_resume.map(|t| end.term.saturating_sub(t));
    sim.stop()?;
    let first_step = first_step_above(&journal, old_term)?;
    let write = writer.await.context("the writer")?;
    Ok(FailoverRun {
        fault_to_first_write_ms: write.map(|at| at.saturating_sub(fault_at)),
        fault_to_first_step_ms: first_step.saturating_sub(fault_at),
        entries_per_step: (end.last_log_index - start_index) as f64 / (envs * 3) as f64,
        elections_after_resume,
        goaway_lines: goaway_lines(&cluster),
    })
}

/// Lines of the members' logs that tell of a GOAWAY sent or received for too many resets.
fn goaway_lines(cluster: &Cluster) -> usize {
    cluster
        .members
        .keys()
        .map(|id| cluster.log_lines_with(*id, &GOAWAY_SIGNS).len())
        .sum()
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

/// Runs the bench, printing each run and the medians.
pub async fn run(b: &FailoverBench) -> Result<FailoverFigures> {
    println!(
        "failover: {} ({} environments, {} ms steps{}{})",
        b.fault.describe(),
        b.environments,
        b.step_latency_ms,
        if b.fault == Fault::Pause {
            format!(", pause {} ms", b.pause.as_millis())
        } else {
            String::new()
        },
        if b.raft.is_empty() {
            ", default [raft] timeouts".to_string()
        } else {
            format!(", [raft] {}", b.raft.join(", "))
        }
    );
    let mut runs = Vec::new();
    for i in 0..b.runs.max(1) {
        let r = one_run(b).await?;
        println!(
            "run {i}: fault -> first accepted write {}, first step of a new leadership {} ms; {:.3} Raft entries per step (incl. environment creation){}{}",
            r.fault_to_first_write_ms
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_else(|| "none".into()),
            r.fault_to_first_step_ms,
            r.entries_per_step,
            r.elections_after_resume
                .map(|n| format!("; elections after SIGCONT: {n}"))
                .unwrap_or_default(),
            if r.goaway_lines > 0 {
                format!("; {} GOAWAY (too many resets) lines in the logs", r.goaway_lines)
            } else {
                String::new()
            }
        );
        runs.push(r);
    }
    let f = FailoverFigures { runs };
    let show = |v: Option<u64>| {
        v.map(|ms| format!("{ms} ms"))
            .unwrap_or_else(|| "none".into())
    };
    println!(
        "failover median over {} runs: fault -> first accepted write {} ({} runs without one), fault -> first resumed step {}; GOAWAY lines {}{}",
        f.runs.len(),
        show(f.median_write_ms()),
        f.runs_without_write(),
        show(f.median_step_ms()),
        f.goaway_lines(),
        if b.fault == Fault::Pause {
            format!("; elections after SIGCONT {}", f.elections_after_resume())
        } else {
            String::new()
        }
    );
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_is_the_lower_middle_and_none_when_empty() {
        assert_eq!(median([5, 1, 3].into_iter()), Some(3));
        assert_eq!(median([4, 1, 3, 2].into_iter()), Some(2));
        assert_eq!(median(std::iter::empty()), None);
    }
}
