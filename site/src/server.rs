//! Serving a sitesim: [`serve`] runs the gRPC services over a [`SiteSim`] on a listener the
//! caller bound, until a shutdown future resolves, then flushes the journal (servers take a
//! listener and a shutdown future, so tests bind port 0 and stop cleanly). [`RunningSim`] does
//! that on a loopback port inside a test process.
//!
//! In-process use (tests): [`RunningSim::start`]; or build a [`SiteSim`], keep a clone as the
//! handle, and run [`serve`] with your own listener and shutdown future.
//!
//! With TLS files in the configuration ([`SimConfig::tls`]) the listener speaks TLS only:
//! every client must present a certificate of the configured CA (mutual TLS, checked in the
//! handshake by `moor_tls::incoming::tls_incoming`), and `SiteAgent` calls must come from a
//! member certificate (see [`crate::service`]). The files are re-read when they change
//! ([`TlsReloader::watch`]), so certificates rotate without a restart. Without them the
//! sitesim serves plaintext, as a test fixture on loopback, and says so in the log.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moor_proto::site::site_agent_server::SiteAgentServer;
use moor_proto::site::site_sim_admin_server::SiteSimAdminServer;
use moor_tls::incoming::tls_incoming;
use moor_tls::reload::TlsError;
use moor_tls::{ClientAuth, TlsFiles, TlsReloader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::transport::Server;

use crate::config::SimConfig;
use crate::errors::SimError;
use crate::service::SimService;
use crate::sim::SiteSim;

/// Loads the TLS files of `config` (None when it has none: plaintext) with client
/// certificates required, and keeps them current: they are checked every
/// `tls_reload_interval_ms` for as long as the returned reloader lives. An error names the
/// file at fault. Must run inside a tokio runtime.
pub fn load_tls(config: &SimConfig) -> Result<Option<Arc<TlsReloader>>, SimError> {
    Ok(watch_tls(
        config.tls.as_ref(),
        config.tls_reload_interval_ms,
    )?)
}

/// Loads `files` (None: plaintext) with client certificates required and checks them for a
/// change every `reload_interval_ms` for as long as the returned reloader lives. Shared by
/// every server of this crate. Must run inside a tokio runtime.
pub fn watch_tls(
    files: Option<&TlsFiles>,
    reload_interval_ms: u64,
) -> Result<Option<Arc<TlsReloader>>, TlsError> {
    let Some(files) = files else {
        return Ok(None);
    };
    let tls = TlsReloader::new(files.clone(), ClientAuth::Required)?;
    tls.watch(Duration::from_millis(reload_interval_ms));
    Ok(Some(tls))
}

/// Serves `sim` on `listener` until `shutdown` resolves, then releases held calls, lets
/// in-flight calls finish, and flushes the journal. Keep a clone of `sim` to read its stats
/// or flush its journal while it serves. TLS when the configuration names TLS files (loaded
/// and watched by [`load_tls`]), plaintext otherwise.
pub async fn serve(
    sim: SiteSim,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let tls = load_tls(sim.config())?;
    serve_with_tls(sim, listener, tls, shutdown).await
}

/// [`serve`] with the TLS configuration given by the caller (who keeps the reloader to reload
/// it, e.g. on SIGHUP): with `Some`, TLS with client certificates required and `SiteAgent`
/// for members only; with `None`, plaintext.
pub async fn serve_with_tls(
    sim: SiteSim,
    listener: TcpListener,
    tls: Option<Arc<TlsReloader>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let config = sim.config().clone();
    let service = match &tls {
        Some(_) => SimService::members_only(sim.clone()),
        None => SimService::new(sim.clone()),
    };
    let agent =
        SiteAgentServer::new(service.clone()).max_decoding_message_size(config.max_request_bytes);
    let admin =
        SiteSimAdminServer::new(service).max_decoding_message_size(config.max_request_bytes);
    let releaser = sim.clone();
    let signal = async move {
        shutdown.await;
        // Held calls would otherwise keep graceful shutdown waiting for their deadlines.
        releaser.release_held_calls();
    };
    let router = server_builder(config.max_concurrent_requests_per_connection)
        .add_service(agent)
        .add_service(admin);
    let served = serve_router(router, listener, tls, signal).await;
    // Flush whatever happened to the server: every answered call must be in the file.
    let flushed = sim.flush_journal().await;
    served?;
    flushed?;
    Ok(())
}

/// The gRPC server settings every site server of this crate shares: at most `limit`
/// concurrent calls per connection, HTTP/2 keepalive.
pub fn server_builder(limit: usize) -> Server {
    Server::builder()
        .concurrency_limit_per_connection(limit)
        // hyper's default of 200 streams per connection would cap a rollout's parallelism
        // below the concurrency limit above.
        .max_concurrent_streams(u32::try_from(limit).unwrap_or(u32::MAX))
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
}

/// Serves `router` on `listener` until `signal` resolves: over TLS with client certificates
/// required when `tls` is given, plaintext (logged as such) otherwise.
pub async fn serve_router(
    router: Router,
    listener: TcpListener,
    tls: Option<Arc<TlsReloader>>,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    match tls {
        Some(tls) => {
            tracing::info!(
                cert = %tls.files().cert.display(),
                ca = %tls.files().ca.display(),
                "serving over TLS: clients need a certificate of the CA, SiteAgent calls a member's"
            );
            // tls_incoming sets TCP_NODELAY on each accepted socket too.
            router
                .serve_with_incoming_shutdown(tls_incoming(listener, tls), signal)
                .await
        }
        None => {
            tracing::warn!("serving PLAINTEXT: anyone who reaches this port can call SiteAgent with any fence token (and so fence the real controllers out); use TLS outside tests and loopback");
            // `Server::tcp_nodelay` does not reach sockets accepted from a listener we bound
            // ourselves: set it on each accepted socket, or Nagle's algorithm meets delayed
            // ACKs and a lone client waits ~40 ms per request.
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            router.serve_with_incoming_shutdown(incoming, signal).await
        }
    }
}

/// A sitesim serving on a loopback port in this process, for tests.
pub struct RunningSim {
    addr: SocketAddr,
    sim: SiteSim,
    tls: Option<Arc<TlsReloader>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), SimError>>,
}

impl RunningSim {
    /// Starts serving `config` on 127.0.0.1 at a free port (over TLS when it names TLS
    /// files).
    pub async fn start(config: SimConfig) -> Result<RunningSim, SimError> {
        let tls = load_tls(&config)?;
        let sim = SiteSim::new(config)?;
        let listen = "127.0.0.1:0";
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| SimError::Listen {
                addr: listen.into(),
                detail: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| SimError::Listen {
            addr: listen.into(),
            detail: e.to_string(),
        })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_tls(
            sim.clone(),
            listener,
            tls.clone(),
            async move {
                // Dropping the RunningSim without stop() also stops the server.
                let _ = stopped.await;
            },
        ));
        Ok(RunningSim {
            addr,
            sim,
            tls,
            stop: Some(stop),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for a tonic client (over TLS, give the channel a TLS connector: the
    /// scheme stays `http`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The TLS configuration it serves with (None in plaintext): call
    /// [`TlsReloader::reload_if_changed`] after replacing the files to rotate at once
    /// instead of waiting for the next check.
    pub fn tls(&self) -> Option<&Arc<TlsReloader>> {
        self.tls.as_ref()
    }

    /// The handle: stats, drift, reachability, journal flush.
    pub fn sim(&self) -> &SiteSim {
        &self.sim
    }

    /// Stops serving and flushes the journal.
    pub async fn stop(mut self) -> Result<(), SimError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(SimError::ShuttingDown),
        }
    }
}
