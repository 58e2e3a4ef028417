//! gRPC statuses described for people: the canonical code names and the local cause chain.

use std::error::Error as StdError;

use tonic::{Code, Status};

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
pub fn describe_status(status: &Status) -> String {
    match status.source() {
        Some(source) => format!("{}: {}", code_name(status.code()), flatten(source)),
        None if status.message().is_empty() => code_name(status.code()).to_string(),
        None => format!("{}: {}", code_name(status.code()), status.message()),
    }
}

/// An error and its sources on one line, skipping a cause whose text its parent already shows.
pub(super) fn flatten(err: &(dyn StdError + 'static)) -> String {
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
