//! What one failed attempt allows: retry, stop with an unknown outcome, or stop for good.
//! The decision depends on who made the status (the member, or tonic after a local transport
//! failure) and on whether the request may change state.

use std::error::Error as StdError;

use tonic::{Code, Status};

use super::handshake::failed_handshake;

/// Whether a request may change state: decides what may be retried after it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// What one failed attempt allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not applied (or a read): try again, here or elsewhere.
    Retry,
    /// A write may have been applied: stop.
    Unknown,
    /// A final answer: stop.
    Final,
}

/// Decides what a failed attempt with `status` allows, for a request of kind `access`.
pub fn classify(status: &Status, access: Access) -> Verdict {
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

/// True when a locally made status comes from failing to connect, or from a TLS handshake the
/// member refused, so the request was never delivered.
fn never_sent(status: &Status) -> bool {
    if failed_handshake(status) {
        return true;
    }
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
pub(super) fn local_timeout(status: &Status) -> bool {
    let mut source = status.source();
    while let Some(err) = source {
        if err.downcast_ref::<tonic::TimeoutExpired>().is_some() {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
