//! A whole member in one call: [`run`] starts the Raft member on its data dir, the executor
//! (with the site driver it is given) and the gRPC server on the listener it is given, and
//! stops all three, in that order, when `shutdown` resolves. `main.rs` only parses flags
//! and binds; tests start members in-process with port 0 and a fake driver.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::server;
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

/// Starts member `config.id` serving on `listener`, driving sites through `driver`; it stops
/// when `shutdown` resolves.
pub async fn start(
    config: Config,
    listener: TcpListener,
    driver: Arc<dyn SiteDriver>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let member = Member::start(&config)
        .await
        .with_context(|| format!("cannot start member {}", config.id))?;
    tracing::info!(
        id = config.id,
        listen = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        advertise = %config.advertised(),
        data_dir = %config.data_dir.display(),
        "moord started"
    );
    let (executor_stop, executor_stop_rx) = tokio::sync::watch::channel(false);
    let executor = tokio::spawn(executor::run(
        member.clone(),
        driver,
        config.executor.clone(),
        executor_stop_rx,
    ));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        member.clone(),
        config.limits.clone(),
        listener,
        async {
            let _ = stop_rx.await;
        },
    ));
    let m = member.clone();
    let done = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(());
        let _ = executor_stop.send(true);
        let _ = executor.await;
        m.shutdown().await;
        match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
            Ok(joined) => joined??,
            Err(_) => tracing::warn!("server did not drain within 5s; exiting anyway"),
        }
        Ok(())
    });
    Ok(Running { member, done })
}

/// Runs member `config.id` on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: TcpListener,
    driver: Arc<dyn SiteDriver>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    start(config, listener, driver, shutdown)
        .await?
        .wait()
        .await
}
