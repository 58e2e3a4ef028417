//! A whole member in one call: [`run`] starts the Raft member on its data dir, the executor
//! (with the site driver it is given) and the gRPC servers on the listeners it is given, and
//! stops all three, in that order, when `shutdown` resolves — or when the Raft store reports
//! a corruption, and then [`Running::wait`] returns that error (moord exits non-zero).
//! `main.rs` only parses flags and binds; tests start members in-process with port 0 and a
//! fake driver.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moor_tls::{ClientAuth, TlsReloader};

use crate::api::auth::bootstrap;
use crate::api::server::{self, Listeners, ServeSettings, ServerTls};
use crate::config::Config;
use crate::exec::driver::SiteDriver;
use crate::exec::executor;
use crate::raft::member::Member;

/// How long the server may take to drain after shutdown: peers keep HTTP/2 connections
/// open, and one of them must not hold the exit forever.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A started member: what [`start`] hands back so a caller can inspect the member (tests)
/// before waiting for it to stop.
pub struct Running {
    pub member: Arc<Member>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Waits until the member has stopped (after `shutdown` resolved).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.done.await.context("the member's task panicked")?
    }
}

/// Loads the certificates named in `config` (None in plaintext), and keeps them current:
/// polled every `tls.reload_interval_ms`, and reloaded at once on SIGHUP.
fn load_tls(config: &Config) -> anyhow::Result<Option<ServerTls>> {
    let Some(files) = config.tls_files() else {
        tracing::warn!("TLS is OFF (--insecure-plaintext): tokens cross the network in clear text and anyone who reaches the peer port can send Raft traffic; use only for throwaway local clusters");
        return Ok(None);
    };
    let clients = TlsReloader::new(files.clone(), ClientAuth::Optional)
        .context("cannot load the TLS files (tls.cert, tls.key, tls.ca)")?;
    let peers = TlsReloader::new(files, ClientAuth::Required)
        .context("cannot load the TLS files (tls.cert, tls.key, tls.ca)")?;
    let every = Duration::from_millis(config.tls.reload_interval_ms);
    clients.watch(every);
    peers.watch(every);
    let (c, p) = (Arc::downgrade(&clients), Arc::downgrade(&peers));
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let (Some(c), Some(p)) = (c.upgrade(), p.upgrade()) else {
                    return;
                };
                match c.reload().and_then(|()| p.reload()) {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificates reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "SIGHUP: cannot reload the TLS files; still serving the previous certificates")
                    }
                }
            }
        });
    }
    Ok(Some(ServerTls { clients, peers }))
}

/// Starts member `config.id` serving on `listeners`, driving sites through `driver`; it stops
/// when `shutdown` resolves.
pub async fn start(
    config: Config,
    listeners: Listeners,
    driver: Arc<dyn SiteDriver>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let tls = load_tls(&config)?;
    let member = match Member::start(&config, tls.as_ref().map(|t| t.peers.clone())).await {
        Ok(member) => member,
        Err(e) => {
            // In the log too, not only on stderr: a refusal to start (a damaged disk above
            // all) must be findable where operators look.
            tracing::error!(id = config.id, error = %e, "cannot start member");
            return Err(e).with_context(|| format!("cannot start member {}", config.id));
        }
    };
    let local =
        |l: &tokio::net::TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(
        id = config.id,
        listen = %local(&listeners.client),
        peer_listen = %listeners.peer.as_ref().map(local).unwrap_or_else(|| "(shares the client listener)".into()),
        advertise = %config.advertised(),
        peer_advertise = %config.peer_advertised(),
        tls = tls.is_some(),
        auth = config.auth.enabled,
        data_dir = %config.data_dir.display(),
        "moord started"
    );
    if config.bootstrap_single && config.auth.enabled {
        // Read through a barrier: after a restart, the token may be in the log but not yet
        // applied.
        let mut tries = 0;
        while let Err(e) = member.read_barrier().await {
            tries += 1;
            if tries >= 40 {
                return Err(e).context("the single-member cluster did not elect itself");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let no_token = member
            .state
            .read()
            .expect("state lock poisoned")
            .auth
            .tokens
            .is_empty();
        if no_token {
            bootstrap::create_admin_token(&member, &config.data_dir)
                .await
                .context("cannot create the bootstrap admin token")?;
            // (None only if it already existed: then the barrier above would have shown it.)
            println!(
                "moord: bootstrap admin token written to {} (mode 0600): moorctl --token-file {}",
                bootstrap::token_path(&config.data_dir).display(),
                bootstrap::token_path(&config.data_dir).display()
            );
        }
    }
    let (executor_stop, executor_stop_rx) = tokio::sync::watch::channel(false);
    let executor = tokio::spawn(executor::run(
        member.clone(),
        driver.clone(),
        config.executor.clone(),
        executor_stop_rx.clone(),
    ));
    let sources = tokio::spawn(crate::exec::sources::run(
        member.clone(),
        crate::exec::sources::SourceSettings {
            cache_dir: config.data_dir.join("git-cache"),
            retention: moor_domain::auth::Retention {
                max_entries: config.auth.audit_max_entries,
                max_age_ms: config.auth.audit_max_age_s.saturating_mul(1000),
            },
            busy: Default::default(),
        },
        executor_stop_rx.clone(),
    ));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let settings = ServeSettings {
        limits: config.limits.clone(),
        auth: config.auth.clone(),
        data_dir: config.data_dir.clone(),
        tls,
        drivers: driver,
    };
    let server = tokio::spawn(server::serve(member.clone(), settings, listeners, async {
        let _ = stop_rx.await;
    }));
    let m = member.clone();
    let fault = member.store_fault();
    let level = member.applied_level.clone();
    let done = tokio::spawn(async move {
        // A corrupted store stops the member: serving on would answer from a broken store,
        // and openraft has already stopped its core on the storage error. So does a cluster
        // feature level this build does not support: it cannot apply what comes next.
        let corrupted = tokio::select! {
            () = shutdown => None,
            message = fault.wait() => {
                tracing::error!(error = %message, "stopping: the Raft store is corrupted");
                Some(message)
            }
            message = level.unsupported() => {
                tracing::error!(error = %message, "stopping: the cluster's feature level is too new for this release");
                Some(message.into())
            }
        };
        if corrupted.is_none() {
            tracing::info!("shutting down");
        }
        let _ = stop_tx.send(());
        let _ = executor_stop.send(true);
        let _ = executor.await;
        let _ = sources.await;
        m.shutdown().await;
        match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
            Ok(joined) => joined??,
            Err(_) => tracing::warn!("server did not drain within 5s; exiting anyway"),
        }
        match corrupted {
            None => Ok(()),
            Some(message) => Err(anyhow::anyhow!("{message}")),
        }
    });
    Ok(Running { member, done })
}

/// Runs member `config.id` on `listeners` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listeners: Listeners,
    driver: Arc<dyn SiteDriver>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    start(config, listeners, driver, shutdown)
        .await?
        .wait()
        .await
}
