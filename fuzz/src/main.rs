//! `moor-fuzz`: runs fuzz targets for a fixed time and prints, per target, executions,
//! executions per second and unique crashes; exits non-zero if any target crashed. Thin:
//! flags → [`moor_fuzz::engine`].
//!
//! - `moor-fuzz --target all --seconds 60`: every target, 60 s each (`make fuzz`);
//! - `moor-fuzz --target blueprint --seconds 600 --seed 7`: one target, longer, another seed;
//! - `moor-fuzz --target apply --replay target/fuzz-crashes/apply-….bin`: one input again,
//!   with the panic's message and backtrace printed as usual.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use moor_fuzz::engine::{self, Budget, Report};
use moor_fuzz::targets;

#[derive(Parser)]
#[command(
    name = "moor-fuzz",
    about = "Fuzz Moor's parsers, decoders and apply on the stable toolchain"
)]
struct Args {
    /// A target name, or `all`. `--list` names them.
    #[arg(long, default_value = "all")]
    target: String,
    /// Seconds per target.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Executions per target instead of a time budget.
    #[arg(long)]
    executions: Option<u64>,
    /// Seed of the input generator: the same seed and budget in executions make the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the first input of each unique crash is written.
    #[arg(long, default_value = "target/fuzz-crashes")]
    crashes: PathBuf,
    /// Run this one input through `--target` (a crash file) and report what it does.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// List the targets and what each checks.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("moor-fuzz: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.list {
        for t in targets::ALL {
            println!("{:<10} {}", t.name, t.about);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let chosen: Vec<_> = if args.target == "all" {
        targets::ALL.iter().collect()
    } else {
        args.target
            .split(',')
            .map(|name| {
                targets::by_name(name)
                    .with_context(|| format!("no target {name:?}: `moor-fuzz --list` names them"))
            })
            .collect::<anyhow::Result<_>>()?
    };
    if let Some(path) = args.replay {
        let [target] = chosen.as_slice() else {
            bail!("--replay needs one --target");
        };
        let input = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        // Not through the quiet hook: a replay prints the panic and its backtrace.
        let accepted = (target.run)(&input);
        println!(
            "{}: no crash (input {})",
            target.name,
            if accepted { "accepted" } else { "refused" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let budget = match args.executions {
        Some(n) => Budget::Executions(n),
        None => Budget::Time(Duration::from_secs_f64(args.seconds.max(0.0))),
    };
    println!(
        "moor-fuzz: seed {}, {} per target, crashes to {}",
        args.seed,
        match budget {
            Budget::Time(t) => format!("{:.0} s", t.as_secs_f64()),
            Budget::Executions(n) => format!("{n} executions"),
        },
        args.crashes.display()
    );
    println!(
        "{:<10} {:>13} {:>10} {:>9} {:>10} {:>7}",
        "target", "executions", "exec/s", "accepted", "slowest", "crashes"
    );
    let mut reports = Vec::new();
    for target in chosen {
        let report = engine::run(target, budget, args.seed, Some(&args.crashes));
        print_report(&report);
        reports.push(report);
    }
    let executions: u64 = reports.iter().map(|r| r.executions).sum();
    let crashes: usize = reports.iter().map(|r| r.crashes.len()).sum();
    println!("total      {executions:>13} executions, {crashes} unique crashes");
    Ok(if crashes == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(r: &Report) {
    println!(
        "{:<10} {:>13} {:>10.0} {:>8.0}% {:>8.1}ms {:>7}",
        r.target,
        r.executions,
        r.executions_per_second(),
        100.0 * r.accepted as f64 / r.executions.max(1) as f64,
        r.slowest.as_secs_f64() * 1e3,
        r.crashes.len()
    );
    for crash in r.crashes.values() {
        println!("  crash ({} hits): {}", crash.hits, crash.panic);
        if let Some(file) = &crash.file {
            println!(
                "    replay: moor-fuzz --target {} --replay {}",
                r.target,
                file.display()
            );
        }
    }
}
