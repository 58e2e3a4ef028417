//! A member with TLS on both listeners and authentication on (the security tests).

use std::sync::Arc;

use moor_node::api::server::Listeners;
use moor_node::app;
use moor_node::config::Config;
use moor_node::exec::agent::AgentDriver;
use moor_tls::dev::{write_bundle, Bundle};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

pub struct Member {
    pub client_addr: String,
    pub peer_addr: String,
    pub bundle: Bundle,
    pub data_dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Member 1 of a single-member cluster; certificates for members 1 and 9 (9 never joins).
pub async fn start() -> Member {
    start_with(|_| {}).await
}

/// [`start`] with the config adjusted by `adjust` before it starts.
pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Member {
    let data_dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(
        &data_dir.path().join("tls"),
        &[1, 9],
        &["localhost".into(), "127.0.0.1".into()],
    )
    .unwrap();
    let client = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client_addr = client.local_addr().unwrap().to_string();
    let peer_addr = peer.local_addr().unwrap().to_string();
    let (cert, key) = bundle.member(1);
    let mut config = Config {
        id: 1,
        listen_addr: client.local_addr().unwrap(),
        peer_listen_addr: Some(peer.local_addr().unwrap()),
        data_dir: data_dir.path().join("data"),
        bootstrap_single: true,
        ..Config::default()
    };
    config.tls.cert = Some(cert);
    config.tls.key = Some(key);
    config.tls.ca = Some(bundle.ca.clone());
    config.executor.drift_check_interval_ms = 0;
    adjust(&mut config);
    config.validate().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    app::start(
        config,
        Listeners {
            client,
            peer: Some(peer),
        },
        Arc::new(AgentDriver::default()),
        async {
            let _ = stopped.await;
        },
    )
    .await
    .unwrap();
    Member {
        client_addr,
        peer_addr,
        bundle,
        data_dir,
        _stop: stop,
    }
}

impl Member {
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("data/admin.token"))
            .unwrap()
            .trim()
            .to_string()
    }

    pub async fn channel(
        &self,
        identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    ) -> Result<Channel, String> {
        let ca = std::fs::read_to_string(&self.bundle.ca).unwrap();
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        if let Some((c, k)) = identity {
            tls = tls.identity(Identity::from_pem(
                std::fs::read(c).unwrap(),
                std::fs::read(k).unwrap(),
            ));
        }
        Channel::from_shared(format!("https://{}", self.client_addr))
            .unwrap()
            .tls_config(tls)
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("{e:?}"))
    }
}

pub fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}
