//! `moor-sitesim`: many simulated Moor sites behind one SiteAgent gRPC endpoint. Thin: flags
//! → [`SimConfig`], bind, announce the address, serve until SIGTERM or ctrl-c, flush the
//! journal. Everything else is in the `moor_site` library.
//!
//! The first stdout line is `moor-sitesim listening on ADDR`, flushed, so a harness that
//! starts it with `--listen 127.0.0.1:0` can read the port.
//!
//! With `--tls-cert`, `--tls-key` and `--tls-ca` it serves TLS, requires client certificates
//! of that CA and answers `SiteAgent` calls from member certificates only; the files are
//! re-read when they change and on SIGHUP. Without them it serves plaintext and says so.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use moor_site::process::{bind_and_announce, main_with, reload_tls_on_sighup};
use moor_site::{SimArgs, SiteSim, SITESIM_LISTENING};

fn main() -> ExitCode {
    let args = SimArgs::parse();
    main_with("moor-sitesim", run(args))
}

async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    // Before the address is announced: a bad certificate file stops the start, naming it.
    let tls = moor_site::load_tls(&config)?;
    if let Some(tls) = &tls {
        reload_tls_on_sighup(tls).context("cannot handle SIGHUP")?;
    }
    let sim = SiteSim::new(config).context("cannot start the simulated sites")?;
    let (listener, addr, stop) = bind_and_announce(args.listen, SITESIM_LISTENING).await?;
    eprintln!(
        "moor-sitesim: seed {} (reproduce with the same flags and --seed {}){}",
        args.seed,
        args.seed,
        if args.unsafe_no_fencing_no_dedupe {
            "; UNSAFE: fencing and dedupe are off"
        } else {
            ""
        }
    );
    match &tls {
        Some(tls) => eprintln!(
            "moor-sitesim: TLS with {}; clients need a certificate of {}, SiteAgent calls a member's (member-<id>.moor)",
            tls.files().cert.display(),
            tls.files().ca.display()
        ),
        None => eprintln!(
            "moor-sitesim: PLAINTEXT (no --tls-cert/--tls-key/--tls-ca): anyone who reaches {addr} can fence the real controllers out; tests and loopback demos only"
        ),
    }
    let handle = sim.clone();
    moor_site::serve_with_tls(sim, listener, tls, stop.wait("moor-sitesim"))
        .await
        .context("serving the simulated sites failed")?;
    let s = handle.stats();
    eprintln!(
        "moor-sitesim: stopped; sites {}, applied {}, duplicate {}, fenced {}, failed {}, observed {}, held {}, drift {}, journal lines {}",
        s.sites, s.applied, s.duplicate, s.fenced, s.failed, s.observed, s.held_total,
        s.drift_injected, s.journal_lines_written
    );
    Ok(())
}
