//! The caller of the request being served, set by the gate for the handler's whole run
//! (a task-local: handlers and the write helpers they share read it without every signature
//! carrying it), and the audit stamp a write carries.

use moor_domain::auth::audit::{AuditStamp, Retention};
use moor_domain::auth::identity::Identity;
use moor_domain::auth::operation::Operation;
use moor_domain::auth::permission::Target;
use moor_domain::auth::token::Principal;
use moor_domain::command::Command;

use crate::exec::executor::now_ms;

/// Who sent the request being served, and what it is.
#[derive(Debug, Clone)]
pub struct Caller {
    /// None when authentication is off (`auth.enabled = false`), or for the one
    /// unauthenticated call allowed: `cluster init` of a member that has no cluster yet.
    pub principal: Option<Principal>,
    pub identity: Option<Identity>,
    pub operation: Operation,
    /// The client's address as this member saw it.
    pub peer: String,
    /// This member's id.
    pub member: u64,
    pub retention: Retention,
}

tokio::task_local! {
    static CALLER: Caller;
}

/// Runs `f` as `caller`'s request.
pub async fn scope<F: std::future::Future>(caller: Caller, f: F) -> F::Output {
    CALLER.scope(caller, f).await
}

/// The caller of the request being served; None outside a client request (the executor,
/// tests calling services directly).
pub fn current() -> Option<Caller> {
    CALLER.try_with(Caller::clone).ok()
}

/// `command` as the current caller's: wrapped in an audited command with its stamp, so
/// apply checks the identity and permission again at the entry's index and records it.
/// Unchanged when there is no authenticated caller (auth off, internal writes).
pub fn audited(command: Command, target: Target, object: String) -> Command {
    let Some(caller) = current() else {
        return command;
    };
    let Some(principal) = caller.principal else {
        return command;
    };
    Command::Audited {
        stamp: AuditStamp {
            principal,
            operation: caller.operation,
            target,
            object,
            peer: caller.peer,
            member: caller.member,
            at_ms: now_ms(),
            retention: caller.retention,
        },
        command: Box::new(command),
    }
}

/// Checks the current caller's credential again against `state`: a linearizable read calls
/// this after its read barrier, so once a revocation has committed, no member serves that
/// token another linearizable read (the gate checked it against this member's state, which
/// may have lagged the revocation by a heartbeat).
pub fn still_valid(state: &moor_domain::state::MoorState) -> Result<(), tonic::Status> {
    let Some(Caller {
        principal: Some(principal),
        ..
    }) = current()
    else {
        return Ok(());
    };
    state
        .auth
        .resolve(&principal, now_ms())
        .map(|_| ())
        .map_err(|e| tonic::Status::unauthenticated(e.to_string()))
}
