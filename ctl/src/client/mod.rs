//! A typed client of a member's gRPC services over a list of endpoints, with failover.
//!
//! Any member serves any request, so a request that certainly was not applied can go to the
//! next endpoint. Which failures are "certainly not applied" is the whole point of this
//! folder, because retrying a write that might have been applied can apply it twice:
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
//! `UNAUTHENTICATED` and `PERMISSION_DENIED` are final too: every member checks the same
//! credentials against the same replicated roles, so another member would say the same.
//!
//! Every call runs over TLS unless plaintext was asked for, and carries the bearer token
//! when there is one (`security.rs`); why a handshake failed is said in terms of the flags
//! that fix it (`handshake.rs`).
//!
//! Bounds: each endpoint is tried at most [`ROUNDS`] times, with a short backoff between
//! rounds, and the whole call — connects, attempts, backoff — ends by one deadline
//! (`--timeout-ms`). Connections are made lazily, once per endpoint, shared by every service
//! a member serves, and dropped after a transport failure so the next attempt reconnects.
//!
//! Why a folder: the rules live in one generic helper, [`Client::call`] (`failover.rs`),
//! that every RPC of every service goes through, so no API can get its own, different, retry
//! loop. The files per API (`cluster.rs`, `vars.rs`, `secrets.rs`, `workflow.rs`,
//! `rollout.rs`) only say, per RPC, whether it reads or writes and which command shows the
//! outcome of a write (`auth.rs` too, for `AuthApi`, and `hooks.rs`, for `HookApi`;
//! `backup.rs` opens the backup stream of `MoorApi`).
//!
//! This folder knows nothing of the command line, views or exit codes: `crate::exit` maps
//! its errors to exit codes, `crate::commands` gives them context.

mod auth;
mod backup;
mod cluster;
mod endpoints;
mod error;
mod failover;
mod handshake;
mod hooks;
mod retry;
mod rollout;
mod secrets;
mod security;
mod service;
mod status;
mod vars;
mod workflow;

#[cfg(test)]
mod security_tests;

pub use auth::{AuditPage, TokenSpec};
pub use endpoints::Client;
pub use error::RpcError;
pub use failover::{Call, Targets, ROUNDS};
pub use retry::{classify, Access, Verdict};
pub use rollout::RolloutOp;
pub use security::{Security, Tls, Token, TokenError, Transport};
pub use service::Service;
pub use status::{code_name, describe_status};
pub use vars::LIST_PAGE_SIZE;
