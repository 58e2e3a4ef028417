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

use crate::auth::{AuditStamp, AuthCommand, AuthResult};
use crate::cluster::{ClusterCommand, ClusterResult};
use crate::feature::{self, FeatureLevel};
use crate::hooks::{HooksCommand, HooksResult};
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
    /// A change to tokens, roles or the audit log.
    Auth(AuthCommand),
    /// A client's command with who sent it, what for and from where. Apply checks the
    /// identity and its permission again against the state at this entry's index, carries
    /// `command` out only if they still hold, and records the outcome in the audit log; a
    /// batch or another audited command inside is refused.
    Audited {
        stamp: AuditStamp,
        command: Box<Command>,
    },
    /// A change to webhook receivers, Git sources or triggers, or a delivery or fetch.
    Hooks(HooksCommand),
    /// The cluster's identity (proposed by a leader that finds none).
    Cluster(ClusterCommand),
}

impl Command {
    /// The cluster feature level this command needs applied before it may be proposed: a
    /// member of an older release could not decode it (see [`crate::feature`]). The
    /// command that raises the level, audited or not, is the exception, and says
    /// [`feature::BASE`]: it is proposed only once every member supports the level it
    /// raises to.
    pub fn feature_level(&self) -> FeatureLevel {
        match self {
            Command::Batch(commands) => commands
                .iter()
                .map(Command::feature_level)
                .max()
                .unwrap_or(feature::BASE),
            // A client's raise: its operation is new too, but the raise is proposed only
            // once every member supports the level it raises to.
            Command::Audited { command, .. }
                if matches!(
                    **command,
                    Command::Cluster(ClusterCommand::SetFeatureLevel { .. })
                ) =>
            {
                feature::BASE
            }
            Command::Audited { stamp, command } => {
                stamp.operation.feature_level().max(command.feature_level())
            }
            Command::Auth(AuthCommand::RecordDenied { stamp, .. }) => {
                stamp.operation.feature_level()
            }
            Command::Workflow(WorkflowCommand::SiteReachability { .. }) => {
                feature::SITE_REACHABILITY
            }
            Command::Kv(_)
            | Command::Workflow(_)
            | Command::Auth(_)
            | Command::Hooks(_)
            | Command::Cluster(_) => feature::BASE,
        }
    }
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
    /// changed. For an audited command, also a denial (its identity or permission no longer
    /// holds at this index): then the audit log recorded the refusal, and nothing else
    /// changed.
    Refused(String),
    /// The result of an [`AuthCommand`].
    Auth(AuthResult),
    /// The result of a [`HooksCommand`].
    Hooks(HooksResult),
    /// The result of a [`ClusterCommand`].
    Cluster(ClusterResult),
}
