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
    /// Apply refused an audited write: the caller's token was revoked or expired by then,
    /// or the role or scope does not allow it (the reason names the missing permission).
    #[error("{reason}")]
    PermissionDenied { reason: String },
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
            ApiError::PermissionDenied { .. } => Code::PermissionDenied,
        }
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        Status::new(e.code(), bounded(&e.to_string()))
    }
}

/// Most problems one refusal lists; the rest are counted.
pub const MAX_PROBLEMS_SHOWN: usize = 20;
/// Most bytes of one listed problem.
const MAX_PROBLEM_BYTES: usize = 300;
/// Most bytes of a status message. The message travels in an HTTP/2 header (`grpc-message`,
/// percent-encoded, so up to three times longer on the wire); clients refuse header lists
/// past 16 KiB and then see a transport error instead of the refusal, and would wrongly
/// report "outcome unknown". 4 KiB stays well inside that.
pub const MAX_STATUS_MESSAGE_BYTES: usize = 4096;

/// `text` cut to at most `max` bytes on a character boundary, marked with `…` when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A status message that fits on the wire (see [`MAX_STATUS_MESSAGE_BYTES`]).
pub fn bounded(message: &str) -> String {
    cut(message, MAX_STATUS_MESSAGE_BYTES)
}

/// An `INVALID_ARGUMENT` refusal that lists problems: the first [`MAX_PROBLEMS_SHOWN`]
/// (each cut to a few hundred bytes), then how many more there are, always within
/// [`MAX_STATUS_MESSAGE_BYTES`]. `see_all` says where the full list can be had.
pub fn refused_with_problems(summary: &str, problems: &[String], see_all: &str) -> Status {
    let mut message = format!("{summary}: {} problem(s)", problems.len());
    let mut shown = 0;
    for p in problems.iter().take(MAX_PROBLEMS_SHOWN) {
        let line = format!("\n{}", cut(p, MAX_PROBLEM_BYTES));
        // Leave room for the closing "and N more" line.
        if message.len() + line.len() > MAX_STATUS_MESSAGE_BYTES - 200 {
            break;
        }
        message.push_str(&line);
        shown += 1;
    }
    if shown < problems.len() {
        message.push_str(&format!(
            "\n… and {} more: {see_all}",
            problems.len() - shown
        ));
    }
    Status::invalid_argument(bounded(&message))
}

/// The status for a workflow command that apply refused (its result, recorded in the log).
pub fn workflow_refusal(e: moor_domain::workflow::WorkflowError) -> Status {
    use moor_domain::workflow::WorkflowError;
    match e {
        WorkflowError::Invalid(m) => Status::invalid_argument(bounded(&m)),
        WorkflowError::NotFound(m) => Status::not_found(bounded(&format!("{m} not found"))),
        WorkflowError::FailedPrecondition(m) => Status::failed_precondition(bounded(&m)),
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
    fn many_problems_fit_in_a_bounded_message() {
        // 3,000 problems of ~40 bytes (the unknown-resource-type blueprint of issue 10)
        // and a few huge ones (an alias bomb's expansion echoed in a message).
        let mut problems: Vec<String> = (0..3000)
            .map(|i| format!("bp.yaml:{i}:5: unknown resource type `nope{i}`"))
            .collect();
        problems.insert(3, "x".repeat(100_000));
        let status = refused_with_problems(
            "blueprint bp.yaml is not valid",
            &problems,
            "run `moorctl blueprint validate bp.yaml` to list them all",
        );
        assert_eq!(status.code(), Code::InvalidArgument);
        let m = status.message();
        assert!(m.len() <= MAX_STATUS_MESSAGE_BYTES, "{}", m.len());
        assert!(
            m.starts_with("blueprint bp.yaml is not valid: 3001 problem(s)"),
            "{m}"
        );
        assert!(m.contains("unknown resource type `nope0`"), "{m}");
        assert!(m.contains("and 2981 more"), "{m}");
        let status: Status = ApiError::Internal("é".repeat(10_000)).into();
        assert!(status.message().len() <= MAX_STATUS_MESSAGE_BYTES);
        assert!(status.message().ends_with('…'));
    }

    #[test]
    fn cutting_respects_character_boundaries() {
        let c = cut(&"é".repeat(1000), 11);
        assert!(c.len() <= 11 && c.ends_with('…'), "{c}");
        assert_eq!(cut("short", 11), "short");
    }

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
