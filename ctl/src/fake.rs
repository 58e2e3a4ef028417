//! A fake member for tests: serves the client API on a loopback port with scripted answers,
//! so the failover client and the commands are tested against real tonic transport errors
//! and statuses, without a cluster.
//!
//! It implements the whole `MoorApi` trait, so a new RPC in api.proto needs a line here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use moor_proto::api::moor_api_server::{MoorApi, MoorApiServer};
use moor_proto::api::*;
use tonic::{Request, Response, Status};

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
}

/// How many keys a fake member holds.
pub fn fake_key_count() -> usize {
    fake_keys().len()
}

/// The keys a fake member in [`Mode::Ok`] lists: `app/000` .. `app/249` and `other`.
fn fake_keys() -> Vec<String> {
    let mut keys: Vec<String> = (0..250).map(|i| format!("app/{i:03}")).collect();
    keys.push("other".to_string());
    keys
}

struct Fake {
    mode: Mode,
    calls: Arc<AtomicUsize>,
}

impl Fake {
    async fn answer<T>(&self, ok: impl FnOnce() -> T) -> Result<Response<T>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.mode {
            Mode::Ok => Ok(Response::new(ok())),
            Mode::Unavailable => Err(Status::unavailable("no leader; nothing was applied")),
            Mode::NotFound => Err(Status::not_found("member 9 not found")),
            Mode::Hang => std::future::pending().await,
        }
    }
}

fn kv(key: &str) -> KeyValue {
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
        self.answer(ClusterStatusResponse::default).await
    }
    async fn cluster_init(
        &self,
        _: Request<ClusterInitRequest>,
    ) -> Result<Response<ClusterInitResponse>, Status> {
        self.answer(|| ClusterInitResponse {}).await
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
    async fn put(&self, _: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        self.answer(|| PutResponse {
            prev: None,
            log_index: 7,
        })
        .await
    }
    async fn get(&self, _: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        self.answer(|| GetResponse {
            kv: None,
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

/// Serves a fake member on a loopback port for the rest of the test; returns its address and
/// its request counter.
pub async fn fake_member(mode: Mode) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let calls = Arc::new(AtomicUsize::new(0));
    let fake = Fake {
        mode,
        calls: calls.clone(),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MoorApiServer::new(fake))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (addr, calls)
}

/// Requests a fake member received so far.
pub fn count(calls: &AtomicUsize) -> usize {
    calls.load(Ordering::SeqCst)
}
