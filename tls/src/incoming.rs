//! A listener's connections after the TLS handshake, as a stream for tonic's
//! `serve_with_incoming`. Every accepted socket gets TCP_NODELAY (see node's server for why)
//! and its own handshake task with a deadline, so a client that connects and says nothing
//! holds no one else up; at most [`MAX_HANDSHAKES`] run at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use crate::reload::TlsReloader;

/// Handshakes in progress at most; further connections wait to be accepted.
pub const MAX_HANDSHAKES: usize = 256;

/// How long a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts refused handshakes, and says so in the log at most every 10 s: a scan of the port
/// must not flood the log, an operator must still see that clients are being refused.
struct Refusals {
    count: AtomicU64,
    last_log: std::sync::Mutex<Option<Instant>>,
}

impl Refusals {
    fn record(&self, peer: SocketAddr, reason: &str) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(%peer, reason, "TLS handshake refused");
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(%peer, reason, refused_total = n, "TLS handshake refused (logged at most every 10 s; debug logs show each)");
        }
    }
}

/// Accepts on `listener` and yields each connection once its TLS handshake with the
/// configuration current at that moment has succeeded. Stops accepting when the stream is
/// dropped.
pub fn tls_incoming(
    listener: TcpListener,
    tls: Arc<TlsReloader>,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(accept_loop(listener, tls, tx));
    ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<TlsReloader>,
    tx: mpsc::Sender<Result<TlsStream<TcpStream>, std::io::Error>>,
) {
    let permits = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let refusals = Arc::new(Refusals {
        count: AtomicU64::new(0),
        last_log: std::sync::Mutex::new(None),
    });
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p,
            _ = tx.closed() => return,
        };
        let Ok(permit) = permit else { return };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: say so, give the process a moment
                    // to close some, try again.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = tx.closed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
        let tx = tx.clone();
        let refusals = refusals.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send(Ok(stream)).await;
                }
                Ok(Err(e)) => refusals.record(peer, &e.to_string()),
                Err(_) => refusals.record(peer, "no handshake within 10 s"),
            }
        });
    }
}
