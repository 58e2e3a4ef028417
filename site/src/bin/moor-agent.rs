//! `moor-agent`: the Moor site agent for one real machine. Thin: flags and config file →
//! [`AgentConfig`](moor_site::agent::AgentConfig), check, open the store, bind, announce the
//! address, serve until SIGTERM or ctrl-c. Everything else is in `moor_site::agent`.
//!
//! The first stdout line is `moor-agent listening on ADDR`, flushed, so a harness that starts
//! it on port 0 can read the port. `--check-config` checks everything a start would (values,
//! the root, the data dir, the TLS files, the `[kubernetes]` section's kubeconfig or in-cluster
//! account) and exits 0 or 1. SIGHUP reloads the TLS files.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use moor_kube::Source;
use moor_site::agent::{self, AgentArgs, AgentConfig, AGENT_LISTENING};
use moor_site::process::{bind_and_announce, main_with, reload_tls_on_sighup};
use moor_site::server::watch_tls;
use moor_tls::{ClientAuth, TlsReloader};

fn main() -> ExitCode {
    let args = AgentArgs::parse();
    if args.check_config {
        main_with("moor-agent", check(args))
    } else {
        main_with("moor-agent", run(args))
    }
}

/// `--check-config`: what a start checks, without opening the store or the port.
async fn check(args: AgentArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let root = config.prepare()?;
    if let Some(files) = &config.tls {
        TlsReloader::new(files.clone(), ClientAuth::Required)?;
    }
    agent::connect_cluster(&config).await?;
    let cluster = match config.kubernetes.as_ref().map(|k| &k.source) {
        None => "no [kubernetes] section".to_string(),
        Some(Source::InCluster) => "kubernetes in-cluster".to_string(),
        Some(Source::Kubeconfig { path, context }) => format!(
            "kubernetes {} (context {})",
            path.display(),
            context.as_deref().unwrap_or("current")
        ),
    };
    println!(
        "moor-agent: configuration OK: site {}, listen {}, root {}, data {}, {}, {cluster}",
        config.site,
        config.listen_addr,
        root.display(),
        config.data_dir.display(),
        if config.tls.is_some() {
            "TLS"
        } else {
            "PLAINTEXT (loopback/dev only)"
        }
    );
    Ok(())
}

async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    // Before the address is announced: a bad certificate file stops the start, naming it.
    let tls = watch_tls(config.tls.as_ref(), config.tls_reload_interval_ms)?;
    if let Some(tls) = &tls {
        reload_tls_on_sighup(tls).context("cannot handle SIGHUP")?;
    }
    let site = agent::open(&config).await?;
    let (listener, addr, stop) = bind_and_announce(config.listen_addr, AGENT_LISTENING).await?;
    announce(&config, addr);
    agent::serve(site, listener, tls, stop.wait("moor-agent"))
        .await
        .context("serving the site failed")?;
    eprintln!("moor-agent: stopped");
    Ok(())
}

fn announce(config: &AgentConfig, addr: std::net::SocketAddr) {
    match &config.tls {
        Some(files) => tracing::info!(
            site = %config.site,
            %addr,
            cert = %files.cert.display(),
            ca = %files.ca.display(),
            "serving site {} over TLS: callers need a member certificate of the CA",
            config.site
        ),
        None => tracing::warn!(
            site = %config.site,
            %addr,
            "serving site {} in PLAINTEXT (--insecure-plaintext): anyone who reaches {addr} can write files and run commands here and fence the controllers out; loopback and development only",
            config.site
        ),
    }
}
