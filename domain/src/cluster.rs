//! The cluster's own identity in the replicated state, and what a restore from a backup
//! changes in a state before a new cluster starts from it.
//!
//! The identity is set once per cluster: the first leader that finds none proposes one
//! ([`ClusterCommand::SetIdentity`]; later proposals are refused and change nothing). A
//! member stamps it on its Raft traffic and refuses traffic of another cluster, so a cluster
//! restored from a backup (which gets a new identity in [`MoorState::restored`]) can never
//! merge with the cluster the backup came from.
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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::execution::ExecState;
use crate::state::MoorState;

/// The longest identity accepted (a leader proposes 32 hex digits).
pub const MAX_ID_LEN: usize = 64;

/// Which cluster this state belongs to. Empty until the first leader sets it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdentity {
    pub id: String,
    /// Set when the state was restored from a backup: the identity of the cluster the backup
    /// came from, and the log index it was taken at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<RestoredFrom>,
}

/// Where a restored cluster's state came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredFrom {
    pub cluster_id: String,
    pub index: u64,
    pub term: u64,
}

impl ClusterIdentity {
    /// True when nothing is set (left out of the encoding then, so older states digest alike).
    pub fn is_empty(&self) -> bool {
        self.id.is_empty() && self.restored_from.is_none()
    }
}

/// A change to the cluster's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterCommand {
    /// Sets the identity if the state has none; refused otherwise (the first one wins).
    SetIdentity { id: String },
    /// Raises the cluster's feature level (feature level 2 on; see [`crate::feature`]):
    /// refused unless `level` is above the current one. Applied by `MoorState`, which holds
    /// the level.
    SetFeatureLevel { level: u32 },
}

/// What a [`ClusterCommand`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterResult {
    /// The identity now in force (the command's, or the one already set).
    Identity {
        id: String,
        set_now: bool,
    },
    Refused(String),
    /// The feature level was raised from `previous` to `level`.
    FeatureLevel {
        previous: u32,
        level: u32,
    },
}

impl ClusterIdentity {
    pub(crate) fn apply(&mut self, command: &ClusterCommand) -> ClusterResult {
        match command {
            ClusterCommand::SetIdentity { id } => {
                if let Err(reason) = validate_id(id) {
                    return ClusterResult::Refused(reason);
                }
                if !self.id.is_empty() {
                    return ClusterResult::Identity {
                        id: self.id.clone(),
                        set_now: false,
                    };
                }
                self.id = id.clone();
                ClusterResult::Identity {
                    id: id.clone(),
                    set_now: true,
                }
            }
            // `MoorState::apply` routes this one to the state that holds the level.
            ClusterCommand::SetFeatureLevel { .. } => ClusterResult::Refused(
                "the feature level is not part of the cluster identity".into(),
            ),
        }
    }
}

/// An identity is 1–64 characters of `[0-9a-zA-Z-]`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!(
            "a cluster identity has 1 to {MAX_ID_LEN} characters, not {}",
            id.len()
        ));
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "cluster identity {id:?} may hold only letters, digits and '-'"
        ));
    }
    Ok(())
}

/// The execution-id suffix of a cluster restored as `new_id`: 12 hex digits of its SHA-256
/// (identities may share long prefixes; their hashes do not).
fn execution_suffix(new_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(new_id.as_bytes());
    let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("-r{hex}")
}

/// What [`MoorState::restored`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Executions that were running at the backup's index, now `interrupted`.
    pub interrupted: Vec<String>,
}

impl MoorState {
    /// This state as the first state of a new cluster restored from a backup taken at
    /// `index`/`term`: a new identity (`new_id`), and every running execution marked
    /// `interrupted` — it dispatches nothing until an operator resumes it, and then its
    /// steps go out under their recorded idempotency keys, so a step the old cluster ran
    /// already is answered from the site's record instead of being run twice. New execution
    /// ids get a suffix of the new identity: the old cluster may have handed out the next
    /// ids after the backup, for other work at the same sites.
    pub fn restored(
        mut self,
        new_id: &str,
        index: u64,
        term: u64,
    ) -> Result<(MoorState, RestoreReport), String> {
        validate_id(new_id)?;
        if new_id == self.cluster.id {
            return Err(format!(
                "the restored cluster needs a new identity, not the backup's own ({new_id})"
            ));
        }
        let interrupted = self.workflow.interrupt_running();
        self.workflow.execution_suffix = execution_suffix(new_id);
        self.cluster = ClusterIdentity {
            id: new_id.to_string(),
            restored_from: Some(RestoredFrom {
                cluster_id: self.cluster.id.clone(),
                index,
                term,
            }),
        };
        Ok((self, RestoreReport { interrupted }))
    }

    /// Objects per kind, for a backup's header and `moorctl cluster snapshot inspect`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let w = &self.workflow;
        let n = |x: usize| x as u64;
        let revisions: usize = w.blueprints.values().map(Vec::len).sum();
        let mut counts = BTreeMap::new();
        counts.insert("variables".to_string(), n(self.kv.len()));
        counts.insert("blueprints".to_string(), n(w.blueprints.len()));
        counts.insert("blueprint_revisions".to_string(), n(revisions));
        counts.insert("sites".to_string(), n(w.sites.len()));
        counts.insert("environments".to_string(), n(w.environments.len()));
        counts.insert("executions".to_string(), n(w.executions.len()));
        counts.insert(
            "executions_running".to_string(),
            n(w.executions
                .values()
                .filter(|e| e.state == ExecState::Running)
                .count()),
        );
        counts.insert("groups".to_string(), n(w.rollouts.groups.len()));
        counts.insert("rollouts".to_string(), n(w.rollouts.rollouts.len()));
        counts.insert("tokens".to_string(), n(self.auth.tokens.len()));
        counts.insert("roles".to_string(), n(self.auth.roles.len()));
        counts.insert("audit_records".to_string(), n(self.auth.audit.len()));
        counts.insert("receivers".to_string(), n(self.hooks.receivers.len()));
        counts.insert("sources".to_string(), n(self.hooks.sources.len()));
        counts.insert("triggers".to_string(), n(self.hooks.triggers.len()));
        counts
    }
}

#[cfg(test)]
#[path = "tests/cluster_unit.rs"]
mod tests;
