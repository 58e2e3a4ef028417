//! `moor-jepsen`: seeded fault-injection runs against real `moord` processes. Thin: flags →
//! [`moor_jepsen_like_tests::runner`].
//!
//! - `moor-jepsen run --seed N --nemesis X --workload Y --duration-secs D`: one run (the
//!   command a failing run prints).
//! - `moor-jepsen profile smoke|long [--seed N] [--from F] [--runs K]`: a profile; prints one line per run
//!   and the totals, exits non-zero on any violation or failed negative control.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use moor_jepsen_like_tests::nemesis::NemesisKind;
use moor_jepsen_like_tests::runner::{self, Expect, RunSpec, WorkloadKind};

#[derive(Parser)]
#[command(
    name = "moor-jepsen",
    about = "Fault-injection runs against real moord processes"
)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One seeded run.
    Run {
        #[arg(long)]
        seed: u64,
        #[arg(long, value_enum)]
        nemesis: NemesisKind,
        #[arg(long, value_enum)]
        workload: WorkloadKind,
        #[arg(long, default_value_t = 6)]
        duration_secs: u64,
        #[arg(long, default_value_t = 3)]
        members: u64,
        #[arg(long, default_value_t = 150)]
        sites: usize,
        #[arg(long, default_value_t = 15)]
        heal_bound_secs: u64,
        /// Run members on loopback without network namespaces (partitions are skipped).
        #[arg(long)]
        no_netns: bool,
        #[arg(long, value_enum, default_value = "clean")]
        expect: Expect,
        /// Report directory root (default: $CARGO_TARGET_DIR/jepsen/run-<time>).
        #[arg(long)]
        report_dir: Option<PathBuf>,
    },
    /// A profile of runs: smoke (CI) or long (100+ runs of 60 s).
    Profile {
        name: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Skip the plan's first N fault runs (run a long profile in parts: `--from 20
        /// --runs 30` runs the plan's runs 21–50, with the same seeds as in the whole plan).
        #[arg(long, default_value_t = 0)]
        from: usize,
        /// Number of fault runs (the WF6 control is added on top).
        #[arg(long)]
        runs: Option<usize>,
        #[arg(long)]
        report_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("moor-jepsen: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ok = runtime.block_on(async {
        match Args::parse().command {
            Cmd::Run {
                seed,
                nemesis,
                workload,
                duration_secs,
                members,
                sites,
                heal_bound_secs,
                no_netns,
                expect,
                report_dir,
            } => {
                let spec = RunSpec {
                    members,
                    sites,
                    heal_bound_secs,
                    netns: !no_netns,
                    expect,
                    ..RunSpec::new(seed, nemesis, workload, duration_secs)
                };
                let root = report_dir.unwrap_or_else(|| runner::default_report_root("run"));
                let (_, ok) = runner::run_profile("run", &[spec], &root).await;
                ok
            }
            Cmd::Profile {
                name,
                seed,
                from,
                runs,
                report_dir,
            } => match runner::profile(&name, seed, from, runs) {
                Ok(specs) => {
                    let root = report_dir.unwrap_or_else(|| runner::default_report_root(&name));
                    let (_, ok) = runner::run_profile(&name, &specs, &root).await;
                    ok
                }
                Err(e) => {
                    eprintln!("moor-jepsen: {e:#}");
                    false
                }
            },
        }
    });
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
