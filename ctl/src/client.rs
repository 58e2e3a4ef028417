//! A typed client of the Moor API over a list of endpoints, with failover. This file has the
//! retry rules and the key/value and cluster calls; `workflow_client.rs` adds the workflow
//! calls (blueprints, sites, environments, executions) and the execution watch stream.
//!
//! Any member serves any request, so a request that certainly was not applied can go to the
//! next endpoint. Which failures are "certainly not applied" is the whole point of this
//! module, because retrying a write that might have been applied can apply it twice:
//!
//! - the connection could not be made (refused, unreachable, connect timeout): the request
//!   never left this process. Retry anywhere.
//! - a member answered `UNAVAILABLE` (no leader, shutting down): the server guarantees it did
//!   not apply the request. Retry anywhere.
//! - a member answered `DEADLINE_EXCEEDED` or `CANCELLED`, our own deadline fired, or the
//!   connection broke after the request was sent: the write may or may not have been applied.
//!   A write stops here with [`RpcError::OutcomeUnknown`]; a read changes nothing, so it is
//!   retried like the cases above.
//! - any other answer is final ([`RpcError::Rejected`]).
//!
//! A status the server sent carries no source error; one tonic made up from a local transport
//! failure does. That is how the two kinds of `UNAVAILABLE` are told apart.
//!
//! Bounds: each endpoint is tried at most [`ROUNDS`] times, with a short backoff between
//! rounds, and the whole call — connects, attempts, backoff — ends by one deadline
//! (`--timeout-ms`). Connections are made lazily, once per endpoint, and dropped after a
//! transport failure so the next attempt reconnects.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{
    AddMemberRequest, ClusterInitRequest, ClusterInitResponse, ClusterStatusRequest,
    ClusterStatusResponse, CompareAndSwapRequest, CompareAndSwapResponse, DeleteRequest,
    DeleteResponse, GetRequest, GetResponse, ListRequest, ListResponse, MembershipResponse,
    PromoteMemberRequest, PutRequest, PutResponse, ReadConsistency, RemoveMemberRequest,
};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::exit::Exit;

/// How many times each endpoint is tried within one call.
pub const ROUNDS: usize = 2;

/// Largest response accepted. A `List` page holds at most [`LIST_PAGE_SIZE`] entries of at
/// most 1 MiB each with the server's default limits; tonic's default of 4 MiB would refuse a
/// page of large values.
pub(crate) const MAX_RESPONSE_BYTES: usize = 128 << 20;

/// How often an idle connection is pinged, and how long a ping may go unanswered before the
/// connection is taken for dead.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Keys asked for per `List` page (see [`MAX_RESPONSE_BYTES`]).
pub const LIST_PAGE_SIZE: u32 = 100;

/// A read attempt gets at least this long (when the deadline allows) even when the remaining
/// time is shared between many attempts.
const MIN_READ_ATTEMPT: Duration = Duration::from_secs(1);

/// Whether a request may change state: decides what may be retried after it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Which endpoints a call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Targets {
    /// Any endpoint, in the order given.
    All,
    /// Only the first endpoint (for `cluster init`: which member initialises must not depend
    /// on which one happened to be reachable).
    First,
}

/// Why a call failed.
#[derive(Debug)]
pub enum RpcError {
    /// Every attempt failed in a way that proves nothing was applied.
    Unavailable {
        /// One line per failed attempt: `endpoint: reason`.
        attempts: Vec<String>,
    },
    /// A write was sent and its outcome is unknown.
    OutcomeUnknown {
        endpoint: String,
        detail: String,
        /// The command that shows the current state.
        check: String,
    },
    /// A member gave a final answer other than success.
    Rejected { endpoint: String, status: Status },
}

impl RpcError {
    /// The process exit code this error ends moorctl with.
    pub fn exit(&self) -> Exit {
        match self {
            RpcError::Unavailable { .. } => Exit::Unavailable,
            RpcError::OutcomeUnknown { .. } => Exit::OutcomeUnknown,
            RpcError::Rejected { status, .. } => Exit::from_grpc(status.code()),
        }
    }

    /// The gRPC code a member answered with, for a rejection.
    pub fn code(&self) -> Option<Code> {
        match self {
            RpcError::Rejected { status, .. } => Some(status.code()),
            _ => None,
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Unavailable { attempts } => {
                write!(
                    f,
                    "no member could serve the request; nothing was applied, safe to retry \
                     (check that the --endpoints / MOOR_ENDPOINTS members run and that a \
                     majority of the cluster is up)"
                )?;
                for a in attempts {
                    write!(f, "\n    {a}")?;
                }
                Ok(())
            }
            RpcError::OutcomeUnknown {
                endpoint,
                detail,
                check,
            } => write!(
                f,
                "outcome unknown: {endpoint}: {detail}; the change may or may not have been \
                 applied: read the current state before retrying ({check})"
            ),
            RpcError::Rejected { endpoint, status } => {
                write!(f, "{endpoint} answered {}", describe_status(status))
            }
        }
    }
}

impl StdError for RpcError {}

/// What one failed attempt allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not applied (or a read): try again, here or elsewhere.
    Retry,
    /// A write may have been applied: stop.
    Unknown,
    /// A final answer: stop.
    Final,
}

/// Decides what a failed attempt with `status` allows, for a request of kind `access`.
pub(crate) fn classify(status: &Status, access: Access) -> Verdict {
    let from_server = status.source().is_none();
    if from_server {
        match status.code() {
            Code::Unavailable => Verdict::Retry,
            Code::DeadlineExceeded | Code::Cancelled => match access {
                Access::Read => Verdict::Retry,
                Access::Write => Verdict::Unknown,
            },
            _ => Verdict::Final,
        }
    } else if never_sent(status) {
        Verdict::Retry
    } else {
        match access {
            Access::Read => Verdict::Retry,
            Access::Write => Verdict::Unknown,
        }
    }
}

/// True when a locally made status comes from failing to connect, so the request was never
/// delivered.
fn never_sent(status: &Status) -> bool {
    let mut source = status.source();
    while let Some(err) = source {
        if err.downcast_ref::<tonic::ConnectError>().is_some() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable
            ) {
                return true;
            }
        }
        source = err.source();
    }
    false
}

/// True when tonic itself ended the call because the request's deadline passed (it enforces
/// the deadline it sends as `grpc-timeout`).
fn local_timeout(status: &Status) -> bool {
    let mut source = status.source();
    while let Some(err) = source {
        if err.downcast_ref::<tonic::TimeoutExpired>().is_some() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The canonical upper-case name of a gRPC code, as operators see it in docs and logs.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// `CODE: message`, with the local cause chain when tonic made the status up itself.
pub(crate) fn describe_status(status: &Status) -> String {
    match status.source() {
        Some(source) => format!("{}: {}", code_name(status.code()), flatten(source)),
        None if status.message().is_empty() => code_name(status.code()).to_string(),
        None => format!("{}: {}", code_name(status.code()), status.message()),
    }
}

/// An error and its sources on one line, skipping a cause whose text its parent already shows.
fn flatten(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

/// A request carrying its deadline, so the member can give up when the caller has.
pub(crate) fn request<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(timeout);
    r
}

/// One endpoint and its connection, made on first use. The channel is shared by both
/// services a member serves (`MoorApi` and `WorkflowApi`).
struct Slot {
    addr: String,
    channel: Option<Channel>,
}

/// The key/value and cluster API on a channel.
fn api(channel: Channel) -> MoorApiClient<Channel> {
    MoorApiClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
}

/// The Moor API over a list of endpoints. See the module docs for the retry rules.
pub struct Client {
    slots: Vec<Slot>,
    timeout: Duration,
}

impl Client {
    /// A client over `endpoints` (host:port, already validated); every call ends within
    /// `timeout`. Connects nothing yet.
    pub fn new(endpoints: &[String], timeout: Duration) -> Client {
        assert!(!endpoints.is_empty(), "at least one endpoint is required");
        Client {
            slots: endpoints
                .iter()
                .map(|addr| Slot {
                    addr: addr.clone(),
                    channel: None,
                })
                .collect(),
            timeout,
        }
    }

    /// The deadline of every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long a connect may take: a share of the deadline, so one unreachable endpoint
    /// cannot use the whole of it, but not so short that a slow network fails every connect.
    fn connect_timeout(&self) -> Duration {
        let share = self.timeout / (2 * self.slots.len()) as u32;
        share.clamp(Duration::from_millis(500), Duration::from_secs(3))
    }

    /// Pause between rounds over the endpoints: long enough to span a typical election.
    fn backoff(&self) -> Duration {
        (self.timeout / 10).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// The address of endpoint `i`.
    pub(crate) fn addr(&self, i: usize) -> &str {
        &self.slots[i].addr
    }

    /// How many endpoints there are.
    pub(crate) fn endpoint_count(&self) -> usize {
        self.slots.len()
    }

    /// Drops the connection to endpoint `i`, so the next call there reconnects (after a
    /// stream broke on it).
    pub(crate) fn disconnect(&mut self, i: usize) {
        self.slots[i].channel = None;
    }

    /// The connection to endpoint `i`, connecting now if there is none.
    async fn connect(&mut self, i: usize, budget: Duration) -> Result<Channel, String> {
        let slot = &mut self.slots[i];
        if let Some(c) = &slot.channel {
            return Ok(c.clone());
        }
        // Keep-alive pings find a member that stopped answering (SIGSTOP, a dead host)
        // under a long-lived watch stream, where no request deadline would.
        let endpoint = Endpoint::from_shared(format!("http://{}", slot.addr))
            .map_err(|e| format!("bad endpoint: {}", flatten(&e)))?
            .connect_timeout(budget)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        // The outer timeout also bounds name resolution, which connect_timeout does not.
        let channel = match tokio::time::timeout(budget, endpoint.connect()).await {
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => return Err(format!("cannot connect: {}", flatten(&e))),
            Err(_) => {
                return Err(format!(
                    "cannot connect: no connection within {} ms",
                    budget.as_millis()
                ))
            }
        };
        slot.channel = Some(channel.clone());
        Ok(channel)
    }

    /// Runs one request with failover. `send` makes one attempt on a channel with the given
    /// per-attempt deadline; it is called again for each retry.
    pub(crate) async fn call<T, F, Fut>(
        &mut self,
        access: Access,
        targets: Targets,
        check: &str,
        send: F,
    ) -> Result<T, RpcError>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call_from(0, access, targets, check, send)
            .await
            .map(|(answer, _)| answer)
    }

    /// [`Client::call`], trying the endpoints in order from endpoint `start` (wrapping
    /// around); also says which endpoint answered.
    pub(crate) async fn call_from<T, F, Fut>(
        &mut self,
        start: usize,
        access: Access,
        targets: Targets,
        check: &str,
        mut send: F,
    ) -> Result<(T, usize), RpcError>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.timeout;
        let n = match targets {
            Targets::All => self.slots.len(),
            Targets::First => 1,
        };
        let start = start % n;
        let total = n * ROUNDS;
        let mut attempts = Vec::new();
        for attempt in 0..total {
            let i = (start + attempt) % n;
            if attempt > 0 && attempt % n == 0 {
                let pause = self
                    .backoff()
                    .min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(pause).await;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                attempts.push(format!(
                    "gave up: --timeout-ms {} elapsed",
                    self.timeout.as_millis()
                ));
                break;
            }
            let addr = self.slots[i].addr.clone();
            let client = match self.connect(i, self.connect_timeout().min(remaining)).await {
                Ok(c) => c,
                Err(e) => {
                    attempts.push(format!("{addr}: {e}"));
                    continue;
                }
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            // A write gets all the time left: if it times out it cannot be retried anyway. A
            // read shares it with the attempts still possible, so one hung member cannot use
            // the whole deadline.
            let budget = match access {
                Access::Write => remaining,
                Access::Read => {
                    let share = remaining / (total - attempt) as u32;
                    share.max(MIN_READ_ATTEMPT.min(remaining))
                }
            };
            match tokio::time::timeout(budget, send(client, budget)).await {
                Ok(Ok(response)) => return Ok((response.into_inner(), i)),
                Ok(Err(status)) => {
                    if status.source().is_some() {
                        // A transport failure: reconnect on the next attempt here.
                        self.slots[i].channel = None;
                    }
                    let detail = if local_timeout(&status) {
                        format!("no answer within {} ms", budget.as_millis())
                    } else {
                        describe_status(&status)
                    };
                    match classify(&status, access) {
                        Verdict::Retry => attempts.push(format!("{addr}: {detail}")),
                        Verdict::Unknown => {
                            return Err(RpcError::OutcomeUnknown {
                                endpoint: addr,
                                detail,
                                check: check.to_string(),
                            })
                        }
                        Verdict::Final => {
                            return Err(RpcError::Rejected {
                                endpoint: addr,
                                status,
                            })
                        }
                    }
                }
                Err(_elapsed) => {
                    self.slots[i].channel = None;
                    let detail = format!("no answer within {} ms", budget.as_millis());
                    match access {
                        Access::Read => attempts.push(format!("{addr}: {detail}")),
                        Access::Write => {
                            return Err(RpcError::OutcomeUnknown {
                                endpoint: addr,
                                detail,
                                check: check.to_string(),
                            })
                        }
                    }
                }
            }
        }
        Err(RpcError::Unavailable { attempts })
    }

    /// The state of the member answering and the members it knows.
    pub async fn cluster_status(&mut self) -> Result<ClusterStatusResponse, RpcError> {
        self.call(Access::Read, Targets::All, "", |ch, t| async move {
            api(ch)
                .cluster_status(request(ClusterStatusRequest {}, t))
                .await
        })
        .await
    }

    /// Initialises a cluster on the first endpoint (only there, see [`Targets::First`]).
    pub async fn cluster_init(
        &mut self,
        members: std::collections::HashMap<u64, String>,
    ) -> Result<ClusterInitResponse, RpcError> {
        let msg = ClusterInitRequest { members };
        self.call(
            Access::Write,
            Targets::First,
            "moorctl cluster status",
            move |ch, t| {
                let r = request(msg.clone(), t);
                async move { api(ch).cluster_init(r).await }
            },
        )
        .await
    }

    /// Adds a learner; with `wait_caught_up`, returns once it has caught up.
    pub async fn add_member(
        &mut self,
        id: u64,
        addr: String,
        wait_caught_up: bool,
    ) -> Result<MembershipResponse, RpcError> {
        let msg = AddMemberRequest {
            id,
            addr,
            wait_caught_up,
        };
        self.call(
            Access::Write,
            Targets::All,
            "moorctl cluster status",
            move |ch, t| {
                let r = request(msg.clone(), t);
                async move { api(ch).add_member(r).await }
            },
        )
        .await
    }

    /// Promotes a learner to a voter.
    pub async fn promote_member(&mut self, id: u64) -> Result<MembershipResponse, RpcError> {
        self.call(
            Access::Write,
            Targets::All,
            "moorctl cluster status",
            move |ch, t| async move {
                api(ch)
                    .promote_member(request(PromoteMemberRequest { id }, t))
                    .await
            },
        )
        .await
    }

    /// Removes a member.
    pub async fn remove_member(&mut self, id: u64) -> Result<MembershipResponse, RpcError> {
        self.call(
            Access::Write,
            Targets::All,
            "moorctl cluster status",
            move |ch, t| async move {
                api(ch)
                    .remove_member(request(RemoveMemberRequest { id }, t))
                    .await
            },
        )
        .await
    }

    /// Sets `key` to `value`.
    pub async fn put(&mut self, key: String, value: Vec<u8>) -> Result<PutResponse, RpcError> {
        let check = format!("moorctl var get {key}");
        let msg = PutRequest { key, value };
        self.call(Access::Write, Targets::All, &check, move |ch, t| {
            let r = request(msg.clone(), t);
            async move { api(ch).put(r).await }
        })
        .await
    }

    /// Reads `key`.
    pub async fn get(
        &mut self,
        key: String,
        consistency: ReadConsistency,
    ) -> Result<GetResponse, RpcError> {
        let msg = GetRequest {
            key,
            consistency: consistency.into(),
        };
        self.call(Access::Read, Targets::All, "", move |ch, t| {
            let r = request(msg.clone(), t);
            async move { api(ch).get(r).await }
        })
        .await
    }

    /// Deletes `key`.
    pub async fn delete(&mut self, key: String) -> Result<DeleteResponse, RpcError> {
        let check = format!("moorctl var get {key}");
        let msg = DeleteRequest { key };
        self.call(Access::Write, Targets::All, &check, move |ch, t| {
            let r = request(msg.clone(), t);
            async move { api(ch).delete(r).await }
        })
        .await
    }

    /// Replaces (or deletes, `new_value: None`) `key` if it holds `expected` (`None`: absent).
    pub async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new_value: Option<Vec<u8>>,
    ) -> Result<CompareAndSwapResponse, RpcError> {
        let check = format!("moorctl var get {key}");
        let msg = CompareAndSwapRequest {
            key,
            expected,
            new_value,
        };
        self.call(Access::Write, Targets::All, &check, move |ch, t| {
            let r = request(msg.clone(), t);
            async move { api(ch).compare_and_swap(r).await }
        })
        .await
    }

    /// One page of keys under `prefix` after `start_after`.
    pub async fn list_page(
        &mut self,
        prefix: String,
        start_after: String,
        limit: u32,
        consistency: ReadConsistency,
    ) -> Result<ListResponse, RpcError> {
        let msg = ListRequest {
            prefix,
            consistency: consistency.into(),
            limit,
            start_after,
        };
        self.call(Access::Read, Targets::All, "", move |ch, t| {
            let r = request(msg.clone(), t);
            async move { api(ch).list(r).await }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{count, fake_member, Mode};
    use std::sync::Arc;

    fn local(code: Code, source: impl StdError + Send + Sync + 'static) -> Status {
        let mut s = Status::new(code, "made up locally");
        s.set_source(Arc::new(source));
        s
    }

    #[test]
    fn server_answers() {
        for access in [Access::Read, Access::Write] {
            assert_eq!(
                classify(&Status::unavailable("no leader"), access),
                Verdict::Retry
            );
            for code in [
                Code::InvalidArgument,
                Code::FailedPrecondition,
                Code::NotFound,
                Code::Internal,
                Code::Unimplemented,
            ] {
                assert_eq!(classify(&Status::new(code, "x"), access), Verdict::Final);
            }
        }
        let timeout = Status::deadline_exceeded("leader did not answer");
        assert_eq!(classify(&timeout, Access::Write), Verdict::Unknown);
        assert_eq!(classify(&timeout, Access::Read), Verdict::Retry);
        let cancelled = Status::cancelled("timeout expired");
        assert_eq!(classify(&cancelled, Access::Write), Verdict::Unknown);
    }

    #[test]
    fn local_transport_failures() {
        let refused = local(
            Code::Unavailable,
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(classify(&refused, Access::Write), Verdict::Retry);

        // The connection broke after the request went out: tonic says UNAVAILABLE, but the
        // member may have applied it.
        let reset = local(
            Code::Unavailable,
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        );
        assert_eq!(classify(&reset, Access::Write), Verdict::Unknown);
        assert_eq!(classify(&reset, Access::Read), Verdict::Retry);

        let protocol = local(Code::Internal, std::io::Error::other("h2 protocol error"));
        assert_eq!(classify(&protocol, Access::Write), Verdict::Unknown);
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let e = RpcError::Unavailable {
            attempts: vec!["a:1: cannot connect: connection refused".into()],
        };
        let text = e.to_string();
        assert!(
            text.contains("nothing was applied, safe to retry"),
            "{text}"
        );
        assert!(text.contains("\n    a:1: cannot connect"), "{text}");
        assert_eq!(e.exit(), Exit::Unavailable);

        let e = RpcError::OutcomeUnknown {
            endpoint: "a:1".into(),
            detail: "no answer within 10000 ms".into(),
            check: "moorctl var get k".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("read the current state before retrying"),
            "{text}"
        );
        assert!(text.contains("moorctl var get k"), "{text}");
        assert_eq!(e.exit(), Exit::OutcomeUnknown);

        let e = RpcError::Rejected {
            endpoint: "a:1".into(),
            status: Status::not_found("member 9 not found"),
        };
        assert_eq!(e.to_string(), "a:1 answered NOT_FOUND: member 9 not found");
        assert_eq!(e.exit(), Exit::NotFound);
        assert_eq!(e.code(), Some(Code::NotFound));
    }

    #[tokio::test]
    async fn unreachable_endpoints_are_unavailable() {
        // Ports that were just free on loopback: every connect is refused at once.
        let free_port = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("127.0.0.1:{}", l.local_addr().unwrap().port())
        };
        let endpoints = [free_port(), free_port()];
        let mut client = Client::new(&endpoints, Duration::from_millis(5_000));
        let err = client.put("k".into(), b"v".to_vec()).await.unwrap_err();
        let RpcError::Unavailable { attempts } = &err else {
            panic!("expected unavailable, got {err}");
        };
        assert_eq!(attempts.len(), 2 * ROUNDS, "{err}");
        for (i, a) in attempts.iter().enumerate() {
            let expected = format!("{}: cannot connect", endpoints[i % 2]);
            assert!(a.starts_with(&expected), "{err}");
        }
        assert_eq!(err.exit(), Exit::Unavailable);
    }

    #[tokio::test]
    async fn server_unavailable_fails_over() {
        let (down, down_calls) = fake_member(Mode::Unavailable).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = Client::new(&[down, up], Duration::from_secs(10));
        let r = client.put("k".into(), b"v".to_vec()).await.unwrap();
        assert_eq!(r.log_index, 7);
        assert_eq!((count(&down_calls), count(&up_calls)), (1, 1));
    }

    #[tokio::test]
    async fn all_unavailable_tries_each_endpoint_twice() {
        let (a, a_calls) = fake_member(Mode::Unavailable).await;
        let (b, b_calls) = fake_member(Mode::Unavailable).await;
        let mut client = Client::new(&[a, b], Duration::from_secs(10));
        let err = client.put("k".into(), b"v".to_vec()).await.unwrap_err();
        assert!(matches!(err, RpcError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("UNAVAILABLE: no leader"), "{err}");
        assert_eq!((count(&a_calls), count(&b_calls)), (ROUNDS, ROUNDS));
    }

    #[tokio::test]
    async fn a_write_that_times_out_is_not_retried() {
        let (hung, hung_calls) = fake_member(Mode::Hang).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = Client::new(&[hung, up], Duration::from_millis(1_500));
        let err = client.put("k".into(), b"v".to_vec()).await.unwrap_err();
        assert!(matches!(err, RpcError::OutcomeUnknown { .. }), "{err}");
        assert!(err.to_string().contains("no answer within"), "{err}");
        assert_eq!(err.exit(), Exit::OutcomeUnknown);
        assert_eq!((count(&hung_calls), count(&up_calls)), (1, 0));
    }

    #[tokio::test]
    async fn a_read_that_times_out_moves_on() {
        let (hung, _) = fake_member(Mode::Hang).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = Client::new(&[hung, up], Duration::from_secs(10));
        let r = client
            .get("k".into(), ReadConsistency::Linearizable)
            .await
            .unwrap();
        assert_eq!(r.read_index, 7);
        assert_eq!(count(&up_calls), 1);
    }

    #[tokio::test]
    async fn a_final_answer_is_not_retried() {
        let (nf, nf_calls) = fake_member(Mode::NotFound).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = Client::new(&[nf, up], Duration::from_secs(10));
        let err = client.put("k".into(), b"v".to_vec()).await.unwrap_err();
        assert_eq!(err.exit(), Exit::NotFound, "{err}");
        assert_eq!((count(&nf_calls), count(&up_calls)), (1, 0));
    }

    #[tokio::test]
    async fn init_goes_to_the_first_endpoint_only() {
        let (down, down_calls) = fake_member(Mode::Unavailable).await;
        let (up, up_calls) = fake_member(Mode::Ok).await;
        let mut client = Client::new(&[down, up], Duration::from_secs(10));
        let err = client
            .cluster_init(std::collections::HashMap::new())
            .await
            .unwrap_err();
        assert!(matches!(err, RpcError::Unavailable { .. }), "{err}");
        assert_eq!((count(&down_calls), count(&up_calls)), (ROUNDS, 0));
    }
}
