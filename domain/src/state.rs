//! All replicated state of a member, and the one function that changes it:
//! [`MoorState::apply`], a pure function of (state, log index, log term, command).
//!
//! No clock, no I/O, no randomness: the leader stamps those into commands before proposing
//! them, so every member computes the same state. Apply never panics: a command it cannot
//! carry out is refused (its result says why) and changes nothing. [`MoorState::invariants`]
//! checks the whole state; apply does not call it (a broken invariant must not become a
//! panic on every member). The domain's tests call it after every command, and moord's
//! state-machine adapter after every entry in debug builds, where it logs what broke and at
//! which index.
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
use sha2::{Digest, Sha256};

use crate::auth::{self, AuditStamp, AuthState};
use crate::cluster::{ClusterCommand, ClusterIdentity, ClusterResult};
use crate::codec::{self, CodecError};
use crate::command::{Command, CommandResult};
use crate::feature::FeatureLevel;
use crate::hooks::{HooksState, Registry};
use crate::kv::KvState;
use crate::workflow::WorkflowState;

/// All replicated domain state. Snapshots serialise this whole struct.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoorState {
    /// Variables.
    pub kv: KvState,
    /// Blueprints, sites, environments, executions, groups, rollouts.
    pub workflow: WorkflowState,
    /// Tokens, custom roles and the audit log. Left out of the encoding while empty, so a
    /// state that never used them encodes (and digests) as it did before they existed.
    #[serde(default, skip_serializing_if = "AuthState::is_empty")]
    pub auth: AuthState,
    /// Webhook receivers, Git sources and triggers; left out of the encoding while empty,
    /// like `auth`.
    #[serde(default, skip_serializing_if = "HooksState::is_empty")]
    pub hooks: HooksState,
    /// Which cluster this is (set once; new for a restored cluster); left out of the
    /// encoding while empty, like `auth`.
    #[serde(default, skip_serializing_if = "ClusterIdentity::is_empty")]
    pub cluster: ClusterIdentity,
    /// The cluster's feature level (see [`crate::feature`]): left out of the encoding at the
    /// base level, so a state that never rose encodes as releases before levels wrote it.
    #[serde(default, skip_serializing_if = "FeatureLevel::is_base")]
    pub feature_level: FeatureLevel,
}

impl MoorState {
    /// Applies one committed command carried by the log entry at `index` of `term`. The
    /// term is the fence token of the dispatches the entry carries: only that term's leader
    /// can have proposed them.
    pub fn apply(&mut self, index: u64, term: u64, command: &Command) -> CommandResult {
        match command {
            Command::Batch(commands) => CommandResult::Batch(
                commands
                    .iter()
                    .map(|c| self.apply_one(index, term, c))
                    .collect(),
            ),
            other => self.apply_one(index, term, other),
        }
    }

    /// One command of a batch. A batch inside a batch is refused: the proposer never
    /// nests them, and refusing keeps apply's recursion bounded whatever a log holds.
    fn apply_one(&mut self, index: u64, term: u64, command: &Command) -> CommandResult {
        match command {
            Command::Batch(_) => CommandResult::Refused(
                "a batch inside a batch is not a valid command: the proposer never nests them"
                    .into(),
            ),
            Command::Audited { stamp, command } => self.apply_audited(index, term, stamp, command),
            other => self.apply_plain(index, term, other),
        }
    }

    /// A command that is neither a batch nor audited (those two are refused here, which
    /// bounds the recursion of an audited command to one level).
    fn apply_plain(&mut self, index: u64, term: u64, command: &Command) -> CommandResult {
        match command {
            Command::Kv(c) => CommandResult::Kv(self.kv.apply(index, c)),
            Command::Workflow(c) => CommandResult::Workflow(self.workflow.apply_at(
                &self.kv,
                term,
                self.feature_level,
                c,
            )),
            Command::Auth(c) => CommandResult::Auth(self.auth.apply(c)),
            Command::Hooks(c) => CommandResult::Hooks(self.hooks.apply(
                Registry {
                    workflow: &mut self.workflow,
                    kv: &self.kv,
                    audit: &mut self.auth.audit,
                },
                c,
            )),
            Command::Cluster(ClusterCommand::SetFeatureLevel { level }) => {
                CommandResult::Cluster(self.raise_feature_level(FeatureLevel(*level)))
            }
            Command::Cluster(c) => CommandResult::Cluster(self.cluster.apply(c)),
            Command::Batch(_) | Command::Audited { .. } => CommandResult::Refused(
                "a batch or an audited command cannot be nested here: the proposer never does"
                    .into(),
            ),
        }
    }

    /// A client's command, admitted only if its identity and permission hold at this
    /// index: a revocation committed earlier wins, whichever member took the request. A
    /// denial changes the audit log only; otherwise the command is carried out (unless its
    /// stamp does not describe it) and its outcome recorded.
    fn apply_audited(
        &mut self,
        index: u64,
        term: u64,
        stamp: &AuditStamp,
        command: &Command,
    ) -> CommandResult {
        if let Err(reason) = self.auth.admit(stamp) {
            return CommandResult::Refused(reason);
        }
        let result = match auth::fit::check(stamp.operation, &stamp.target, command, &self.workflow)
        {
            Ok(()) => self.apply_plain(index, term, command),
            Err(reason) => CommandResult::Refused(reason),
        };
        self.auth.audit.append(stamp, &auth::outcome_of(&result));
        result
    }

    /// Raises the feature level: never down, never to where it is. Whether this build
    /// supports the new level is not apply's question (members of two releases must compute
    /// the same state): the leader proposes only a level every member supports, and moord
    /// stops a member whose build supports less than it applied.
    fn raise_feature_level(&mut self, level: FeatureLevel) -> ClusterResult {
        let previous = self.feature_level;
        if level <= previous {
            return ClusterResult::Refused(format!(
                "the cluster already runs at feature level {previous}; a level only rises \
                 (asked for {level})"
            ));
        }
        self.feature_level = level;
        ClusterResult::FeatureLevel {
            previous: previous.0,
            level: level.0,
        }
    }

    /// Checks every invariant of the whole state; the first one broken, described.
    pub fn invariants(&self) -> Result<(), String> {
        self.workflow.invariants()?;
        self.auth.invariants()?;
        self.hooks.invariants(&self.workflow)
    }

    /// The snapshot encoding of the whole state (versioned, see [`codec`]).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode("state snapshot", self)
    }

    /// A state from its snapshot encoding.
    pub fn decode(data: &[u8]) -> Result<Self, CodecError> {
        let mut state: MoorState = codec::decode("state snapshot", data)?;
        state.workflow.reindex();
        Ok(state)
    }

    /// SHA-256 of the snapshot encoding, hex: two members with the same digest hold the
    /// same state. Golden tests and replica comparisons use it.
    pub fn digest(&self) -> Result<String, CodecError> {
        let bytes = self.encode()?;
        Ok(Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }
}

#[cfg(test)]
#[path = "tests/state_unit.rs"]
mod tests;
