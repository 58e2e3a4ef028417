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

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use moor_site::{SimArgs, SiteSim, SITESIM_LISTENING};
use moor_tls::TlsReloader;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};

fn main() -> ExitCode {
    let args = SimArgs::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("moor-sitesim: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moor-sitesim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: SimArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    // Before the address is announced: a bad certificate file stops the start, naming it.
    let tls = moor_site::load_tls(&config)?;
    if let Some(tls) = &tls {
        reload_on_sighup(tls)?;
    }
    let sim = SiteSim::new(config).context("cannot start the simulated sites")?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; pick a free port or 127.0.0.1:0",
            args.listen
        )
    })?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{SITESIM_LISTENING}{addr}").context("cannot write to stdout")?;
        out.flush().context("cannot flush stdout")?;
    }
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
    moor_site::serve_with_tls(sim, listener, tls, stop_signal(term, interrupt))
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

/// Reloads the TLS files at once on SIGHUP (they are also checked every
/// --tls-reload-interval-ms); a file that cannot be used keeps the previous certificates.
fn reload_on_sighup(tls: &Arc<TlsReloader>) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let weak = Arc::downgrade(tls);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(tls) = weak.upgrade() else { return };
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificates reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: cannot reload the TLS files; still serving the previous certificates")
                }
            }
        }
    });
    Ok(())
}

/// Resolves on SIGTERM or ctrl-c (SIGINT). The handlers are installed by the caller before
/// the address is announced, so a harness that stops the sitesim right away is not met by the
/// default handler (which would kill it without flushing the journal).
async fn stop_signal(mut term: Signal, mut interrupt: Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::info!("stopping: finishing in-flight calls and flushing the journal");
}
