//! The errors of `moor-agent` and their gRPC status codes, in one place.
//!
//! Protocol answers (FENCED, DUPLICATE, FAILED) are not errors: they are outcomes in the
//! response. These are the cases where the agent gives no outcome at all. Only a refused
//! caller and an invalid request are sure to have changed nothing; after a store error the
//! outcome is unknown (the caller observes before retrying, as for a lost answer).

use tonic::{Code, Status};

use super::store::StoreError;
use crate::callers::NotAMember;
use crate::config::ConfigError;
use crate::journal::JournalError;
use crate::request::InvalidRequest;

/// Why an agent could not start, serve or answer a call.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the agent's store: {0}")]
    Store(#[from] StoreError),
    #[error("the agent's journal: {0}; the call's effect is recorded, so a retry is answered from the store")]
    Journal(#[from] JournalError),
    #[error(transparent)]
    NotAMember(#[from] NotAMember),
    #[error(transparent)]
    Invalid(#[from] InvalidRequest),
    #[error("this moor-agent serves site {serves:?}, the request is for site {requested:?}; check the site's agent endpoint in Moor")]
    WrongSite { serves: String, requested: String },
    #[error(
        "the call ended without an answer ({0}); its outcome is unknown: observe before retrying"
    )]
    Lost(String),
    #[error("cannot serve gRPC: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot use the TLS files: {0}")]
    Tls(#[from] moor_tls::reload::TlsError),
    #[error("cannot use the [kubernetes] section: {0}")]
    Kubernetes(#[from] moor_kube::ConnectError),
    #[error("cannot observe the site's cluster ({0}); nothing is reported rather than a partial answer: retry later")]
    Observe(String),
}

impl AgentError {
    /// The gRPC code callers see.
    pub fn code(&self) -> Code {
        match self {
            AgentError::Invalid(_) | AgentError::WrongSite { .. } => Code::InvalidArgument,
            AgentError::NotAMember(_) => Code::PermissionDenied,
            AgentError::Observe(_) => Code::Unavailable,
            AgentError::Config(_)
            | AgentError::Store(_)
            | AgentError::Journal(_)
            | AgentError::Lost(_)
            | AgentError::Transport(_)
            | AgentError::Tls(_)
            | AgentError::Kubernetes(_) => Code::Internal,
        }
    }
}

impl From<AgentError> for Status {
    fn from(e: AgentError) -> Status {
        Status::new(e.code(), e.to_string())
    }
}
