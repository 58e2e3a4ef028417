//! The openraft type configuration shared by every part of a member.
//!
//! Members are identified by a `u64` id and reached at a `host:port` address that serves both
//! the peer service and the client API.

use moor_domain::command::{Command, CommandResult};

openraft::declare_raft_types!(
    /// Moor's Raft types: the replicated commands and their results.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = moor_raft_store::SnapshotBytes,
);

/// A member's id in the Raft group.
pub type MemberId = u64;
/// The Raft handle of a member.
pub type Raft = openraft::Raft<TypeConfig>;
/// A position in the replicated log.
pub type LogId = openraft::LogId<MemberId>;
