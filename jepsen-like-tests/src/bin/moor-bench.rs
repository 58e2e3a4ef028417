//! `moor-bench`: prints throughput and latency figures for Moor, beside the physical floor
//! and etcd measured in the same run (see GUIDE §7). It asserts nothing; humans read and
//! record the figures in docs/BENCHMARKS.md.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use moor_jepsen_like_tests::bench::drift::{DriftBench, DriftFigures};
use moor_jepsen_like_tests::bench::etcd::{etcd_binary, EtcdClient, EtcdCluster};
use moor_jepsen_like_tests::bench::floor::{fsync_latency, loopback_rtt};
use moor_jepsen_like_tests::bench::hooks::HooksBench;
use moor_jepsen_like_tests::bench::reads;
use moor_jepsen_like_tests::bench::rollout::{RolloutBench, RolloutFigures};
use moor_jepsen_like_tests::bench::workload::{self, RequestFn, RunResult};
use moor_jepsen_like_tests::harness::{connect, Cluster, MemberSettings, Security};
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::ClusterStatusResponse;
use moor_proto::api::PutRequest;
use tonic::transport::Channel;

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
        #[command(flatten)]
        tls: TlsArg,
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
        #[command(flatten)]
        tls: TlsArg,
    },
    /// The webhook path: per round a commit, a signed GitHub push delivered to a follower,
    /// the HTTP answer time and the time from the delivery to the trigger's rollout
    /// (median, p99). Starts moor-sitesim and 3 members.
    Hooks {
        /// Environments the trigger's rollout updates.
        #[arg(long, default_value_t = 50)]
        environments: usize,
        /// Deliveries (one at a time; each rollout ends before the next push).
        #[arg(long, default_value_t = 50)]
        rounds: usize,
        #[command(flatten)]
        tls: TlsArg,
    },
    /// The cost of drift checks: N environments × R resources installed on moor-sitesim, each
    /// checked every --interval-ms; over a fixed window, environments observed per second,
    /// resources compared per minute per leader core, CPU of leader / followers / sitesim,
    /// the leader's RSS before and after. Starts moor-sitesim and 3 members.
    Drift {
        #[arg(long, default_value_t = 10_000)]
        environments: usize,
        /// Resources per environment (a chain).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
        resources: u64,
        /// Check interval of every environment, ms (the members' default interval).
        #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..))]
        interval_ms: u64,
        /// How long to measure, seconds.
        #[arg(long, default_value_t = 30)]
        window_secs: u64,
        #[command(flatten)]
        tls: TlsArg,
    },
    /// A backup and a restore at N environments: the file's size, the time to save it from a
    /// follower, `moord restore`'s time, and the restored member's time to serve every
    /// environment. Starts moor-sitesim and 3 members (TLS and tokens on).
    Backup {
        #[arg(long, default_value_t = 10_000)]
        environments: usize,
    },
    /// Key/value writes and/or linearizable reads against a 3-member loopback cluster (and
    /// etcd, when installed).
    Kv {
        /// What to time: `write` (puts of fresh keys), `read` (linearizable reads of 1,000 keys
        /// of --value-bytes put beforehand: Moor's Get, etcd's Range without `serializable`),
        /// or `both` (writes, then reads, on the same clusters).
        #[arg(long, value_enum, default_value_t = OpChoice::Write)]
        op: OpChoice,
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
        #[command(flatten)]
        tls: TlsArg,
    },
}

/// `--tls`: how Moor's members (and the sitesim) run.
#[derive(clap::Args, Clone, Copy)]
struct TlsArg {
    /// `on`: TLS on the client and peer ports, authentication on, clients authenticated by
    /// a client certificate (as in production); `off`: plaintext members with
    /// authentication off, to measure what TLS and authentication cost.
    #[arg(long = "tls", value_enum, default_value_t = OnOff::On)]
    mode: OnOff,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnOff {
    On,
    Off,
}

impl TlsArg {
    fn on(self) -> bool {
        self.mode == OnOff::On
    }

    /// Member settings with this mode.
    fn settings(self) -> MemberSettings {
        MemberSettings {
            insecure_plaintext: !self.on(),
            ..MemberSettings::default()
        }
    }

    /// Says on stderr how the members run (the figures on stdout are printed as always).
    fn announce(self) {
        eprintln!(
            "moor-bench: members with {}",
            if self.on() {
                "TLS (client and peer ports) and authentication on, clients with an admin client certificate (--tls on)"
            } else {
                "plaintext and authentication off (--tls off)"
            }
        );
    }
}

/// The `--op` of `moor-bench kv`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OpChoice {
    Write,
    Read,
    Both,
}

impl OpChoice {
    /// The operations to time, in order.
    fn ops(self) -> Vec<Op> {
        match self {
            OpChoice::Write => vec![Op::Write],
            OpChoice::Read => vec![Op::Read],
            OpChoice::Both => vec![Op::Write, Op::Read],
        }
    }
}

/// One kind of request the kv load times.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Write,
    Read,
}

impl Op {
    fn noun(self) -> &'static str {
        match self {
            Op::Write => "write",
            Op::Read => "read",
        }
    }
}

/// The write benchmark's key: fresh per client and sequence number.
fn write_key(c: usize, seq: u64) -> String {
    format!("bench/{c}/{seq}")
}

/// `n` lazily connecting channels (HTTP/2 connections) to `addr`.
fn channels(addr: &str, n: usize, security: &Security) -> Vec<Channel> {
    (0..n)
        .map(|_| connect(addr, security).connect_lazy())
        .collect()
}

fn print_run(system: &str, op: Op, r: &RunResult) {
    println!(
        "{system:<6} clients={:<4} {}s/s={:>9.0} p50={:>7.2}ms p99={:>7.2}ms ok={} errors={}{}",
        r.clients,
        op.noun(),
        r.ops_per_sec(),
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
    /// What is timed, in order; each with every client count.
    ops: Vec<Op>,
    /// How long each client count runs.
    duration: Duration,
    /// The client counts, one run each.
    clients: Vec<usize>,
    value_bytes: usize,
    /// HTTP/2 connections the clients share.
    connections: usize,
    /// Moor's members with TLS and authentication, or plaintext.
    tls: TlsArg,
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
    /// Runs every operation with every client count against the leader of a fresh 3-member
    /// cluster, printing each run and the leader's appends and fsyncs per request.
    async fn run_moor(&self) -> Result<Vec<RunResult>> {
        let mut results = Vec::new();
        self.tls.announce();
        let cluster = Cluster::start(3, self.tls.settings()).await?;
        let leader = cluster.wait_leader(Duration::from_secs(20)).await?;
        let chans = channels(cluster.addr(leader), self.connections, cluster.security());
        for &op in &self.ops {
            let request = self.request(&MOOR, op, &chans).await?;
            for &n in &self.clients {
                let before = cluster.status(leader).await.context("leader status")?;
                let r = workload::run(n, self.duration, request.clone()).await?;
                let after = cluster.status(leader).await.context("leader status")?;
                print_run("moor", op, &r);
                print_leader_costs(op, r.ok, &before, &after);
                results.push(r);
            }
        }
        Ok(results)
    }

    /// What one request of `op` to `system` is; for reads, puts the keys to read first.
    async fn request(&self, system: &KvSystem, op: Op, chans: &[Channel]) -> Result<RequestFn> {
        let put = |key| (system.put)(chans.to_vec(), self.value_bytes, key);
        Ok(match op {
            Op::Write => put(write_key),
            Op::Read => {
                reads::preload(put(|i, _| reads::key(i))).await?;
                (system.get)(chans.to_vec())
            }
        })
    }

    /// Runs every operation with every client count against a 3-member etcd cluster kept in
    /// `dir`, printing each run beside Moor's run of the same operation and count.
    async fn run_etcd(&self, etcd: &Path, dir: &Path, moor_results: &[RunResult]) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let cluster = EtcdCluster::start(etcd, dir).await?;
        // etcd forwards proposals to its leader internally; like Moor, send to one member.
        let chans = channels(
            &cluster.client_urls[0],
            self.connections,
            &Security::Plaintext,
        );
        let mut moor = moor_results.iter();
        for &op in &self.ops {
            let request = self.request(&ETCD, op, &chans).await?;
            for &n in &self.clients {
                let r = workload::run(n, self.duration, request.clone()).await?;
                print_run("etcd", op, &r);
                if let Some(m) = moor.next() {
                    print_ratio(m, &r);
                }
            }
        }
        Ok(())
    }
}

/// A put's key for client `c` at its `seq`-th request.
type KeyFn = fn(usize, u64) -> String;

/// How the kv load talks to one system: a put of `key(c, seq)` with a value of the given
/// size, and a linearizable read of one of the read keys.
struct KvSystem {
    put: fn(Vec<Channel>, usize, KeyFn) -> RequestFn,
    get: fn(Vec<Channel>) -> RequestFn,
}

const MOOR: KvSystem = KvSystem {
    put: moor_put,
    get: reads::moor_get,
};

const ETCD: KvSystem = KvSystem {
    put: etcd_put,
    get: reads::etcd_get,
};

/// One Moor put of `key(c, seq)`, client `c` on connection `c` mod the connections.
fn moor_put(chans: Vec<Channel>, value_bytes: usize, key: KeyFn) -> RequestFn {
    Arc::new(move |c, seq| {
        let mut client = MoorApiClient::new(chans[c % chans.len()].clone());
        let req = PutRequest {
            key: key(c, seq),
            value: workload::value(c, seq, value_bytes),
        };
        Box::pin(async move { client.put(req).await.map(|_| ()).map_err(|s| s.to_string()) })
    })
}

/// One etcd put of `key(c, seq)`, client `c` on connection `c` mod the connections.
fn etcd_put(chans: Vec<Channel>, value_bytes: usize, key: KeyFn) -> RequestFn {
    Arc::new(move |c, seq| {
        let client = EtcdClient::from_channel(chans[c % chans.len()].clone());
        let key = key(c, seq).into_bytes();
        let value = workload::value(c, seq, value_bytes);
        Box::pin(async move { client.put(key, value).await })
    })
}

/// The leader's log appends and fsyncs per `op` answered between two status snapshots.
fn print_leader_costs(
    op: Op,
    ok: u64,
    before: &ClusterStatusResponse,
    after: &ClusterStatusResponse,
) {
    let done = ok.max(1) as f64;
    let noun = op.noun();
    println!(
        "       leader: {:.3} log appends/{noun}, {:.3} fsyncs/{noun}, {:.2} entries/append",
        (after.log_appends - before.log_appends) as f64 / done,
        (after.fsyncs - before.fsyncs) as f64 / done,
        (after.log_entries - before.log_entries) as f64
            / (after.log_appends - before.log_appends).max(1) as f64,
    );
}

/// Moor's figures over etcd's for the same operation and client count.
fn print_ratio(m: &RunResult, e: &RunResult) {
    if m.ok == 0 || e.ok == 0 {
        println!("       moor/etcd: no ratio (a side acknowledged nothing)");
        return;
    }
    println!(
        "       moor/etcd: throughput x{:.2}, p50 x{:.2}, p99 x{:.2}",
        m.ops_per_sec() / e.ops_per_sec().max(1e-9),
        m.p50_ms() / e.p50_ms().max(1e-9),
        m.p99_ms() / e.p99_ms().max(1e-9),
    );
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
        "        CPU: {:.0} µs per step (members {:.2}s + sitesim {:.2}s over {} steps; bench client {:.2}s not counted)",
        f.cpu_us_per_step(b),
        f.members_cpu_s,
        f.sitesim_cpu_s,
        b.environments * b.steps,
        f.bench_cpu_s
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

/// Prints what a drift bench ran and what it measured.
fn print_drift(b: &DriftBench, f: &DriftFigures) {
    println!(
        "drift environments={} resources={} interval={}ms window={:.1}s (install {:.1}s not counted)",
        b.environments, b.resources, b.interval_ms, f.window_s, f.install_s
    );
    println!(
        "        observed {:.0} environments/s ({:.0} expected at one check per interval), {:.0} resources compared/min",
        f.observes_per_s(),
        b.environments as f64 * 1000.0 / b.interval_ms as f64,
        f.observes_per_s() * b.resources as f64 * 60.0
    );
    println!(
        "        CPU over the window: leader {:.2} s, followers {:.2} s, sitesim {:.2} s → {:.0} resources/min per leader core",
        f.leader_cpu_s,
        f.followers_cpu_s,
        f.sitesim_cpu_s,
        f.resources_per_min_per_core(b.resources)
    );
    println!(
        "        leader RSS {} MiB before the window, {} MiB after",
        f.leader_rss_before_mib, f.leader_rss_after_mib
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    match Args::parse().command {
        Cmd::Drift {
            environments,
            resources,
            interval_ms,
            window_secs,
            tls,
        } => {
            tls.announce();
            let b = DriftBench {
                environments,
                resources: resources as usize,
                interval_ms,
                window: Duration::from_secs(window_secs),
                tls: tls.on(),
            };
            let f = moor_jepsen_like_tests::bench::drift::run(&b).await?;
            print_drift(&b, &f);
            Ok(())
        }
        Cmd::Hooks {
            environments,
            rounds,
            tls,
        } => {
            tls.announce();
            let b = HooksBench {
                environments,
                rounds,
                tls: tls.on(),
            };
            let f = moor_jepsen_like_tests::bench::hooks::run(&b).await?;
            let q = |h: &hdrhistogram::Histogram<u64>, p: f64| h.value_at_quantile(p);
            println!(
                "hooks environments={} rounds={} (delivered to a follower)",
                b.environments, b.rounds
            );
            println!(
                "        HTTP answer (delivery recorded): median {} ms, p99 {} ms, max {} ms",
                q(&f.answer_ms, 0.5),
                q(&f.answer_ms, 0.99),
                f.answer_ms.max()
            );
            println!(
                "        delivery sent → rollout started: median {} ms, p99 {} ms, max {} ms",
                q(&f.to_rollout_ms, 0.5),
                q(&f.to_rollout_ms, 0.99),
                f.to_rollout_ms.max()
            );
            Ok(())
        }
        Cmd::Failover {
            runs,
            environments,
            step_latency_ms,
            tls,
        } => {
            tls.announce();
            moor_jepsen_like_tests::bench::failover::run(
                runs,
                environments,
                step_latency_ms,
                tls.on(),
            )
            .await
        }
        Cmd::Rollout {
            environments,
            steps,
            step_latency_ms,
            parallel,
            kill_leader_at,
            timeout_secs,
            tls,
        } => {
            tls.announce();
            let b = RolloutBench {
                environments,
                steps: steps as usize,
                step_latency_ms,
                parallel,
                kill_leader_at,
                timeout: Duration::from_secs(timeout_secs),
                tls: tls.on(),
            };
            let f = moor_jepsen_like_tests::bench::rollout::run(&b).await?;
            print_rollout(&b, &f);
            Ok(())
        }
        Cmd::Backup { environments } => {
            let f = moor_jepsen_like_tests::bench::backup::run(environments).await?;
            println!(
                "backup: {} environments ({} executions): file {:.1} MiB, saved from a follower in {:.2} s; moord restore {:.2} s; restored member serving (leader + linearizable list of every environment) {:.2} s after start; its peak RSS {} MiB",
                f.environments,
                f.executions,
                f.file_bytes as f64 / (1024.0 * 1024.0),
                f.save_s,
                f.restore_s,
                f.start_to_serving_s,
                f.restored_peak_rss_mib
            );
            Ok(())
        }
        Cmd::Kv {
            op,
            duration_secs,
            clients,
            value_bytes,
            connections,
            skip_etcd,
            tls,
        } => {
            let load = KvLoad {
                ops: op.ops(),
                duration: Duration::from_secs(duration_secs),
                clients,
                value_bytes,
                connections: connections.max(1),
                tls,
            };
            kv(load, skip_etcd).await
        }
    }
}
