//! The seam between the Raft store and the domain: [`Replicated`] wraps the pure
//! [`MoorState`] and implements raft-store's `Application`, passing each entry's index and
//! term to `MoorState::apply` and encoding snapshots with the domain's versioned codec.

use std::ops::{Deref, DerefMut};

use moor_domain::command::{Command, CommandResult};
use moor_domain::state::MoorState;
use moor_raft_store::Application;

use crate::raft::features::AppliedLevel;
use crate::raft::identity::IdentityCell;
use crate::raft::types::{LogId, TypeConfig};

/// The replicated state as the Raft store drives it, the cell through which the peer
/// network learns the applied cluster identity, and the applied feature level.
#[derive(Debug, Default, Clone)]
pub struct Replicated(pub MoorState, pub IdentityCell, pub AppliedLevel);

impl PartialEq for Replicated {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Deref for Replicated {
    type Target = MoorState;
    fn deref(&self) -> &MoorState {
        &self.0
    }
}

impl DerefMut for Replicated {
    fn deref_mut(&mut self) -> &mut MoorState {
        &mut self.0
    }
}

impl Application<TypeConfig> for Replicated {
    fn apply(&mut self, log_id: &LogId, command: &Command) -> CommandResult {
        let result = self.0.apply(log_id.index, log_id.leader_id.term, command);
        self.1.sync(&self.0.cluster.id);
        self.2.sync(self.0.feature_level);
        // Debug builds check the whole state after every entry and say loudly what broke
        // where; never a panic, which would fire on every member at this index.
        #[cfg(debug_assertions)]
        if let Err(broken) = self.0.invariants() {
            tracing::error!(index = log_id.index, ?command, %broken, "replicated state invariant broken");
        }
        result
    }

    fn empty_response(&self) -> CommandResult {
        CommandResult::Empty
    }

    fn snapshot(&self) -> Result<Vec<u8>, String> {
        self.0.encode().map_err(|e| e.to_string())
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), String> {
        self.0 = MoorState::decode(data).map_err(|e| e.to_string())?;
        self.1.sync(&self.0.cluster.id);
        self.2.sync(self.0.feature_level);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moor_domain::kv::KvCommand;

    #[test]
    fn applies_with_the_entry_index_and_round_trips_snapshots() {
        let mut s = Replicated::default();
        let log_id = openraft::LogId::new(openraft::CommittedLeaderId::new(3, 1), 4);
        s.apply(
            &log_id,
            &Command::Kv(KvCommand::Put {
                key: "k".into(),
                value: b"v".to_vec(),
            }),
        );
        assert_eq!(s.kv.get("k").map(|e| e.mod_index), Some(4));
        let data = s.snapshot().unwrap();
        let mut t = Replicated::default();
        t.restore(&data).unwrap();
        assert_eq!(s, t);
        assert!(t.restore(b"\x01garbage").is_err());
    }
}
