//! CI webhooks and Git sources in the replicated state.
//!
//! - [`receiver`]: where CI systems deliver webhooks, and the deliveries each recorded. A
//!   delivery is recorded once by its id together with what it triggered; a redelivery
//!   gets the original record back and triggers nothing (exactly once across members and
//!   leader changes, because the record is replicated before anyone answers).
//! - [`source`]: a branch of a Git repository and a folder in it. A push that names it, a
//!   poll or a sync asks for a fetch (`pending`); the leader fetches and proposes the
//!   result, and apply turns changed files into new blueprint revisions that remember the
//!   commit and path, all of one commit or none of it.
//! - [`trigger`]: a new revision from a source starts a rollout of it, one at a time per
//!   trigger (queue or supersede).
//!
//! Every delivery, fetch and firing is written to the audit trail with the receiver or
//! source as the identity. `apply.rs` routes a [`HooksCommand`]; `types.rs` holds the data.

mod apply;
pub mod receiver;
pub mod source;
pub mod trigger;
mod types;

pub use apply::Registry;
pub use types::{AuditNote, HooksCommand, HooksResult, HooksState};
