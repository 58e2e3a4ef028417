//! The domain state machine of a member: every replicated namespace, applied by a pure
//! function of (state, log index, command). No clock, no I/O, no randomness: the leader stamps
//! those into commands before proposing them, so every member computes the same state.

use moor_raft_store::Application;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::command::{Command, CommandResult};
use crate::kv::KvState;
use crate::types::{LogId, TypeConfig};
use crate::workflow::WorkflowState;

/// All replicated domain state. Snapshots serialise this whole struct.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoorState {
    /// Variables.
    pub kv: KvState,
    /// Blueprints, sites, environments, executions.
    pub workflow: WorkflowState,
}

impl Application<TypeConfig> for MoorState {
    fn apply(&mut self, log_id: &LogId, command: &Command) -> CommandResult {
        match command {
            Command::Kv(c) => CommandResult::Kv(self.kv.apply(log_id.index, c)),
            Command::Workflow(c) => {
                CommandResult::Workflow(self.workflow.apply(&self.kv, log_id.leader_id.term, c))
            }
            Command::Batch(commands) => {
                CommandResult::Batch(commands.iter().map(|c| self.apply(log_id, c)).collect())
            }
        }
    }

    fn empty_response(&self) -> CommandResult {
        CommandResult::Empty
    }

    fn snapshot(&self) -> Result<Vec<u8>, String> {
        codec::encode("state snapshot", self).map_err(|e| e.to_string())
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), String> {
        *self = codec::decode("state snapshot", data).map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::KvCommand;

    #[test]
    fn snapshot_restores_the_same_state() {
        let mut s = MoorState::default();
        let log_id = openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), 4);
        s.apply(
            &log_id,
            &Command::Kv(KvCommand::Put {
                key: "k".into(),
                value: b"v".to_vec(),
            }),
        );
        let data = s.snapshot().unwrap();
        let mut t = MoorState::default();
        t.restore(&data).unwrap();
        assert_eq!(s, t);
        assert!(t.restore(b"\x01garbage").is_err());
    }
}
