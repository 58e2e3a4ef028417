//! Handing requests to the leader from a member that does not lead.
//!
//! Writes are gathered: the writes this member's clients send while earlier ones are on the
//! wire go to the leader together, in one `ForwardWrites` call, so the leader proposes them
//! in one entry and the peer link carries one request for many. Nothing waits on a timer: a
//! lone write leaves at once, and batches form only while others are in flight (like the
//! leader's proposer). Other requests (read-index, membership) go one by one (`Forward`).
//!
//! A leader of an older release has no `ForwardWrites` and answers UNIMPLEMENTED: the batch's
//! writes are then forwarded one by one.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use crate::errors::{is_connect_failure, ApiError};
use crate::raft::member::{LeaderReply, LeaderRequest};
use crate::raft::network::{PeerChannels, MAX_PEER_MESSAGE_BYTES};
use crate::raft::types::MemberId;
use crate::telemetry;
use moor_domain::codec;

/// Most writes in one `ForwardWrites` call.
const MAX_BATCH: usize = 256;
/// Most encoded bytes of the writes in one call (well under the peer message limit).
const MAX_BATCH_BYTES: usize = MAX_PEER_MESSAGE_BYTES / 4;
/// Most `ForwardWrites` calls in flight at once.
const MAX_IN_FLIGHT: usize = 8;
/// Writes waiting for a call (back-pressure beyond this).
const QUEUE: usize = 4096;

/// The body of a `ForwardWrites` call: each write's `LeaderRequest` encoded on its own, so
/// one the leader cannot read fails alone.
#[derive(Serialize, Deserialize)]
pub struct ForwardedWrites(pub Vec<serde_bytes::ByteBuf>);

/// The answer: one result per write, in order.
pub type ForwardedReplies = Vec<Result<LeaderReply, ApiError>>;

/// One write waiting to be handed over.
struct Pending {
    leader: MemberId,
    addr: String,
    /// The encoded `LeaderRequest::Write`.
    request: Vec<u8>,
    deadline: Instant,
    /// The caller's trace context (`traceparent`), when traces are exported.
    trace: Option<String>,
    reply: oneshot::Sender<Result<LeaderReply, ApiError>>,
}

/// Handle to the gathering task.
#[derive(Clone)]
pub struct Forwarder {
    tx: mpsc::Sender<Pending>,
    channels: PeerChannels,
}

impl Forwarder {
    /// Starts the gathering task; calls go over `channels`.
    pub fn start(channels: PeerChannels) -> Forwarder {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(rx, channels.clone()));
        Forwarder { tx, channels }
    }

    /// Hands `request` to the leader `leader` at `addr`, answering by `deadline`: writes
    /// together with the others waiting, anything else on its own.
    pub async fn forward(
        &self,
        leader: MemberId,
        addr: &str,
        request: &LeaderRequest,
        deadline: std::time::Instant,
    ) -> Result<LeaderReply, ApiError> {
        let deadline = Instant::from_std(deadline);
        let encoded = codec::encode("forwarded request", request)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let trace = telemetry::current_traceparent();
        if !matches!(request, LeaderRequest::Write(_)) {
            let changes_state = request.changes_state();
            return forward_one(
                &self.channels,
                Leader { id: leader, addr },
                encoded,
                changes_state,
                deadline,
                trace.as_deref(),
            )
            .await;
        }
        let (reply, rx) = oneshot::channel();
        let pending = Pending {
            leader,
            addr: addr.to_string(),
            request: encoded,
            deadline,
            trace,
            reply,
        };
        if self.tx.send(pending).await.is_err() {
            // The task is gone only when the runtime shuts down: nothing was sent.
            return Err(ApiError::Unavailable {
                detail: "this member is shutting down".into(),
            });
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => Err(ApiError::OutcomeUnknown {
                detail: format!(
                    "the leader (member {leader}) did not answer in time; the write may have \
                     been committed"
                ),
            }),
        }
    }
}

async fn run(mut rx: mpsc::Receiver<Pending>, channels: PeerChannels) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for room first: while calls are in flight, more writes queue up.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = first.request.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes += p.request.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let channels = channels.clone();
        tokio::spawn(async move {
            for group in by_leader(batch) {
                send(&channels, group).await;
            }
            drop(permit);
        });
    }
}

/// Splits `batch` into runs of the same leader, in order (a batch spans a leader change
/// only rarely).
fn by_leader(batch: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut groups: Vec<Vec<Pending>> = Vec::new();
    for p in batch {
        match groups.last_mut() {
            Some(g)
                if g.first()
                    .is_some_and(|f| f.leader == p.leader && f.addr == p.addr) =>
            {
                g.push(p)
            }
            _ => groups.push(vec![p]),
        }
    }
    groups
}

/// Sends one group of writes to their leader and answers each.
async fn send(channels: &PeerChannels, group: Vec<Pending>) {
    let Some((leader, addr)) = group.first().map(|p| (p.leader, p.addr.clone())) else {
        return;
    };
    let to = Leader {
        id: leader,
        addr: &addr,
    };
    if group.len() == 1 {
        let Some(p) = group.into_iter().next() else {
            return;
        };
        let result = forward_one(
            channels,
            to,
            p.request,
            true,
            p.deadline,
            p.trace.as_deref(),
        )
        .await;
        let _ = p.reply.send(result);
        return;
    }
    let deadline = group
        .iter()
        .map(|p| p.deadline)
        .max()
        .unwrap_or_else(Instant::now);
    let traces: Vec<Option<String>> = group.iter().map(|p| p.trace.clone()).collect();
    let (requests, replies): (Vec<_>, Vec<_>) = group
        .into_iter()
        .map(|p| (serde_bytes::ByteBuf::from(p.request), (p.reply, p.deadline)))
        .unzip();
    let body = ForwardedWrites(requests);
    let header = telemetry::batch_header(traces.iter().map(|t| t.as_deref()));
    match call_batch(channels, leader, &addr, &body, deadline, header).await {
        Ok(results) if results.len() == replies.len() => {
            for ((reply, _), result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Ok(results) => {
            let e = ApiError::OutcomeUnknown {
                detail: format!(
                    "the leader (member {leader}) answered {} results for {} writes",
                    results.len(),
                    replies.len()
                ),
            };
            for (reply, _) in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(BatchError::Unsupported) => {
            // A leader of an older release: one by one, as it knows.
            for (((reply, deadline), request), trace) in replies.into_iter().zip(body.0).zip(traces)
            {
                let result = forward_one(
                    channels,
                    to,
                    request.into_vec(),
                    true,
                    deadline,
                    trace.as_deref(),
                )
                .await;
                let _ = reply.send(result);
            }
        }
        Err(BatchError::Failed(e)) => {
            for (reply, _) in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Why a `ForwardWrites` call gave no results.
enum BatchError {
    /// The leader has no such call (an older release).
    Unsupported,
    /// Every write of the call fails with this.
    Failed(ApiError),
}

async fn call_batch(
    channels: &PeerChannels,
    leader: MemberId,
    addr: &str,
    body: &ForwardedWrites,
    deadline: Instant,
    traces: Option<String>,
) -> Result<ForwardedReplies, BatchError> {
    let data = codec::encode("forwarded writes", body)
        .map_err(|e| BatchError::Failed(ApiError::Internal(e.to_string())))?;
    let mut client = channels
        .client(leader, addr)
        .map_err(|e| BatchError::Failed(unreachable_leader(addr, &e)))?;
    let mut req = tonic::Request::new(channels.payload(data));
    req.set_timeout(deadline.saturating_duration_since(Instant::now()));
    if let Some(value) = traces.and_then(|t| t.parse().ok()) {
        req.metadata_mut().insert(telemetry::BATCH_HEADER, value);
    }
    match client.forward_writes(req).await {
        Ok(resp) => codec::decode::<ForwardedReplies>("forwarded replies", &resp.into_inner().data)
            .map_err(|e| {
                BatchError::Failed(ApiError::OutcomeUnknown {
                    detail: format!("the leader's answer could not be read: {e}"),
                })
            }),
        Err(status) if status.code() == tonic::Code::Unimplemented => Err(BatchError::Unsupported),
        Err(status) => Err(BatchError::Failed(status_error(
            leader, addr, &status, true,
        ))),
    }
}

/// The leader a request goes to.
#[derive(Clone, Copy)]
pub struct Leader<'a> {
    pub id: MemberId,
    pub addr: &'a str,
}

/// Hands one encoded request to the leader (`Forward`); `changes_state` says whether a lost
/// answer leaves its outcome unknown; `trace` is the caller's `traceparent`, if traced.
pub async fn forward_one(
    channels: &PeerChannels,
    to: Leader<'_>,
    request: Vec<u8>,
    changes_state: bool,
    deadline: Instant,
    trace: Option<&str>,
) -> Result<LeaderReply, ApiError> {
    let Leader { id: leader, addr } = to;
    let mut client = channels
        .client(leader, addr)
        .map_err(|e| unreachable_leader(addr, &e))?;
    let mut req = tonic::Request::new(channels.payload(request));
    req.set_timeout(deadline.saturating_duration_since(Instant::now()));
    if let Some(value) = trace.and_then(|t| t.parse().ok()) {
        req.metadata_mut().insert(telemetry::TRACEPARENT, value);
    }
    match client.forward(req).await {
        Ok(resp) => codec::decode::<Result<LeaderReply, ApiError>>(
            "forwarded reply",
            &resp.into_inner().data,
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?,
        Err(status) => Err(status_error(leader, addr, &status, changes_state)),
    }
}

fn unreachable_leader(addr: &str, e: &tonic::transport::Error) -> ApiError {
    ApiError::Unavailable {
        detail: format!("cannot reach leader at {addr}: {e}"),
    }
}

/// What a failed call to the leader means for the request(s) it carried.
fn status_error(
    leader: MemberId,
    addr: &str,
    status: &tonic::Status,
    changes_state: bool,
) -> ApiError {
    if is_connect_failure(status) {
        // Never delivered: as good as "no leader", the caller waits for a new one.
        return ApiError::NoLeader {
            detail: format!("leader at {addr} refused the connection"),
        };
    }
    if status.code() == tonic::Code::InvalidArgument {
        // The leader could not decode the request, so it ran nothing: a leader of an older
        // release, asked for something it does not know.
        return ApiError::FailedPrecondition {
            reason: format!(
                "the leader (member {leader}) could not read this request: {}. It probably \
                 runs an older release: finish the rolling upgrade first",
                status.message()
            ),
        };
    }
    let detail = format!("the leader at {addr} did not answer: {}", status.message());
    if changes_state {
        ApiError::OutcomeUnknown { detail }
    } else {
        ApiError::Unavailable { detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::features::PeerLevels;
    use crate::raft::identity::IdentityCell;
    use crate::raft::removal::Removal;
    use moor_domain::command::{Command, CommandResult};
    use moor_domain::kv::KvCommand;
    use moor_proto::raft::raft_peer_server::{RaftPeer, RaftPeerServer};
    use moor_proto::raft::RaftPayload;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tonic::{Request, Response, Status};

    fn pending(leader: MemberId, addr: &str) -> Pending {
        Pending {
            leader,
            addr: addr.into(),
            request: vec![],
            deadline: Instant::now(),
            trace: None,
            reply: oneshot::channel().0,
        }
    }

    #[test]
    fn a_batch_is_split_where_the_leader_changes_and_keeps_its_order() {
        let groups = by_leader(vec![
            pending(1, "a"),
            pending(1, "a"),
            pending(2, "b"),
            pending(1, "a"),
        ]);
        let shape: Vec<(MemberId, usize)> = groups.iter().map(|g| (g[0].leader, g.len())).collect();
        assert_eq!(shape, [(1, 2), (2, 1), (1, 1)]);
    }

    /// A leader that answers each write `k<i>` with log index i; with `batch` false it is
    /// an older release without `ForwardWrites`.
    struct FakeLeader {
        batch: bool,
        batch_calls: Arc<AtomicUsize>,
        single_calls: Arc<AtomicUsize>,
    }

    fn answer(encoded: &[u8]) -> Result<LeaderReply, ApiError> {
        match codec::decode::<LeaderRequest>("test write", encoded) {
            Ok(LeaderRequest::Write(c)) => match *c {
                Command::Kv(KvCommand::Put { key, .. }) => Ok(LeaderReply::Written {
                    log_index: key[1..].parse().unwrap_or(0),
                    result: CommandResult::Empty,
                }),
                _ => Err(ApiError::Internal("not a put".into())),
            },
            _ => Err(ApiError::Internal("not a write".into())),
        }
    }

    fn payload<T: Serialize>(value: &T) -> Response<RaftPayload> {
        Response::new(RaftPayload {
            data: codec::encode("test reply", value).unwrap_or_default(),
            cluster_id: String::new(),
            feature_level: 0,
        })
    }

    #[tonic::async_trait]
    impl RaftPeer for FakeLeader {
        async fn append_entries(
            &self,
            _: Request<RaftPayload>,
        ) -> Result<Response<RaftPayload>, Status> {
            Err(Status::unimplemented("test"))
        }
        async fn vote(&self, _: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
            Err(Status::unimplemented("test"))
        }
        async fn install_snapshot(
            &self,
            _: Request<RaftPayload>,
        ) -> Result<Response<RaftPayload>, Status> {
            Err(Status::unimplemented("test"))
        }
        async fn forward(
            &self,
            request: Request<RaftPayload>,
        ) -> Result<Response<RaftPayload>, Status> {
            self.single_calls.fetch_add(1, Ordering::SeqCst);
            Ok(payload(&answer(&request.into_inner().data)))
        }
        async fn forward_writes(
            &self,
            request: Request<RaftPayload>,
        ) -> Result<Response<RaftPayload>, Status> {
            if !self.batch {
                return Err(Status::unimplemented("an older release"));
            }
            self.batch_calls.fetch_add(1, Ordering::SeqCst);
            let body: ForwardedWrites = codec::decode("test batch", &request.into_inner().data)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            let replies: ForwardedReplies = body.0.iter().map(|w| answer(w)).collect();
            Ok(payload(&replies))
        }
    }

    /// Sends writes `k0..k<n>` as one group to a fake leader; returns each write's log
    /// index and the leader's (batch, single) call counts.
    async fn send_group(batch: bool, n: u64) -> (Vec<u64>, usize, usize) {
        let batch_calls = Arc::new(AtomicUsize::new(0));
        let single_calls = Arc::new(AtomicUsize::new(0));
        let fake = FakeLeader {
            batch,
            batch_calls: batch_calls.clone(),
            single_calls: single_calls.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(RaftPeerServer::new(fake))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let channels = PeerChannels::new(
            None,
            IdentityCell::default(),
            Arc::new(Removal::default()),
            PeerLevels::default(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut group = Vec::new();
        let mut answers = Vec::new();
        for i in 0..n {
            let request = LeaderRequest::Write(Box::new(Command::Kv(KvCommand::Put {
                key: format!("k{i}"),
                value: vec![],
            })));
            let (reply, rx) = oneshot::channel();
            group.push(Pending {
                leader: 1,
                addr: addr.clone(),
                request: codec::encode("test", &request).unwrap(),
                deadline,
                trace: None,
                reply,
            });
            answers.push(rx);
        }
        send(&channels, group).await;
        let mut indexes = Vec::new();
        for rx in answers {
            match rx.await.unwrap() {
                Ok(LeaderReply::Written { log_index, .. }) => indexes.push(log_index),
                other => panic!("unexpected answer {other:?}"),
            }
        }
        (
            indexes,
            batch_calls.load(Ordering::SeqCst),
            single_calls.load(Ordering::SeqCst),
        )
    }

    #[tokio::test]
    async fn a_group_goes_in_one_call_and_each_write_gets_its_own_answer() {
        let (indexes, batches, singles) = send_group(true, 5).await;
        assert_eq!(indexes, [0, 1, 2, 3, 4]);
        assert_eq!((batches, singles), (1, 0));
    }

    #[tokio::test]
    async fn an_older_leader_gets_the_writes_one_by_one() {
        let (indexes, batches, singles) = send_group(false, 5).await;
        assert_eq!(indexes, [0, 1, 2, 3, 4]);
        assert_eq!((batches, singles), (0, 5));
    }
}
