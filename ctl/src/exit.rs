//! moorctl's exit codes, and how an error becomes one — in one place.
//!
//! Scripts and the jepsen-like suite branch on these codes, so each one means one thing, and
//! the difference that matters most is kept: 5 (nothing was applied, retry freely) versus 6
//! (a write may have been applied, read before retrying); and 8 (refused by access control:
//! fix the credentials, retrying changes nothing); 9 is not a failure but an answer (`env
//! diff` found differences), as diff(1)'s 1 is. The table is repeated in
//! `moorctl --help` ([`EXIT_CODES_HELP`]) and in `ctl/README.md`.

use std::fmt;

use tonic::Code;

use crate::client::RpcError;

/// The exit codes, shown after `moorctl --help` and kept in step with `ctl/README.md` and
/// [`Exit`].
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  error: the request was refused (invalid argument, failed precondition, ...),
     `blueprint validate` found problems, `source sync --wait` saw the fetch fail, or a
     local step failed (reading --from-file, writing output)
  2  usage error: bad flags or arguments, or bad settings (config file, context, TLS or
     token files); nothing was sent
  3  not found: `var get` of a missing key, or a member answered NOT_FOUND
  4  compare-and-swap comparison failed: nothing was changed
  5  unavailable: no endpoint reachable or no leader; nothing was applied, safe to retry
  6  outcome unknown: a write timed out or lost its connection after it was sent; it may or
     may not have been applied, read the current state before retrying
  7  the watched execution did not succeed: it failed, was cancelled, or is interrupted
     and waits for `moorctl exec resume ID` (`exec watch`, `--watch`); see
     `moorctl exec show ID`
  8  refused by access control: no valid credentials (UNAUTHENTICATED) or not allowed
     (PERMISSION_DENIED); nothing was applied, and another member would say the same
  9  `env diff` found differences: some resource is drifted, missing or unexpected (like
     diff(1)'s 1, which is taken here by errors)
  10  `secrets status` / `secrets reseal`: not every stored secret is under the sealing
      key yet (some under an older key or in clear); keep the older keys in the key file
  11  `secrets status`: some stored secret is under a key the answering member does not
      hold, so it cannot be opened there; put the key back in the key file

Endpoints are tried in order; a request that certainly was not applied (connection refused,
UNAVAILABLE) moves on to the next endpoint, each endpoint at most twice, all within
--timeout-ms.";

/// A process exit code of moorctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Success = 0,
    /// The request was refused, `blueprint validate` found problems, `source sync --wait`
    /// saw the fetch fail, or a local step failed.
    Error = 1,
    /// Bad flags or arguments (clap's own code); nothing was sent.
    Usage = 2,
    /// `var get` of a missing key, or a member answered NOT_FOUND.
    NotFound = 3,
    /// A compare-and-swap found another value; nothing was changed.
    CasFailed = 4,
    /// No endpoint reachable or no leader; nothing was applied, safe to retry.
    Unavailable = 5,
    /// A write may or may not have been applied.
    OutcomeUnknown = 6,
    /// The watched execution ended without succeeding: it failed, was cancelled, or is
    /// interrupted (after a restore) and waits to be resumed.
    NotSucceeded = 7,
    /// Refused by access control: UNAUTHENTICATED or PERMISSION_DENIED.
    Denied = 8,
    /// `env diff` found an environment that differs from its site.
    Drifted = 9,
    /// `secrets status` / `reseal`: some stored secret is under an older key or in clear.
    NotResealed = 10,
    /// `secrets status`: some stored secret is under a key the member does not hold.
    KeyMissing = 11,
}

impl Exit {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The exit code for a final gRPC status a member returned. The client has already
    /// retried what it may retry, so UNAVAILABLE here means "gave up, nothing applied" and
    /// DEADLINE_EXCEEDED / CANCELLED mean "may have been applied".
    pub fn from_grpc(code: Code) -> Exit {
        match code {
            Code::Ok => Exit::Success,
            Code::NotFound => Exit::NotFound,
            Code::Unavailable => Exit::Unavailable,
            Code::DeadlineExceeded | Code::Cancelled => Exit::OutcomeUnknown,
            Code::Unauthenticated | Code::PermissionDenied => Exit::Denied,
            _ => Exit::Error,
        }
    }

    /// The exit code for a failed call: the client has already retried what it may retry.
    pub fn of_rpc(err: &RpcError) -> Exit {
        match err {
            RpcError::Unavailable { .. } => Exit::Unavailable,
            RpcError::OutcomeUnknown { .. } => Exit::OutcomeUnknown,
            RpcError::Rejected { status, .. } => Exit::from_grpc(status.code()),
        }
    }

    /// The exit code for an error that ends moorctl: the first cause in the chain that
    /// carries one decides; anything else (I/O, formatting) is a plain error.
    pub fn of_error(err: &anyhow::Error) -> Exit {
        err.chain()
            .find_map(|e| {
                if let Some(f) = e.downcast_ref::<Failure>() {
                    Some(f.exit)
                } else {
                    e.downcast_ref::<RpcError>().map(Exit::of_rpc)
                }
            })
            .unwrap_or(Exit::Error)
    }
}

/// An outcome the server reported as a normal answer but that moorctl ends with a non-zero
/// code: a missing key for `var get`, a failed comparison for `var cas`, a watched execution
/// that failed.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_are_the_documented_numbers() {
        let all = [
            (Exit::Success, 0),
            (Exit::Error, 1),
            (Exit::Usage, 2),
            (Exit::NotFound, 3),
            (Exit::CasFailed, 4),
            (Exit::Unavailable, 5),
            (Exit::OutcomeUnknown, 6),
            (Exit::NotSucceeded, 7),
            (Exit::Denied, 8),
            (Exit::Drifted, 9),
            (Exit::NotResealed, 10),
            (Exit::KeyMissing, 11),
        ];
        for (exit, code) in all {
            assert_eq!(exit.code(), code, "{exit:?}");
            let line = format!("  {code}  ");
            assert!(
                EXIT_CODES_HELP.contains(&line),
                "--help does not document {code}"
            );
        }
        let readme = include_str!("../README.md");
        for (exit, code) in all {
            assert!(
                readme.contains(&format!("| {code} |")),
                "README.md does not document {exit:?}"
            );
        }
    }

    #[test]
    fn grpc_codes() {
        assert_eq!(Exit::from_grpc(Code::Ok), Exit::Success);
        assert_eq!(Exit::from_grpc(Code::NotFound), Exit::NotFound);
        assert_eq!(Exit::from_grpc(Code::Unavailable), Exit::Unavailable);
        assert_eq!(
            Exit::from_grpc(Code::DeadlineExceeded),
            Exit::OutcomeUnknown
        );
        assert_eq!(Exit::from_grpc(Code::Cancelled), Exit::OutcomeUnknown);
        assert_eq!(Exit::from_grpc(Code::Unauthenticated), Exit::Denied);
        assert_eq!(Exit::from_grpc(Code::PermissionDenied), Exit::Denied);
        for code in [
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::AlreadyExists,
            Code::ResourceExhausted,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unimplemented,
            Code::Internal,
            Code::DataLoss,
            Code::Unknown,
        ] {
            assert_eq!(Exit::from_grpc(code), Exit::Error, "{code:?}");
        }
    }

    #[test]
    fn failed_calls() {
        let unavailable = RpcError::Unavailable {
            attempts: vec!["a:1: cannot connect: connection refused".into()],
        };
        assert_eq!(Exit::of_rpc(&unavailable), Exit::Unavailable);
        let unknown = RpcError::OutcomeUnknown {
            endpoint: "a:1".into(),
            detail: "no answer within 10000 ms".into(),
            check: "moorctl var get k".into(),
        };
        assert_eq!(Exit::of_rpc(&unknown), Exit::OutcomeUnknown);
        let rejected = RpcError::Rejected {
            endpoint: "a:1".into(),
            status: tonic::Status::not_found("member 9 not found"),
        };
        assert_eq!(Exit::of_rpc(&rejected), Exit::NotFound);
    }

    #[test]
    fn errors_find_their_code_through_context() {
        let err = anyhow::Error::new(Failure::new(Exit::NotFound, "key \"k\" not found"))
            .context("var get");
        assert_eq!(Exit::of_error(&err), Exit::NotFound);

        let err: anyhow::Result<()> = Err(RpcError::Unavailable {
            attempts: vec!["a:1: connection refused".into()],
        })
        .context("var put");
        assert_eq!(Exit::of_error(&err.unwrap_err()), Exit::Unavailable);

        let err = anyhow::anyhow!("cannot read file").context("var put");
        assert_eq!(Exit::of_error(&err), Exit::Error);
    }
}
