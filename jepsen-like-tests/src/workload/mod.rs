//! Workloads: concurrent clients that drive a cluster over its public gRPC APIs and record
//! every call in a [`History`] as an invocation and a completion (ok, fail or unknown).
//!
//! - [`register`]: per-key read / write / compare-and-swap on the variables namespace.
//! - [`set`]: unique adds, one final read of the whole set after the faults heal.
//! - [`rollout`]: a bulk rollout (one install per environment) against `moor-sitesim`.
//!
//! An outcome is `Fail` only when the error proves nothing was applied (see [`classify`]); a
//! timed-out or cut-off write is `Unknown` and never assumed absent.

pub mod register;
pub mod rollout;
pub mod set;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use moor_proto::api::moor_api_client::MoorApiClient;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::history::Outcome;
use crate::security::{connect, Security};

/// The member addresses clients may use (the runner updates them after membership changes)
/// and how to reach them.
#[derive(Clone)]
pub struct Endpoints {
    inner: Arc<RwLock<Vec<String>>>,
    security: Security,
}

impl Endpoints {
    pub fn new(addrs: Vec<String>, security: Security) -> Self {
        Endpoints {
            inner: Arc::new(RwLock::new(addrs)),
            security,
        }
    }

    /// How the members are reached (TLS and the admin certificate, or plaintext).
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// A fresh channel to `addr` (see [`channel`]).
    pub fn channel(&self, addr: &str) -> Channel {
        channel(addr, &self.security)
    }

    /// A fresh key/value client of `addr`.
    pub fn kv_client(&self, addr: &str) -> MoorApiClient<Channel> {
        MoorApiClient::new(self.channel(addr))
    }

    pub fn set(&self, addrs: Vec<String>) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = addrs;
    }

    /// The `i`-th address (wrapping), or None when there is none.
    pub fn pick(&self, i: u64) -> Option<String> {
        let addrs = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if addrs.is_empty() {
            return None;
        }
        Some(addrs[(i % addrs.len() as u64) as usize].clone())
    }
}

/// A flag the runner raises to stop the clients.
#[derive(Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Which logical process a client is and which member it talks to. After a failure the
/// client moves to the next member; after an unknown outcome it also becomes a new process
/// (as Jepsen does): the unknown op may still take effect later, so the old process is never
/// done with it and must not issue another op.
pub struct ClientSlot {
    pub process: u64,
    pub member: u64,
    stride: u64,
}

impl ClientSlot {
    /// Client `index` of `clients`, numbering its processes from `first_process`.
    pub fn new(first_process: u64, index: usize, clients: usize) -> Self {
        ClientSlot {
            process: first_process + index as u64,
            member: index as u64,
            stride: clients.max(1) as u64,
        }
    }

    pub fn after(&mut self, outcome: Outcome) {
        if outcome != Outcome::Ok {
            self.member += 1;
        }
        if outcome == Outcome::Unknown {
            self.process += self.stride;
        }
    }
}

/// Waits for client tasks and sums the operations they issued (a panicked client counts 0;
/// its ops stay in the history as never completed).
pub async fn join_counts(tasks: Vec<tokio::task::JoinHandle<u64>>) -> u64 {
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total
}

/// A fresh channel to `addr` (one per client process, so a cut connection does not poison
/// the others).
pub fn channel(addr: &str, security: &Security) -> Channel {
    connect(addr, security)
        .connect_timeout(Duration::from_millis(500))
        .connect_lazy()
}

/// One client process's connections, one per member address. A connection that saw a
/// failure is dropped, so the next call opens a fresh one (a cut connection is not reused).
pub struct Channels {
    by_addr: std::collections::HashMap<String, Channel>,
    security: Security,
}

impl Channels {
    /// No connection yet; new ones are made as `endpoints` says.
    pub fn new(endpoints: &Endpoints) -> Self {
        Channels {
            by_addr: Default::default(),
            security: endpoints.security().clone(),
        }
    }

    pub fn get(&mut self, addr: &str) -> Channel {
        let security = &self.security;
        self.by_addr
            .entry(addr.to_string())
            .or_insert_with(|| channel(addr, security))
            .clone()
    }

    pub fn forget(&mut self, addr: &str) {
        self.by_addr.remove(addr);
    }
}

/// What a failed call means for its effect.
///
/// - `UNAVAILABLE` from a member carries an `ApiError` message (node/src/errors.rs) that says
///   "nothing was applied" (no leader, not leader, shutting down): `Fail`.
/// - `UNAVAILABLE` from the transport is `Fail` only when the connection could not be made
///   at all (refused, unreachable); a reset after sending is `Unknown`.
/// - Invalid argument, failed precondition, not found: the request was refused: `Fail`.
/// - Everything else (deadline exceeded, cancelled, internal, unknown): `Unknown`.
pub fn classify(status: &Status) -> Outcome {
    match status.code() {
        Code::Unavailable => {
            let m = status.message();
            let refused_by_member =
                m.contains("nothing was applied") || m.contains("retry on another member");
            if refused_by_member || is_connect_failure(status) {
                Outcome::Fail
            } else {
                Outcome::Unknown
            }
        }
        Code::InvalidArgument | Code::FailedPrecondition | Code::NotFound | Code::AlreadyExists => {
            Outcome::Fail
        }
        _ => Outcome::Unknown,
    }
}

/// True when the connection could not be made, so the request was certainly not delivered.
pub fn is_connect_failure(status: &Status) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(err) = source {
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
    // tonic reports a connect timeout or refusal with this text when the io error is hidden.
    let text = format!("{status:?}");
    text.contains("Connection refused") || text.contains("tcp connect error")
}

/// Runs `call` with a client-side deadline; a timeout becomes `DEADLINE_EXCEEDED` (unknown).
pub async fn with_deadline<T, F>(deadline: Duration, call: F) -> Result<T, Status>
where
    F: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
{
    match tokio::time::timeout(deadline, call).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(s),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "client deadline of {deadline:?} passed; the outcome is unknown"
        ))),
    }
}

/// A request with the gRPC deadline header set too, so the member gives up at the same time.
pub fn request<T>(msg: T, deadline: Duration) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(deadline);
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_proof_of_no_effect_is_a_failure() {
        let no_leader = Status::unavailable(
            "no leader is elected right now (election); nothing was applied, retry shortly",
        );
        assert_eq!(classify(&no_leader), Outcome::Fail);
        assert_eq!(
            classify(&Status::unavailable("connection reset")),
            Outcome::Unknown
        );
        assert_eq!(
            classify(&Status::deadline_exceeded("outcome unknown")),
            Outcome::Unknown
        );
        assert_eq!(classify(&Status::cancelled("x")), Outcome::Unknown);
        assert_eq!(
            classify(&Status::invalid_argument("bad key")),
            Outcome::Fail
        );
    }
}
