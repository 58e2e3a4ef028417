//! Starting and serving an agent: [`open`] turns a validated [`AgentConfig`] into an
//! [`AgentSite`] (directories checked, the `[kubernetes]` section's client made — nothing is
//! sent to the cluster yet —, store opened and replayed), [`serve`] runs the
//! `SiteAgent` service on a listener the caller bound until a shutdown future resolves
//! (servers take a listener and a shutdown future, so tests bind port 0 and stop cleanly).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moor_kube::KubeSite;
use moor_proto::site::site_agent_server::SiteAgentServer;
use moor_tls::TlsReloader;
use tokio::net::TcpListener;

use super::config::AgentConfig;
use super::errors::AgentError;
use super::kube::{cluster_settings, Cluster};
use super::resource::Site;
use super::service::AgentService;
use super::site::AgentSite;
use super::store::Store;
use crate::callers::Callers;
use crate::journal::AppendJournal;
use crate::server::{serve_router, server_builder};

/// Largest request accepted, in bytes (a file's content travels in one request).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// The deadline of a call to the cluster when the config gives none.
const DEFAULT_KUBE_CALL_TIMEOUT_S: u64 = 60;

/// Concurrent calls per connection: mutating calls wait for the site's lock in turn; this
/// bounds how many may wait.
const MAX_CONCURRENT_REQUESTS_PER_CONNECTION: usize = 256;

/// Checks the directories of `config`, makes the client of its cluster and opens its store:
/// the site, ready to serve.
pub async fn open(config: &AgentConfig) -> Result<AgentSite, AgentError> {
    let cluster = connect_cluster(config).await?;
    open_with_cluster(config, cluster)
}

/// The client of the `[kubernetes]` section's cluster (`None` without one), with the
/// agent's settings ([`cluster_settings`]). Reads the kubeconfig (or the pod's account) and
/// sends nothing, so `--check-config` uses it too.
pub async fn connect_cluster(config: &AgentConfig) -> Result<Option<KubeSite>, AgentError> {
    match &config.kubernetes {
        None => Ok(None),
        Some(k) => Ok(Some(
            KubeSite::connect(&k.source, cluster_settings()).await?,
        )),
    }
}

/// [`open`] with the cluster's client made by the caller (tests: a client over a scripted
/// API server, made with [`cluster_settings`]); `None`: `kubernetes.manifest` is FAILED.
pub fn open_with_cluster(
    config: &AgentConfig,
    cluster: Option<KubeSite>,
) -> Result<AgentSite, AgentError> {
    let root = config.prepare()?;
    let store = Store::open(&config.data_dir)?;
    let memory = store.memory();
    tracing::info!(
        site = %config.site,
        root = %root.display(),
        store = %store.path().display(),
        highest_token = memory.highest_token(),
        recorded_keys = memory.key_count(),
        "store replayed"
    );
    let call_timeout_s = config
        .kubernetes
        .as_ref()
        .map_or(DEFAULT_KUBE_CALL_TIMEOUT_S, |k| k.call_timeout_s);
    let site = Site {
        root,
        limits: config.limits(),
        cluster: cluster.map(|site| Cluster {
            site,
            call_timeout: Duration::from_secs(call_timeout_s),
        }),
    };
    let journal = match &config.journal {
        Some(path) => Some(AppendJournal::open(path)?),
        None => None,
    };
    Ok(AgentSite::new(&config.site, site, store, journal))
}

/// Serves `site` on `listener` until `shutdown` resolves, then lets in-flight calls finish.
/// With `tls`, mutual TLS and members only; without, plaintext (logged as such).
pub async fn serve(
    site: AgentSite,
    listener: TcpListener,
    tls: Option<Arc<TlsReloader>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    let callers = match &tls {
        Some(_) => Callers::members_only(),
        None => Callers::anyone(),
    };
    let service = SiteAgentServer::new(AgentService::new(site, callers))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let router = server_builder(MAX_CONCURRENT_REQUESTS_PER_CONNECTION).add_service(service);
    serve_router(router, listener, tls, shutdown).await?;
    Ok(())
}
