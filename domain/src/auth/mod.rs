//! Identities, tokens, roles, permissions and the audit log, as replicated state.
//!
//! The member that receives a request authenticates it ([`AuthState::authenticate`], or its
//! TLS client certificate) and proposes the command wrapped in
//! [`Command::Audited`](crate::command::Command::Audited) with an [`AuditStamp`]: who, which
//! operation, on what, from where, when. Apply then checks the identity and the permission
//! *again*, against the state at that log index: a token whose revocation (or expiry, by the
//! stamp's time) committed earlier can change nothing, whichever member took the request
//! and whatever that member believed when it did. Every audited command, carried out,
//! refused or denied, leaves one record in the audit log.
//!
//! Pure like the rest of the domain: the member generates token ids and secrets and stamps
//! times; the state keeps only hashes. One job per file:
//!
//! - [`operation`]: every client RPC, by its name in the permission table;
//! - [`pattern`]: the `*` name patterns roles and scopes use;
//! - [`role`]: the built-in roles and custom [`RoleDef`]s;
//! - [`token`]: the token text format, its hash, [`TokenRecord`], [`Principal`];
//! - [`identity`]: token or principal → [`Identity`], or why not ([`AuthError`]);
//! - [`permission`]: may an identity do an operation on a [`Target`] ([`Denied`]);
//! - [`fit`]: does an audited command's stamp describe the command it carries;
//! - [`audit`]: the bounded audit trail and the outcome of a command;
//! - [`apply`](mod@apply): the commands that change tokens and roles; admission of audited ones;
//! - `state.rs`: [`AuthState`] itself; `utc.rs`: times in messages.

pub mod apply;
pub mod audit;
pub mod fit;
pub mod identity;
pub mod operation;
pub mod outcome;
pub mod pattern;
pub mod permission;
pub mod role;
mod state;
pub mod target;
pub mod token;
mod utc;

#[cfg(test)]
mod tests;

pub use apply::{AuthCommand, AuthResult};
pub use audit::{AuditEvent, AuditRecord, AuditStamp, AuditState, Retention};
pub use identity::{AuthError, Identity};
pub use operation::Operation;
pub use outcome::outcome_of;
pub use permission::{Denied, Target};
pub use role::{BuiltinRole, RoleDef};
pub use state::AuthState;
pub use token::{token_hash, token_id, Principal, TokenRecord};
