//! [`RpcError`]: why a call failed, in the three kinds that decide what a caller may do next.

use std::error::Error as StdError;
use std::fmt;

use tonic::{Code, Status};

use super::status::describe_status;

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

#[cfg(test)]
mod tests {
    use super::*;

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

        let e = RpcError::Rejected {
            endpoint: "a:1".into(),
            status: Status::not_found("member 9 not found"),
        };
        assert_eq!(e.to_string(), "a:1 answered NOT_FOUND: member 9 not found");
        assert_eq!(e.code(), Some(Code::NotFound));
    }
}
