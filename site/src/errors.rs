//! The errors of a sitesim and their gRPC status codes, in one place.
//!
//! Protocol answers (FENCED, DUPLICATE, FAILED) are not errors: they are outcomes in the
//! response. These are the cases where the sitesim gives no outcome at all.

use tonic::{Code, Status};

use crate::callers::NotAMember;
use crate::config::ConfigError;
use crate::journal::JournalError;
use crate::request::InvalidRequest;

/// Why a sitesim could not start, serve or answer a call.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot listen on {addr}: {detail}; pick a free port or 127.0.0.1:0")]
    Listen { addr: String, detail: String },
    #[error("cannot serve gRPC: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot use the TLS files: {0}")]
    Tls(#[from] moor_tls::reload::TlsError),
    /// A `SiteAgent` call over TLS whose client certificate names no member: refused before
    /// any protocol rule runs, so nothing is applied, fenced or journaled.
    #[error(transparent)]
    NotAMember(#[from] NotAMember),
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("this sitesim already keeps {max_sites} sites (--max-sites); nothing was applied")]
    TooManySites { max_sites: usize },
    #[error("resource {environment}/{resource} not found at site {site}")]
    ResourceNotFound {
        site: String,
        environment: String,
        resource: String,
    },
    /// A held call to an unreachable site reached `--unreachable-hold-max-ms` because the
    /// caller set no deadline.
    #[error("site {site} is unreachable (held until --unreachable-hold-max-ms; set a deadline on the call)")]
    Unreachable { site: String },
    #[error("moor-sitesim is shutting down; nothing was applied")]
    ShuttingDown,
}

impl SimError {
    /// Shorthand for an invalid request field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        SimError::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }

    /// The gRPC code callers see.
    pub fn code(&self) -> Code {
        match self {
            SimError::InvalidArgument { .. } => Code::InvalidArgument,
            SimError::TooManySites { .. } => Code::ResourceExhausted,
            SimError::ResourceNotFound { .. } => Code::NotFound,
            // As a real unreachable site would look to a caller without a deadline.
            SimError::Unreachable { .. } => Code::DeadlineExceeded,
            SimError::ShuttingDown => Code::Unavailable,
            SimError::NotAMember(_) => Code::PermissionDenied,
            SimError::Config(_)
            | SimError::Journal(_)
            | SimError::Listen { .. }
            | SimError::Transport(_)
            | SimError::Tls(_) => Code::Internal,
        }
    }
}

impl From<InvalidRequest> for SimError {
    fn from(e: InvalidRequest) -> SimError {
        SimError::InvalidArgument {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl From<SimError> for Status {
    fn from(e: SimError) -> Status {
        Status::new(e.code(), e.to_string())
    }
}
