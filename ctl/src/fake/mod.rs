//! A fake member for tests: serves the client API on a loopback port with scripted answers,
//! so the failover client and the commands are tested against real tonic transport errors
//! and statuses, without a cluster.
//!
//! It implements the whole `MoorApi` (its backup stream: `backup.rs`), `AuthApi`
//! (`auth.rs`), `WorkflowApi` (`workflow.rs`), `RolloutApi` (`rollout.rs`, groups only) and
//! `HookApi` (`hooks.rs`) traits, so a new RPC in api.proto, auth.proto, workflow.proto,
//! rollout.proto or hooks.proto needs a line here; the workflow and rollout services share
//! one state of environments and groups (`state.rs`); secrets at rest are in `secrets.rs`. It can serve TLS (`tls.rs`) and
//! records the `authorization` header of every request it receives.

mod auth;
mod backup;
mod hooks;
mod rollout;
mod secrets;
mod state;
pub mod tls;
mod workflow;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use moor_proto::api::moor_api_server::{MoorApi, MoorApiServer};
use moor_proto::api::*;
use moor_proto::auth::auth_api_server::AuthApiServer;
use tonic::transport::ServerTlsConfig;
use tonic::{Request, Response, Status};

use crate::cli::Cli;
use crate::client::{Client, Security};

pub use auth::{FAKE_AUDIT_ENTRIES, FAKE_TOKEN};
pub use backup::{fake_backup_file, SnapshotScript, FAKE_CHUNK_BYTES};
pub use hooks::FAKE_BAD_COMMIT;
pub use secrets::{SecretPuts, SecretsScript, FAKE_SEALED, FAKE_SECRET_INDEX};
pub use state::FAKE_SUSPENDED;
pub use workflow::{fake_workflow, problems_marker, WatchScript, FAKE_COMMIT, FAKE_EXECUTIONS};

/// How a fake member answers.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Success.
    Ok,
    /// `UNAVAILABLE`, as a member without a leader answers.
    Unavailable,
    /// `NOT_FOUND`.
    NotFound,
    /// Never answers.
    Hang,
    /// `UNAUTHENTICATED`, as a member answers a request without valid credentials.
    Unauthenticated,
    /// `PERMISSION_DENIED`, naming the missing permission.
    PermissionDenied,
}

/// How many keys a fake member holds.
pub fn fake_key_count() -> usize {
    fake_keys().len()
}

/// The keys a fake member in [`Mode::Ok`] lists: `app/000` .. `app/249`, `other` and
/// `secret/db` (sealed).
fn fake_keys() -> Vec<String> {
    let mut keys: Vec<String> = (0..250).map(|i| format!("app/{i:03}")).collect();
    keys.push("other".to_string());
    keys.push("secret/db".to_string());
    keys
}

struct Fake {
    mode: Mode,
    calls: Arc<AtomicUsize>,
    snapshot: SnapshotScript,
    secrets: SecretsScript,
    secret_puts: SecretPuts,
}

impl Fake {
    async fn answer<T>(&self, ok: impl FnOnce() -> T) -> Result<Response<T>, Status> {
        answer(self.mode, &self.calls, ok).await
    }
}

/// A fake member's answer in `mode`, counted in `calls`.
async fn answer<T>(
    mode: Mode,
    calls: &AtomicUsize,
    ok: impl FnOnce() -> T,
) -> Result<Response<T>, Status> {
    calls.fetch_add(1, Ordering::SeqCst);
    match mode {
        Mode::Ok => Ok(Response::new(ok())),
        Mode::Unavailable => Err(Status::unavailable("no leader; nothing was applied")),
        Mode::NotFound => Err(Status::not_found("member 9 not found")),
        Mode::Hang => std::future::pending().await,
        Mode::Unauthenticated => Err(Status::unauthenticated("no valid credentials")),
        Mode::PermissionDenied => Err(Status::permission_denied(
            "token:t1 (role viewer) may not call kv.put",
        )),
    }
}

/// The admin token a fake member's `ClusterInit` returns.
pub const FAKE_ADMIN_TOKEN: &str = "mt_admin0.fake-admin-secret";

/// A fake member's variable `key`: its own name as value, but a `secret/...` one holds
/// [`FAKE_SEALED`], written at [`FAKE_SECRET_INDEX`].
fn kv(key: &str) -> KeyValue {
    if key.starts_with("secret/") {
        return KeyValue {
            key: key.to_string(),
            value: FAKE_SEALED.as_bytes().to_vec(),
            create_index: 1,
            mod_index: FAKE_SECRET_INDEX,
        };
    }
    KeyValue {
        key: key.to_string(),
        value: key.as_bytes().to_vec(),
        create_index: 1,
        mod_index: 2,
    }
}

#[tonic::async_trait]
impl MoorApi for Fake {
    async fn cluster_status(
        &self,
        _: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        self.answer(|| ClusterStatusResponse {
            id: 1,
            peer_addr: "10.0.0.1:7402".into(),
            ..Default::default()
        })
        .await
    }
    async fn cluster_init(
        &self,
        _: Request<ClusterInitRequest>,
    ) -> Result<Response<ClusterInitResponse>, Status> {
        self.answer(|| ClusterInitResponse {
            admin_token: FAKE_ADMIN_TOKEN.into(),
        })
        .await
    }
    async fn add_member(
        &self,
        _: Request<AddMemberRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        self.answer(MembershipResponse::default).await
    }
    async fn promote_member(
        &self,
        _: Request<PromoteMemberRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        self.answer(MembershipResponse::default).await
    }
    async fn remove_member(
        &self,
        _: Request<RemoveMemberRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        self.answer(MembershipResponse::default).await
    }
    async fn upgrade_finalize(
        &self,
        _: Request<UpgradeFinalizeRequest>,
    ) -> Result<Response<UpgradeFinalizeResponse>, Status> {
        self.answer(|| UpgradeFinalizeResponse {
            previous_level: 1,
            feature_level: 2,
            log_index: 77,
        })
        .await
    }
    type SaveSnapshotStream = backup::ChunkStream;
    async fn save_snapshot(
        &self,
        _: Request<SaveSnapshotRequest>,
    ) -> Result<Response<backup::ChunkStream>, Status> {
        let script = self.snapshot;
        self.answer(move || backup::snapshot_stream(script)).await
    }
    async fn put(&self, _: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        self.answer(|| PutResponse {
            prev: None,
            log_index: 7,
        })
        .await
    }
    /// Records the request; replaces a sealed value for `secret/...` keys.
    async fn put_secret(
        &self,
        request: Request<PutSecretRequest>,
    ) -> Result<Response<PutResponse>, Status> {
        let r = request.into_inner();
        let prev = r.key.starts_with("secret/").then(|| kv(&r.key));
        self.secret_puts.lock().unwrap().push((r.key, r.value));
        self.answer(|| PutResponse {
            prev,
            log_index: FAKE_SECRET_INDEX,
        })
        .await
    }
    async fn secrets_status(
        &self,
        _: Request<SecretsStatusRequest>,
    ) -> Result<Response<SecretsStatusResponse>, Status> {
        self.answer(|| secrets::status(self.secrets)).await
    }
    async fn reseal_secrets(
        &self,
        _: Request<ResealSecretsRequest>,
    ) -> Result<Response<ResealSecretsResponse>, Status> {
        self.answer(|| secrets::reseal(self.secrets))
            .await?
            .into_inner()
            .map(Response::new)
    }
    /// Only `secret/...` keys exist.
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let key = request.into_inner().key;
        self.answer(|| GetResponse {
            kv: key.starts_with("secret/").then(|| kv(&key)),
            read_index: 7,
        })
        .await
    }
    async fn delete(&self, _: Request<DeleteRequest>) -> Result<Response<DeleteResponse>, Status> {
        self.answer(DeleteResponse::default).await
    }
    async fn compare_and_swap(
        &self,
        _: Request<CompareAndSwapRequest>,
    ) -> Result<Response<CompareAndSwapResponse>, Status> {
        self.answer(CompareAndSwapResponse::default).await
    }
    /// Pages through [`fake_keys`] like a member: by prefix, after `start_after`, at most
    /// `limit` (0: 1000).
    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let r = request.into_inner();
        let limit = if r.limit == 0 { 1000 } else { r.limit as usize };
        self.answer(move || {
            let mut matching = fake_keys()
                .into_iter()
                .filter(|k| k.starts_with(&r.prefix) && *k > r.start_after);
            let kvs: Vec<KeyValue> = matching.by_ref().take(limit).map(|k| kv(&k)).collect();
            ListResponse {
                kvs,
                more: matching.next().is_some(),
                read_index: 9,
            }
        })
        .await
    }
}

/// The `authorization` header of each request a fake member received (`None`: absent).
pub type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// A fake member serving on loopback.
pub struct FakeMember {
    pub addr: String,
    pub calls: Arc<AtomicUsize>,
    pub seen: Seen,
    pub secret_puts: SecretPuts,
}

/// Serves a fake member on a loopback port for the rest of the test; returns its address and
/// its request counter.
pub async fn fake_member(mode: Mode) -> (String, Arc<AtomicUsize>) {
    let m = serve(mode, None).await;
    (m.addr, m.calls)
}

/// Serves a fake member (`MoorApi` and `AuthApi`) on a loopback port, with TLS when `tls`
/// is given, for the rest of the test.
pub async fn serve(mode: Mode, tls: Option<ServerTlsConfig>) -> FakeMember {
    serve_with(mode, tls, SnapshotScript::Whole, SecretsScript::Rotating).await
}

/// A fake member in [`Mode::Ok`] whose backup stream goes as `script` says.
pub async fn fake_backup(script: SnapshotScript) -> FakeMember {
    serve_with(Mode::Ok, None, script, SecretsScript::Rotating).await
}

/// A fake member in [`Mode::Ok`] whose key rotation stands as `script` says.
pub async fn fake_secrets(script: SecretsScript) -> FakeMember {
    serve_with(Mode::Ok, None, SnapshotScript::Whole, script).await
}

/// [`serve`], with the backup stream `snapshot`.
async fn serve_with(
    mode: Mode,
    tls: Option<ServerTlsConfig>,
    snapshot: SnapshotScript,
    secrets: SecretsScript,
) -> FakeMember {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen: Seen = Arc::default();
    let secret_puts: SecretPuts = Arc::default();
    let record = {
        let seen = seen.clone();
        move |r: Request<()>| {
            let header = r.metadata().get("authorization");
            let header = header.map(|v| v.to_str().unwrap_or("<not ASCII>").to_string());
            seen.lock().unwrap().push(header);
            Ok(r)
        }
    };
    let fake = Fake {
        mode,
        calls: calls.clone(),
        snapshot,
        secrets,
        secret_puts: secret_puts.clone(),
    };
    let auth = auth::FakeAuth::new(mode, calls.clone());
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls).unwrap();
    }
    tokio::spawn(
        server
            .add_service(MoorApiServer::with_interceptor(fake, record.clone()))
            .add_service(AuthApiServer::with_interceptor(auth, record))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    FakeMember {
        addr,
        calls,
        seen,
        secret_puts,
    }
}

/// A plaintext client without credentials over `endpoints`, for tests against fake members.
pub fn client(endpoints: &[String], timeout: std::time::Duration) -> Client {
    Client::new(endpoints, timeout, Security::plaintext())
}

/// The command line `moorctl --endpoints ADDR --timeout-ms 5000 ARGS...` in plaintext, with
/// no config file, for a test against a fake member at `addr`.
pub fn cli_for(addr: &str, args: &[&str]) -> Cli {
    let mut full = vec![
        "moorctl",
        "--endpoints",
        addr,
        "--timeout-ms",
        "5000",
        "--insecure-plaintext",
        "--config",
        NO_CONFIG,
    ];
    full.extend_from_slice(args);
    Cli::try_parse_validated(full).unwrap()
}

/// A config file that does not exist: tests never read the user's.
pub const NO_CONFIG: &str = "/nonexistent/moorctl-test/moorctl.yaml";

/// Requests a fake member received so far.
pub fn count(calls: &AtomicUsize) -> usize {
    calls.load(Ordering::SeqCst)
}
