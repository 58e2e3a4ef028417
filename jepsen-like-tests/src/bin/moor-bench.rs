//! `moor-bench`: prints throughput and latency figures for Moor, beside the physical floor
//! and etcd measured in the same run (see GUIDE §7). It asserts nothing; humans read and
//! record the figures in docs/BENCHMARKS.md.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use moor_jepsen_like_tests::bench::etcd::{etcd_binary, EtcdClient, EtcdCluster};
use moor_jepsen_like_tests::bench::floor::{fsync_latency, loopback_rtt};
use moor_jepsen_like_tests::bench::rollout::{RolloutBench, RolloutFigures};
use moor_jepsen_like_tests::bench::workload::{self, RunResult, WriteFn};
use moor_jepsen_like_tests::harness::{Cluster, MemberSettings};
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::PutRequest;
use tonic::transport::{Channel, Endpoint};

#[derive(Parser)]
#[command(
    name = "moor-bench",
    about = "Moor benchmarks; prints figures, asserts nothing"
)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Leader SIGKILL during installs: time to the first step the new leader dispatches,
    /// and Raft entries per step. Starts moor-sitesim and a 3-member cluster per run.
    Failover {
        /// Runs (the median is printed).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Environments installed per run (3 steps each, the `hello` blueprint).
        #[arg(long, default_value_t = 30)]
        environments: usize,
        /// Simulated step latency at the sites, ms.
        #[arg(long, default_value_t = 50)]
        step_latency_ms: u64,
    },
    /// One install rollout of N environments × S chained steps with a per-step latency and
    /// a parallelism cap: wall time vs the ideal ceil(N / parallel) × S × latency, Raft
    /// entries and fsyncs per step, peak RSS per member. Starts moor-sitesim and 3 members.
    Rollout {
        /// Environments (one per simulated site).
        #[arg(long, default_value_t = 1000)]
        environments: usize,
        /// Steps per environment (a chain of resources).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
        steps: u64,
        /// Simulated step latency at the sites, ms.
        #[arg(long, default_value_t = 20)]
        step_latency_ms: u64,
        /// Environments running at once.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        parallel: u32,
        /// SIGKILL the leader when this fraction of the environments succeeded (e.g. 0.5).
        #[arg(long)]
        kill_leader_at: Option<f64>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
    },
    /// Key/value writes against a 3-member loopback cluster (and etcd, when installed).
    Kv {
        /// Seconds per client count.
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// Concurrent client counts to run, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,64,512")]
        clients: Vec<usize>,
        /// Value size in bytes.
        #[arg(long, default_value_t = 256)]
        value_bytes: usize,
        /// HTTP/2 connections shared by the clients (the same for Moor and etcd).
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Do not run etcd even if it is installed.
        #[arg(long)]
        skip_etcd: bool,
    },
}

fn channels(addr: &str, n: usize) -> Result<Vec<Channel>> {
    (0..n)
        .map(|_| {
            Ok(Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect_lazy())
        })
        .collect()
}

fn print_run(system: &str, r: &RunResult) {
    println!(
        "{system:<6} clients={:<4} writes/s={:>9.0} p50={:>7.2}ms p99={:>7.2}ms ok={} errors={}{}",
        r.clients,
        r.writes_per_sec(),
        r.p50_ms(),
        r.p99_ms(),
        r.ok,
        r.errors,
        r.first_error
            .as_ref()
            .map(|e| format!(" first_error={e}"))
            .unwrap_or_default()
    );
}

/// The key/value load `moor-bench kv` puts on Moor and then on etcd, the same for both.
struct KvLoad {
    /// How long each client count runs.
    duration: Duration,
    /// The client counts, one run each.
    clients: Vec<usize>,
    value_bytes: usize,
    /// HTTP/2 connections the clients share.
    connections: usize,
}

/// Prints the physical floor, then runs the load against Moor and, unless skipped or not
/// installed, against etcd.
async fn kv(load: KvLoad, skip_etcd: bool) -> Result<()> {
    let dir = tempfile::Builder::new().prefix("moor-bench-").tempdir()?;
    print_floor(dir.path())?;
    let moor_results = load.run_moor().await?;
    let etcd = if skip_etcd { None } else { etcd_binary() };
    let Some(etcd) = etcd else {
        println!(
            "etcd   not run ({})",
            if skip_etcd {
                "--skip-etcd"
            } else {
                "no etcd binary: apt-get install etcd-server"
            }
        );
        return Ok(());
    };
    load.run_etcd(&etcd, &dir.path().join("etcd"), &moor_results)
        .await
}

/// fsync latency in `dir` and the loopback round trip: what no write can beat.
fn print_floor(dir: &Path) -> Result<()> {
    let fsync = fsync_latency(dir, 300)?;
    let rtt = loopback_rtt(2000)?;
    println!(
        "floor  fsync p50={:.3}ms p99={:.3}ms   loopback rtt p50={:.3}ms p99={:.3}ms",
        fsync.value_at_quantile(0.5) as f64 / 1000.0,
        fsync.value_at_quantile(0.99) as f64 / 1000.0,
        rtt.value_at_quantile(0.5) as f64 / 1000.0,
        rtt.value_at_quantile(0.99) as f64 / 1000.0,
    );
    Ok(())
}

impl KvLoad {
    /// Runs every client count against the leader of a fresh 3-member cluster, printing
    /// each run and the leader's appends and fsyncs per write.
    async fn run_moor(&self) -> Result<Vec<RunResult>> {
        let mut results = Vec::new();
        let cluster = Cluster::start(3, MemberSettings::default()).await?;
        let leader = cluster.wait_leader(Duration::from_secs(20)).await?;
        let chans = channels(cluster.addr(leader), self.connections)?;
        for &n in &self.clients {
            let before = cluster.status(leader).await.context("leader status")?;
            let r = workload::run(n, self.duration, self.moor_write(chans.clone())).await?;
            let after = cluster.status(leader).await.context("leader status")?;
            print_run("moor", &r);
            let writes = r.ok.max(1) as f64;
            println!(
                "       leader: {:.3} log appends/write, {:.3} fsyncs/write, {:.2} entries/append",
                (after.log_appends - before.log_appends) as f64 / writes,
                (after.fsyncs - before.fsyncs) as f64 / writes,
                (after.log_entries - before.log_entries) as f64
                    / (after.log_appends - before.log_appends).max(1) as f64,
            );
            results.push(r);
        }
        Ok(results)
    }

    /// One Moor put of a fresh key, client `c` on connection `c` mod the connections.
    fn moor_write(&self, chans: Vec<Channel>) -> WriteFn {
        let value_bytes = self.value_bytes;
        Arc::new(move |c, seq| {
            let mut client = MoorApiClient::new(chans[c % chans.len()].clone());
            let req = PutRequest {
                key: format!("bench/{c}/{seq}"),
                value: workload::value(c, seq, value_bytes),
            };
            Box::pin(async move { client.put(req).await.map(|_| ()).map_err(|s| s.to_string()) })
        })
    }

    /// Runs every client count against a 3-member etcd cluster kept in `dir`, printing each
    /// run beside Moor's run of the same count.
    async fn run_etcd(&self, etcd: &Path, dir: &Path, moor_results: &[RunResult]) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let cluster = EtcdCluster::start(etcd, dir).await?;
        // etcd forwards proposals to its leader internally; like Moor, send to one member.
        let chans = channels(&cluster.client_urls[0], self.connections)?;
        for (i, &n) in self.clients.iter().enumerate() {
            let r = workload::run(n, self.duration, self.etcd_write(chans.clone())).await?;
            print_run("etcd", &r);
            let m = &moor_results[i];
            println!(
                "       moor/etcd: throughput x{:.2}, p50 x{:.2}, p99 x{:.2}",
                m.writes_per_sec() / r.writes_per_sec().max(1e-9),
                m.p50_ms() / r.p50_ms().max(1e-9),
                m.p99_ms() / r.p99_ms().max(1e-9),
            );
        }
        Ok(())
    }

    /// One etcd put of a fresh key, client `c` on connection `c` mod the connections.
    fn etcd_write(&self, chans: Vec<Channel>) -> WriteFn {
        let value_bytes = self.value_bytes;
        Arc::new(move |c, seq| {
            let client = EtcdClient::from_channel(chans[c % chans.len()].clone());
            let key = format!("bench/{c}/{seq}").into_bytes();
            let value = workload::value(c, seq, value_bytes);
            Box::pin(async move { client.put(key, value).await })
        })
    }
}

/// Prints what a rollout bench ran and what it measured.
fn print_rollout(b: &RolloutBench, f: &RolloutFigures) {
    println!(
        "rollout environments={} steps={} latency={}ms parallel={}{}",
        b.environments,
        b.steps,
        b.step_latency_ms,
        b.parallel,
        b.kill_leader_at
            .map(|a| format!(" kill_leader_at={a}"))
            .unwrap_or_default()
    );
    println!(
        "        wall={:.2}s ideal={:.2}s ratio={:.3} (setup {:.1}s not counted){}",
        f.wall_s,
        f.ideal_s,
        f.ratio(),
        f.setup_s,
        f.killed_at_s
            .map(|k| format!(" leader killed at {k:.2}s"))
            .unwrap_or_default()
    );
    println!(
        "        per step: {:.4} Raft entries, {:.4} log appends, {:.4} fsyncs (on the member that led at the end)",
        f.entries_per_step, f.appends_per_step, f.fsyncs_per_step
    );
    println!(
        "        peak RSS per member: {}",
        f.peak_rss_mib
            .iter()
            .map(|(id, mib)| format!("{id}={mib} MiB"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    match Args::parse().command {
        Cmd::Failover {
            runs,
            environments,
            step_latency_ms,
        } => {
            moor_jepsen_like_tests::bench::failover::run(runs, environments, step_latency_ms).await
        }
        Cmd::Rollout {
            environments,
            steps,
            step_latency_ms,
            parallel,
            kill_leader_at,
            timeout_secs,
        } => {
            let b = RolloutBench {
                environments,
                steps: steps as usize,
                step_latency_ms,
                parallel,
                kill_leader_at,
                timeout: Duration::from_secs(timeout_secs),
            };
            let f = moor_jepsen_like_tests::bench::rollout::run(&b).await?;
            print_rollout(&b, &f);
            Ok(())
        }
        Cmd::Kv {
            duration_secs,
            clients,
            value_bytes,
            connections,
            skip_etcd,
        } => {
            let load = KvLoad {
                duration: Duration::from_secs(duration_secs),
                clients,
                value_bytes,
                connections: connections.max(1),
            };
            kv(load, skip_etcd).await
        }
    }
}
