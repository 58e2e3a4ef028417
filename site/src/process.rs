//! What a site process (`moor-sitesim`, `moor-agent`) does around its work, shared so both
//! binaries behave the same under systemd and harnesses: [`main_with`] (logs to stderr
//! filtered by `MOOR_LOG`, a tokio runtime, the error chain printed and exit status 1 on
//! failure), SIGTERM and ctrl-c stop it cleanly ([`Stop`]), SIGHUP reloads its TLS files at
//! once ([`reload_tls_on_sighup`]).

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use moor_tls::TlsReloader;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Runs `work` as a process's main: logging, a runtime, and its error (with the whole chain)
/// on stderr prefixed by `process`, exit status 1.
pub fn main_with<F>(process: &str, work: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    // Colour codes only for a person at a terminal, never into a log file or journald.
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{process}: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{process}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Binds `addr`, installs the stop signals, then prints `announce` followed by the bound
/// address as the first stdout line, flushed (so a harness that starts the process on port 0
/// learns the port, and may stop it right away).
pub async fn bind_and_announce(
    addr: SocketAddr,
    announce: &str,
) -> anyhow::Result<(TcpListener, SocketAddr, Stop)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}; pick a free port or 127.0.0.1:0"))?;
    let bound = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let stop = Stop::install().context("cannot handle SIGTERM and SIGINT")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{announce}{bound}").context("cannot write to stdout")?;
    out.flush().context("cannot flush stdout")?;
    Ok((listener, bound, stop))
}

/// SIGTERM and SIGINT, installed when created. Create it before announcing the address, so a
/// harness that stops the process right away is not met by the default handler (which would
/// kill it without finishing in-flight calls).
pub struct Stop {
    term: Signal,
    interrupt: Signal,
}

impl Stop {
    /// Installs the handlers. Must run inside a tokio runtime.
    pub fn install() -> std::io::Result<Stop> {
        Ok(Stop {
            term: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on SIGTERM or ctrl-c (SIGINT).
    pub async fn wait(mut self, process: &'static str) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        tracing::info!("{process}: stopping; finishing in-flight calls");
    }
}

/// Reloads the TLS files at once on SIGHUP (they are also checked periodically); a file that
/// cannot be used keeps the previous certificates. Runs for as long as `tls` lives. Must run
/// inside a tokio runtime.
pub fn reload_tls_on_sighup(tls: &Arc<TlsReloader>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
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
