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
    /// Single-member development cluster: data in ./moor-data, initialised at start, with
    /// development certificates made on first start in <data dir>/tls (printed as the
    /// moorctl settings to use) and the admin token in <data dir>/admin.token.
    #[arg(long)]
    dev: bool,
    /// Write a development CA and certificates for members 1..=N (and an admin client and a
    /// site certificate) and a secrets key file into this directory, print their paths and
    /// exit.
    #[arg(long, value_name = "DIR")]
    gen_dev_certs: Option<PathBuf>,
    /// With --gen-dev-certs: how many members.
    #[arg(long, default_value_t = 3, value_name = "N")]
    dev_cert_members: u64,
    /// With --gen-dev-certs: host names and IPs clients dial (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1",
        value_name = "HOSTS"
    )]
    dev_cert_hosts: Vec<String>,
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
    /// Address clients use to reach this member (default: the listen address).
    #[arg(long, env = "MOOR_ADVERTISE_ADDR")]
    advertise_addr: Option<String>,
    /// Address the peer listener (Raft, forwarding) listens on, e.g. 0.0.0.0:7402. Unset:
    /// peers share the client listener.
    #[arg(long, env = "MOOR_PEER_LISTEN_ADDR")]
    peer_listen_addr: Option<std::net::SocketAddr>,
    /// Address other members use to reach this one (default: the peer listen address).
    #[arg(long, env = "MOOR_PEER_ADVERTISE_ADDR")]
    peer_advertise_addr: Option<String>,
    /// This member's certificate (PEM): DNS name member-<id>.moor plus the names clients dial.
    #[arg(long, env = "MOOR_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, env = "MOOR_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// The cluster CA bundle (PEM).
    #[arg(long, env = "MOOR_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// Serve and dial without TLS (throwaway local clusters only; warns on every start).
    #[arg(long, env = "MOOR_INSECURE_PLAINTEXT")]
    insecure_plaintext: bool,
    /// Let every client in as admin, without a token or certificate (throwaway local
    /// clusters only; warns on every start).
    #[arg(long, env = "MOOR_INSECURE_NO_AUTH")]
    insecure_no_auth: bool,
    /// The secrets key file (the same on every member): secret inputs and variables are
    /// sealed with its first key. Make it with `moord secrets-key new --file FILE`.
    #[arg(long, env = "MOOR_SECRETS_KEY_FILE", value_name = "FILE")]
    secrets_key_file: Option<PathBuf>,
    /// Raise the cluster feature level by itself once every member supports a higher one
    /// (`upgrade.auto_finalize`, default true); false: `moorctl cluster upgrade-finalize` does.
    #[arg(long, env = "MOOR_UPGRADE_AUTO_FINALIZE", value_name = "BOOL")]
    upgrade_auto_finalize: Option<bool>,
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
    /// Export traces to this OpenTelemetry collector (OTLP/gRPC), e.g.
    /// `http://otel-collector:4317` (`telemetry.otlp_endpoint`).
    #[arg(long, env = "MOOR_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Check the configuration, print it as TOML and exit.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Seed the data dir of the first member of a NEW cluster from a backup file (`moorctl
    /// cluster snapshot save`), then exit. Start that member as usual afterwards, and the
    /// other members with empty data dirs: they receive the state from it. The new cluster
    /// gets a new identity, so its members never exchange Raft traffic with the old one.
    Restore(RestoreArgs),
    /// The secrets key file (`secrets.key_file`).
    #[command(subcommand)]
    SecretsKey(SecretsKeyCmd),
}

#[derive(Debug, clap::Subcommand)]
enum SecretsKeyCmd {
    /// Put a new random key first in FILE (created 0600 if missing): new secret values are
    /// sealed with it, the older keys still open older values. Copy the file to every
    /// member (each re-reads it within a second), then run `moorctl secrets reseal`; once
    /// `moorctl secrets status` shows no value under an old key, remove that key.
    New {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    snapshot: PathBuf,
    /// This member's data dir (the `data_dir` of its config); must not hold Raft state.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// This member's id in the new cluster.
    #[arg(long)]
    id: u64,
    /// Every member of the new cluster with its peer address: 1=10.0.0.1:7402,2=...
    #[arg(long, value_name = "ID=HOST:PORT,...", value_parser = parse_members)]
    members: std::collections::BTreeMap<u64, String>,
    /// The term the restored cluster starts above (fence tokens are terms: it must exceed
    /// every term the old cluster reached). Default: the backup's term + 1,000,000.
    #[arg(long, value_name = "TERM")]
    term_floor: Option<u64>,
    /// The new cluster identity (letters, digits, '-'). Default: random.
    #[arg(long, value_name = "ID")]
    cluster_id: Option<String>,
}

fn parse_members(text: &str) -> Result<std::collections::BTreeMap<u64, String>, String> {
    moor_node::restore::parse_members(text)
}

fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let spec = moor_node::restore::RestoreSpec {
        backup: args.snapshot,
        data_dir: args.data_dir,
        id: args.id,
        members: args.members,
        term_floor: args.term_floor,
        cluster_id: args.cluster_id,
    };
    let report = moor_node::restore::restore(&spec)?;
    print!(
        "{}",
        moor_node::restore::describe(&report, &spec, &spec.data_dir)
    );
    Ok(())
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
        if let Some(v) = self.peer_listen_addr {
            config.peer_listen_addr = Some(v);
        }
        if let Some(v) = self.peer_advertise_addr {
            config.peer_advertise_addr = Some(v);
        }
        if let Some(v) = self.tls_cert {
            config.tls.cert = Some(v);
        }
        if let Some(v) = self.tls_key {
            config.tls.key = Some(v);
        }
        if let Some(v) = self.tls_ca {
            config.tls.ca = Some(v);
        }
        if self.insecure_plaintext {
            config.insecure_plaintext = true;
        }
        if self.insecure_no_auth {
            config.auth.enabled = false;
        }
        if let Some(v) = self.data_dir {
            config.data_dir = v;
        }
        if let Some(v) = self.secrets_key_file {
            config.secrets.key_file = Some(v);
        }
        if let Some(v) = self.upgrade_auto_finalize {
            config.upgrade.auto_finalize = v;
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
        if let Some(v) = self.otlp_endpoint {
            config.telemetry.otlp_endpoint = Some(v);
        }
        if self.dev && !config.insecure_plaintext && config.tls.cert.is_none() {
            dev_certificates(&mut config)?;
        }
        if self.dev && config.secrets.key_file.is_none() {
            dev_secrets_key(&mut config)?;
        }
        config.validate()?;
        Ok((config, self.check_config))
    }
}

/// `--dev`: development certificates for this one member in <data dir>/tls, made on the
/// first start and reused after; the moorctl settings to use are printed.
fn dev_certificates(config: &mut Config) -> anyhow::Result<()> {
    let dir = config.data_dir.join("tls");
    let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let bundle = if dir.join("ca.pem").exists() {
        moor_tls::dev::Bundle {
            ca: dir.join("ca.pem"),
            dir,
        }
    } else {
        moor_tls::dev::write_bundle(&dir, &[config.id], &hosts).with_context(|| {
            format!("cannot write development certificates to {}", dir.display())
        })?
    };
    let (cert, key) = bundle.member(config.id);
    config.tls.cert = Some(cert);
    config.tls.key = Some(key);
    config.tls.ca = Some(bundle.ca.clone());
    println!(
        "moord --dev: TLS with development certificates in {dir}; use moorctl --ca-file {ca} --token-file {token}",
        dir = bundle.dir.display(),
        ca = bundle.ca.display(),
        token = config.data_dir.join("admin.token").display(),
    );
    Ok(())
}

/// `--dev`: a secrets key file in <data dir>/secrets.keys, made on the first start.
fn dev_secrets_key(config: &mut Config) -> anyhow::Result<()> {
    let path = config.data_dir.join("secrets.keys");
    if !path.exists() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        moor_node::secrets::add_new_key(&path)?;
    }
    config.secrets.key_file = Some(path);
    Ok(())
}

fn gen_dev_certs(dir: &std::path::Path, members: u64, hosts: &[String]) -> anyhow::Result<()> {
    if dir.join("ca.pem").exists() {
        anyhow::bail!(
            "{} already holds a CA (ca.pem): remove it or pick another directory",
            dir.display()
        );
    }
    let ids: Vec<u64> = (1..=members).collect();
    let b = moor_tls::dev::write_bundle(dir, &ids, hosts)
        .with_context(|| format!("cannot write development certificates to {}", dir.display()))?;
    println!("ca: {}", b.ca.display());
    // The cluster's secrets key file goes with its certificates (`secrets.key_file`).
    let keys = dir.join("secrets.keys");
    if !keys.exists() {
        moor_node::secrets::add_new_key(&keys)?;
    }
    println!("secrets key file (secrets.key_file): {}", keys.display());
    for id in ids {
        let (c, k) = b.member(id);
        println!(
            "member {id}: --tls-cert {} --tls-key {}",
            c.display(),
            k.display()
        );
    }
    let (c, k) = b.admin();
    println!(
        "admin client (CN admin, O admin): --cert-file {} --key-file {}",
        c.display(),
        k.display()
    );
    let (c, k) = b.site();
    println!("site server: {} {}", c.display(), k.display());
    Ok(())
}

/// The site-protocol driver: mutual TLS with this member's certificate when it has one
/// (unless `sites.insecure_plaintext`), plaintext otherwise.
fn site_driver(config: &Config) -> anyhow::Result<AgentDriver> {
    let Some(files) = config
        .tls_files()
        .filter(|_| !config.sites.insecure_plaintext)
    else {
        if config.tls_files().is_some() {
            tracing::warn!("sites.insecure_plaintext: sites are called without TLS; anyone who reaches a site can impersonate it or fence the members out");
        }
        return Ok(AgentDriver::default());
    };
    let tls = moor_tls::TlsReloader::new(files, moor_tls::ClientAuth::Required)
        .context("cannot load the TLS files for calls to sites")?;
    tls.watch(std::time::Duration::from_millis(
        config.tls.reload_interval_ms,
    ));
    Ok(AgentDriver::with_tls(tls))
}

/// Logging to stderr, and trace export when `telemetry.otlp_endpoint` is set: the returned
/// exporter flushes its last spans when dropped at exit.
fn init_tracing(config: &Config) -> anyhow::Result<Option<moor_node::telemetry::Export>> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.filter)
        .with_context(|| format!("invalid log filter {:?}", config.log.filter))?;
    // Colour codes only for a person at a terminal, never into a log file or journald.
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let fmt = match config.log.format {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let (traces, export) = match moor_node::telemetry::start(config)? {
        Some((provider, export)) => (Some(moor_node::telemetry::layer(&provider)), Some(export)),
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(traces)
        .try_init()
        .context("cannot install the log subscriber")?;
    if let Some(endpoint) = &config.telemetry.otlp_endpoint {
        tracing::info!(
            endpoint = %endpoint,
            sample_ratio = config.telemetry.sample_ratio,
            "exporting traces over OTLP"
        );
    }
    Ok(export)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("cannot install SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn run(mut args: Args) -> anyhow::Result<()> {
    match args.command.take() {
        Some(Sub::Restore(r)) => return restore(r),
        Some(Sub::SecretsKey(SecretsKeyCmd::New { file })) => {
            let id = moor_node::secrets::add_new_key(&file)?;
            println!(
                "moord: key {id} is now first in {} (mode 0600): copy the file to every member, then run `moorctl secrets reseal`",
                file.display()
            );
            return Ok(());
        }
        None => {}
    }
    if let Some(dir) = &args.gen_dev_certs {
        return gen_dev_certs(dir, args.dev_cert_members, &args.dev_cert_hosts);
    }
    let (config, check_only) = args.into_config()?;
    if check_only {
        print!("{}", toml::to_string(&config)?);
        return Ok(());
    }
    let _export = init_tracing(&config)?;
    let client = TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
    let peer = match config.peer_listen_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (peer_listen_addr)"))?,
        ),
        None => None,
    };
    // Site-protocol sites (agents, sitesim) and Kubernetes sites, each call to its kind.
    let driver = Arc::new(moor_node::exec::sites::Sites::new(site_driver(&config)?));
    let listeners = moor_node::api::server::Listeners { client, peer };
    moor_node::app::run(config, listeners, driver, shutdown_signal()).await?;
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
