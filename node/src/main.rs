//! `moord`: runs one Moor member. Configuration comes from a TOML file, overridden by flags,
//! which clap also reads from `MOOR_*` environment variables.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use moor_node::config::{Config, LogFormat};
use moor_node::exec::agent::AgentDriver;
use tokio::net::TcpListener;

/// A member of a Moor control-plane cluster.
#[derive(Debug, Parser)]
#[command(name = "moord", version, about)]
struct Args {
    /// TOML config file; flags and MOOR_* variables override its values.
    #[arg(long, short = 'c', env = "MOOR_CONFIG")]
    config: Option<PathBuf>,
    /// Single-member development cluster: data in ./moor-data, initialised at start.
    #[arg(long)]
    dev: bool,
    /// This member's id (unique in the group, from 1).
    #[arg(long, env = "MOOR_ID")]
    id: Option<u64>,
    /// Take the member id from a name ending in -N (N + 1): a StatefulSet pod name, e.g.
    /// moor-0 is member 1. Overrides --id.
    #[arg(long, env = "MOOR_ID_FROM_NAME", value_name = "NAME")]
    id_from_name: Option<String>,
    /// Address to listen on, e.g. 0.0.0.0:7401.
    #[arg(long, env = "MOOR_LISTEN_ADDR")]
    listen_addr: Option<std::net::SocketAddr>,
    /// Address peers and clients use to reach this member (default: the listen address).
    #[arg(long, env = "MOOR_ADVERTISE_ADDR")]
    advertise_addr: Option<String>,
    /// Directory for the RocksDB store.
    #[arg(long, env = "MOOR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Initialise a single-member cluster if this member has no state yet.
    #[arg(long, env = "MOOR_BOOTSTRAP_SINGLE")]
    bootstrap_single: bool,
    /// Log format.
    #[arg(long, env = "MOOR_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `moor_node=debug`.
    #[arg(long, env = "MOOR_LOG")]
    log: Option<String>,
    /// Check the configuration, print it as TOML and exit.
    #[arg(long)]
    check_config: bool,
}

impl Args {
    fn into_config(self) -> anyhow::Result<(Config, bool)> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if self.dev {
            config.bootstrap_single = true;
        }
        if let Some(v) = self.id {
            config.id = v;
        }
        if let Some(name) = &self.id_from_name {
            config.id = moor_node::config::ordinal::id_from_name(name)
                .map_err(|e| anyhow::anyhow!("--id-from-name / MOOR_ID_FROM_NAME: {e}"))?;
        }
        if let Some(v) = self.listen_addr {
            config.listen_addr = v;
        }
        if let Some(v) = self.advertise_addr {
            config.advertise_addr = Some(v);
        }
        if let Some(v) = self.data_dir {
            config.data_dir = v;
        }
        if self.bootstrap_single {
            config.bootstrap_single = true;
        }
        if let Some(v) = self.log_format {
            config.log.format = v;
        }
        if let Some(v) = self.log {
            config.log.filter = v;
        }
        config.validate()?;
        Ok((config, self.check_config))
    }
}

fn init_tracing(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.filter)
        .with_context(|| format!("invalid log filter {:?}", config.log.filter))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("cannot install SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (config, check_only) = args.into_config()?;
    if check_only {
        print!("{}", toml::to_string(&config)?);
        return Ok(());
    }
    init_tracing(&config)?;
    let listener = TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
    let driver = Arc::new(AgentDriver::default());
    moor_node::app::run(config, listener, driver, shutdown_signal()).await?;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("moord: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moord: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
