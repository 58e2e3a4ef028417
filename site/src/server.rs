//! Serving a sitesim: [`serve`] runs the gRPC services over a [`SiteSim`] on a listener the
//! caller bound, until a shutdown future resolves, then flushes the journal (servers take a
//! listener and a shutdown future, so tests bind port 0 and stop cleanly). [`RunningSim`] does
//! that on a loopback port inside a test process.
//!
//! In-process use (tests): [`RunningSim::start`]; or build a [`SiteSim`], keep a clone as the
//! handle, and run [`serve`] with your own listener and shutdown future.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use moor_proto::site::site_agent_server::SiteAgentServer;
use moor_proto::site::site_sim_admin_server::SiteSimAdminServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

use crate::config::SimConfig;
use crate::errors::SimError;
use crate::service::SimService;
use crate::sim::SiteSim;

/// Serves `sim` on `listener` until `shutdown` resolves, then releases held calls, lets
/// in-flight calls finish, and flushes the journal. Keep a clone of `sim` to read its stats
/// or flush its journal while it serves.
pub async fn serve(
    sim: SiteSim,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let config = sim.config().clone();
    let service = SimService::new(sim.clone());
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
    let limit = config.max_concurrent_requests_per_connection;
    // `Server::tcp_nodelay` does not reach sockets accepted from a listener we bound
    // ourselves: set it on each accepted socket, or Nagle's algorithm meets delayed ACKs and
    // a lone client waits ~40 ms per request.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let served = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(limit)
        // hyper's default of 200 streams per connection would cap a rollout's parallelism
        // below the concurrency limit above.
        .max_concurrent_streams(u32::try_from(limit).unwrap_or(u32::MAX))
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(agent)
        .add_service(admin)
        .serve_with_incoming_shutdown(incoming, signal)
        .await;
    // Flush whatever happened to the server: every answered call must be in the file.
    let flushed = sim.flush_journal().await;
    served?;
    flushed?;
    Ok(())
}

/// A sitesim serving on a loopback port in this process, for tests.
pub struct RunningSim {
    addr: SocketAddr,
    sim: SiteSim,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), SimError>>,
}

impl RunningSim {
    /// Starts serving `config` on 127.0.0.1 at a free port.
    pub async fn start(config: SimConfig) -> Result<RunningSim, SimError> {
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
        let task = tokio::spawn(serve(sim.clone(), listener, async move {
            // Dropping the RunningSim without stop() also stops the server.
            let _ = stopped.await;
        }));
        Ok(RunningSim {
            addr,
            sim,
            stop: Some(stop),
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for a tonic client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
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
