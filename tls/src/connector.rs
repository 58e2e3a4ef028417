//! The dialing side: a connector for tonic's `Endpoint::connect_with_connector*` that opens
//! TCP (with TCP_NODELAY) and runs the TLS handshake with the client configuration current
//! at that moment, so a reconnect after a rotation presents the new certificate.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::codegen::http::Uri;

use crate::reload::TlsReloader;

/// Dials over TLS, checking the server's certificate names `server_name` (for a member,
/// `member-<id>.moor`; for a site, the host it is reached at).
#[derive(Clone)]
pub struct TlsConnector {
    tls: Arc<TlsReloader>,
    server_name: ServerName<'static>,
}

impl TlsConnector {
    /// A connector checking for `server_name`; an error when it is neither a DNS name nor
    /// an IP address.
    pub fn new(tls: Arc<TlsReloader>, server_name: &str) -> Result<TlsConnector, String> {
        let server_name = ServerName::try_from(server_name.to_string())
            .map_err(|e| format!("{server_name:?} cannot be a TLS server name: {e}"))?;
        Ok(TlsConnector { tls, server_name })
    }
}

type Connecting =
    Pin<Box<dyn Future<Output = Result<TokioIo<TlsStream<TcpStream>>, std::io::Error>> + Send>>;

impl tower_service::Service<Uri> for TlsConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = std::io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = self.tls.client_config();
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let authority = uri
                .authority()
                .ok_or_else(|| std::io::Error::other(format!("no host:port in {uri}")))?
                .to_string();
            let tcp = TcpStream::connect(&authority).await?;
            let _ = tcp.set_nodelay(true);
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(server_name, tcp)
                .await?;
            Ok(TokioIo::new(stream))
        })
    }
}
