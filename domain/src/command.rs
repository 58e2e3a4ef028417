//! The commands replicated through the Raft log and the results of applying them.
//!
//! A command carries everything its application needs (the leader stamps times and ids into
//! it), so applying it on every member gives the same result. Serialised with serde, so the
//! enum only grows: new variants at the end, never removed or reordered ones.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use serde::{Deserialize, Serialize};

use crate::kv::{KvCommand, KvResult};
use crate::workflow::{WorkflowCommand, WorkflowResult};

/// A change to the replicated state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// A change to the key/value namespace of variables.
    Kv(KvCommand),
    /// A change to blueprints, sites, environments or executions.
    Workflow(WorkflowCommand),
    /// Several commands in one entry, applied in order (leader-side batching).
    Batch(Vec<Command>),
}

/// What applying a [`Command`] produced; returned to the member that proposed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    /// The entry carried no command (blank or membership entry).
    Empty,
    /// The result of a [`KvCommand`].
    Kv(KvResult),
    /// The result of a [`WorkflowCommand`].
    Workflow(WorkflowResult),
    /// One result per command of a [`Command::Batch`], in order.
    Batch(Vec<CommandResult>),
    /// The command is not one apply can carry out (a batch nested in a batch); nothing
    /// changed.
    Refused(String),
}
