//! `moor-bench`: prints throughput and latency figures for Moor, beside the physical floor
//! and etcd measured in the same run (see GUIDE §7). It asserts nothing; humans read and
//! record the figures in docs/BENCHMARKS.md.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use moor_jepsen_like_tests::bench::drift::{DriftBench, DriftFigures};
use moor_jepsen_like_tests::bench::etcd::etcd_binary;
use moor_jepsen_like_tests::bench::failover::{FailoverBench, Fault};
use moor_jepsen_like_tests::bench::hooks::HooksBench;
use moor_jepsen_like_tests::bench::kv::{KvLoad, Op, Placement};
use moor_jepsen_like_tests::bench::rollout::{RolloutBench, RolloutFigures};
use moor_jepsen_like_tests::bench::targets::{self, TargetsBench};
use moor_jepsen_like_tests::harness::MemberSettings;

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
    /// Issue 15's targets P1–P8 in one run, each beside its reference (etcd when installed,
    /// the fsync and loopback floor, the ideal rollout), printed as one Markdown table.
    /// Takes about 15 minutes on 2 cores.
    Targets {
        /// Seconds per client count of the key/value runs (writes and reads).
        #[arg(long, default_value_t = 10)]
        kv_secs: u64,
        /// Client counts of the key/value runs.
        #[arg(long, value_delimiter = ',', default_value = "1,64,512")]
        clients: Vec<usize>,
        /// The smaller rollout (P3, P4).
        #[arg(long, default_value_t = 10_000)]
        rollout_small: usize,
        /// The larger rollout (P3, P6).
        #[arg(long, default_value_t = 100_000)]
        rollout_large: usize,
        /// Failover runs per fault shape (medians; the pause shape runs half as many).
        #[arg(long, default_value_t = 10)]
        failover_runs: usize,
        /// Do not run etcd even if it is installed.
        #[arg(long)]
        skip_etcd: bool,
        #[command(flatten)]
        tls: TlsArg,
    },
    /// A fault on the leader during installs: time to the first accepted write and to the
    /// first step of a new leadership, Raft entries per step; after a pause, elections and
    /// GOAWAYs. Starts moor-sitesim and a 3-member cluster per run.
    Failover {
        /// What is done to the leader.
        #[arg(long, value_enum, default_value_t = FaultChoice::Kill)]
        fault: FaultChoice,
        /// How long `--fault pause` keeps the leader stopped, ms.
        #[arg(long, default_value_t = 3000)]
        pause_ms: u64,
        /// An extra `[raft]` setting of the members, `key = value` (repeatable), e.g.
        /// `--raft "election_timeout_min_ms = 150"`.
        #[arg(long)]
        raft: Vec<String>,
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
        /// The members' `raft.snapshot_every_entries` (default: moord's). A rollout writes
        /// few entries, so only a small value makes snapshot builds count in the peak RSS.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        snapshot_every_entries: Option<u64>,
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
    /// the leader's RSS before and after. Starts moor-sitesim and 3 members. With --bare:
    /// sites without environments, probed for reachability instead.
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
        /// Sites only, no environments: measures the reachability probes of sites no check
        /// covers (--environments is then the number of sites).
        #[arg(long)]
        bare: bool,
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
        /// `leader`: all connections on Moor's leader and etcd's member 1 (the shape of the
        /// earlier tables in docs/BENCHMARKS.md); `spread`: round-robin over all members,
        /// followers first, so one client is on a follower (issue 15's P1, `targets`).
        #[arg(long, value_enum, default_value_t = PlacementChoice::Leader)]
        placement: PlacementChoice,
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

/// The `--placement` of `moor-bench kv`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlacementChoice {
    Leader,
    Spread,
}

/// The `--fault` of `moor-bench failover`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FaultChoice {
    Kill,
    KillRestart,
    Pause,
}

impl FaultChoice {
    fn fault(self) -> Fault {
        match self {
            FaultChoice::Kill => Fault::Kill,
            FaultChoice::KillRestart => Fault::KillRestart,
            FaultChoice::Pause => Fault::Pause,
        }
    }
}

/// etcd's binary unless skipped; says on stdout why etcd does not run.
fn etcd_unless(skip: bool) -> Option<PathBuf> {
    let found = if skip { None } else { etcd_binary() };
    if found.is_none() {
        println!(
            "etcd   not run ({})",
            if skip {
                "--skip-etcd"
            } else {
                "no etcd binary: apt-get install etcd-server"
            }
        );
    }
    found
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
            + &b.snapshot_every_entries
                .map(|n| format!(" snapshot_every_entries={n}"))
                .unwrap_or_default()
    );
    println!(
        "        wall={:.2}s ideal={:.2}s ratio={:.3} (setup {:.1}s not counted){}; elections during it: {}",
        f.wall_s,
        f.ideal_s,
        f.ratio(),
        f.setup_s,
        f.killed_at_s
            .map(|k| format!(" leader killed at {k:.2}s"))
            .unwrap_or_default(),
        f.elections
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
    if b.bare {
        let per_s = f.observes_per_s();
        println!(
            "probes sites={} (no environments) interval={}ms window={:.1}s (registration {:.1}s not counted)",
            b.environments, b.interval_ms, f.window_s, f.install_s
        );
        println!(
            "        probed {per_s:.0} sites/s ({:.0} wanted at one probe per interval): a full round of every site every {:.1} s",
            b.environments as f64 * 1000.0 / b.interval_ms as f64,
            b.environments as f64 / per_s.max(1e-9)
        );
        println!(
            "        CPU over the window: leader {:.2} s ({:.0} µs per probe), followers {:.2} s, sitesim {:.2} s",
            f.leader_cpu_s,
            f.leader_cpu_s * 1e6 / (f.observes as f64).max(1.0),
            f.followers_cpu_s,
            f.sitesim_cpu_s
        );
        println!(
            "        leader RSS {} MiB before the window, {} MiB after",
            f.leader_rss_before_mib, f.leader_rss_after_mib
        );
        return;
    }
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
            bare,
            tls,
        } => {
            tls.announce();
            let b = DriftBench {
                environments,
                resources: resources as usize,
                interval_ms,
                window: Duration::from_secs(window_secs),
                tls: tls.on(),
                bare,
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
        Cmd::Targets {
            kv_secs,
            clients,
            rollout_small,
            rollout_large,
            failover_runs,
            skip_etcd,
            tls,
        } => {
            tls.announce();
            let b = TargetsBench {
                kv_duration: Duration::from_secs(kv_secs),
                clients,
                rollout_small,
                rollout_large,
                failover_runs,
                tls: tls.on(),
            };
            let etcd = etcd_unless(skip_etcd);
            let rows = targets::run(&b, etcd.as_deref()).await?;
            println!("\n{}", targets::render(&rows));
            Ok(())
        }
        Cmd::Failover {
            fault,
            pause_ms,
            raft,
            runs,
            environments,
            step_latency_ms,
            tls,
        } => {
            tls.announce();
            let b = FailoverBench {
                runs,
                environments,
                step_latency_ms,
                tls: tls.on(),
                fault: fault.fault(),
                pause: Duration::from_millis(pause_ms),
                raft,
            };
            moor_jepsen_like_tests::bench::failover::run(&b).await?;
            Ok(())
        }
        Cmd::Rollout {
            environments,
            steps,
            step_latency_ms,
            parallel,
            kill_leader_at,
            timeout_secs,
            snapshot_every_entries,
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
                snapshot_every_entries,
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
            placement,
            skip_etcd,
            tls,
        } => {
            tls.announce();
            let load = KvLoad {
                ops: op.ops(),
                duration: Duration::from_secs(duration_secs),
                clients,
                value_bytes,
                connections: connections.max(1),
                placement: match placement {
                    PlacementChoice::Leader => Placement::Leader,
                    PlacementChoice::Spread => Placement::Spread,
                },
                settings: tls.settings(),
            };
            let dir = tempfile::Builder::new().prefix("moor-bench-").tempdir()?;
            let etcd = etcd_unless(skip_etcd);
            moor_jepsen_like_tests::bench::kv::run(&load, etcd.as_deref(), dir.path()).await?;
            Ok(())
        }
    }
}
