//! The errors a member returns to callers, and their mapping to gRPC status codes — in one
//! place, so every endpoint reports the same condition the same way.
//!
//! The distinction that matters to a client: `Unavailable` means the request was certainly not
//! applied and is safe to retry; `DeadlineExceeded` means the outcome is unknown (the write may
//! or may not have been committed), so the client must read before retrying.

use serde::{Deserialize, Serialize};
use tonic::{Code, Status};

/// Why a request failed. Serialisable: a leader returns it to the follower that forwarded the
/// request, which hands it on unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// No leader is known right now (an election is under way or no quorum is reachable).
    #[error("no leader is elected right now ({detail}); nothing was applied, retry shortly")]
    NoLeader { detail: String },
    /// The member asked is not the leader (only returned between members).
    #[error(
        "member {member} is not the leader (leader hint: {leader:?}); nothing was applied, retry"
    )]
    NotLeader { member: u64, leader: Option<u64> },
    /// The request reached no member that could serve it; nothing was applied.
    #[error("{detail}; nothing was applied, retry")]
    Unavailable { detail: String },
    /// The request may or may not have been applied.
    #[error("outcome unknown: {detail}; the change may or may not have been applied, read the current state before retrying")]
    OutcomeUnknown { detail: String },
    /// A field of the request is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// The request does not fit the current state (e.g. initialising an initialised cluster).
    #[error("{reason}")]
    FailedPrecondition { reason: String },
    /// The named thing does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The member is stopping.
    #[error("member is shutting down; retry on another member")]
    ShuttingDown,
    /// A bug or a broken invariant; the message says where.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for an invalid field.
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        ApiError::InvalidArgument {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// The gRPC code for this error.
    pub fn code(&self) -> Code {
        match self {
            ApiError::NoLeader { .. }
            | ApiError::NotLeader { .. }
            | ApiError::Unavailable { .. }
            | ApiError::ShuttingDown => Code::Unavailable,
            ApiError::OutcomeUnknown { .. } => Code::DeadlineExceeded,
            ApiError::InvalidArgument { .. } => Code::InvalidArgument,
            ApiError::FailedPrecondition { .. } => Code::FailedPrecondition,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::Internal(_) => Code::Internal,
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        Status::new(e.code(), e.to_string())
    }
}

impl From<crate::workflow::WorkflowError> for Status {
    fn from(e: crate::workflow::WorkflowError) -> Status {
        use crate::workflow::WorkflowError;
        match e {
            WorkflowError::Invalid(m) => Status::invalid_argument(m),
            WorkflowError::NotFound(m) => Status::not_found(format!("{m} not found")),
            WorkflowError::FailedPrecondition(m) => Status::failed_precondition(m),
        }
    }
}

/// True when `status` says the connection could not be made at all, so the request was
/// certainly not delivered (unlike a reset or timeout after sending).
pub fn is_connect_failure(status: &Status) -> bool {
    if status.code() != Code::Unavailable {
        return false;
    }
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
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_safety_is_in_the_code() {
        let unknown: Status = ApiError::OutcomeUnknown {
            detail: "leader did not answer within 5s".into(),
        }
        .into();
        assert_eq!(unknown.code(), Code::DeadlineExceeded);
        assert!(unknown.message().contains("read the current state"));
        let no_leader: Status = ApiError::NoLeader {
            detail: "election".into(),
        }
        .into();
        assert_eq!(no_leader.code(), Code::Unavailable);
        assert!(no_leader.message().contains("nothing was applied"));
    }

    #[test]
    fn plain_unavailable_is_not_a_connect_failure() {
        assert!(!is_connect_failure(&Status::unavailable("reset")));
    }
}
