//! What the in-process member tests share: one member started with `app::start` on port 0,
//! a temporary data dir and the site driver the test gives it.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod secure;
pub mod workflow;

use std::net::SocketAddr;
use std::sync::Arc;

use moor_node::app;
use moor_node::config::Config;
use moor_node::exec::driver::SiteDriver;
use moor_node::raft::member::Member;

/// A running single-member cluster; `stop` then `running.wait()` shuts it down.
pub struct Started {
    pub addr: SocketAddr,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub running: app::Running,
    /// The data dir, kept for as long as the test holds it (a restart reuses it).
    pub dir: tempfile::TempDir,
}

impl Started {
    /// The running member.
    pub fn member(&self) -> &Arc<Member> {
        &self.running.member
    }

    /// Stops the member and waits until it has; hands back its data dir and address.
    pub async fn shut_down(self) -> (tempfile::TempDir, SocketAddr) {
        let _ = self.stop.send(());
        self.running.wait().await.unwrap();
        (self.dir, self.addr)
    }
}

/// Starts member 1 as a single-member cluster (it elects itself) driving sites through
/// `driver`; drift checks are off so the only site calls are the ones a test causes.
pub async fn start(driver: Arc<dyn SiteDriver>) -> Started {
    let dir = tempfile::tempdir().unwrap();
    start_at(dir, "127.0.0.1:0".parse().unwrap(), driver).await
}

/// Starts member 1 on `dir` (new or left by a stopped member) listening on `addr`.
pub async fn start_at(
    dir: tempfile::TempDir,
    addr: SocketAddr,
    driver: Arc<dyn SiteDriver>,
) -> Started {
    start_configured(dir, addr, driver, |_| {}).await
}

/// [`start_at`], with `tweak` changing the configuration before it is validated.
pub async fn start_configured(
    dir: tempfile::TempDir,
    addr: SocketAddr,
    driver: Arc<dyn SiteDriver>,
    tweak: impl FnOnce(&mut Config),
) -> Started {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config {
        id: 1,
        listen_addr: addr,
        advertise_addr: Some(addr.to_string()),
        data_dir: dir.path().to_path_buf(),
        bootstrap_single: true,
        // These tests are about the executor and the API, not security (tests/security.rs).
        insecure_plaintext: true,
        ..Config::default()
    };
    config.auth.enabled = false;
    config.executor.drift_check_interval_ms = 0;
    tweak(&mut config);
    config.validate().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listeners = moor_node::api::server::Listeners {
        client: listener,
        peer: None,
    };
    let running = app::start(config, listeners, driver, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    Started {
        addr,
        stop,
        running,
        dir,
    }
}
