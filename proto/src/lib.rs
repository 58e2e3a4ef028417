//! Moor's wire formats: generated gRPC code for the peer service (`raft`), the client API
//! (`api`, `workflow`, `rollout`) and the site protocol (`site`), and [`names`], the one list
//! of the wire names of Moor's enums. Wire formats only grow: new fields, messages and names,
//! never renumbered or renamed ones.

pub mod names;

/// Largest message one member sends another: AppendEntries calls, snapshot chunks,
/// forwarded writes. Every Raft entry must fit in one, with room to spare, so the limits a
/// member accepts writes under are bounded by it.
pub const MAX_PEER_MESSAGE_BYTES: usize = 64 << 20;

/// The trace ids every member derives for an execution's exported spans.
#[cfg(feature = "grpc")]
pub mod trace;

/// The backup file format (`moorctl cluster snapshot save`, `moord restore`).
#[cfg(feature = "grpc")]
pub mod backup;

/// Peer-to-peer Raft traffic between members.
#[cfg(feature = "grpc")]
pub mod raft {
    tonic::include_proto!("moor.raft.v1");
}

/// The client API served by every member.
#[cfg(feature = "grpc")]
pub mod api {
    tonic::include_proto!("moor.api.v1");
}

/// The workflow API: blueprints, sites, environments, executions.
#[cfg(feature = "grpc")]
pub mod workflow {
    tonic::include_proto!("moor.workflow.v1");
}

/// The rollout API: groups and bulk executions in waves.
#[cfg(feature = "grpc")]
pub mod rollout {
    tonic::include_proto!("moor.rollout.v1");
}

/// The site protocol: apply, delete and observe resources at a site, fenced and idempotent.
#[cfg(feature = "grpc")]
pub mod site {
    tonic::include_proto!("moor.site.v1");
}

/// Identities, tokens, roles and the audit log.
#[cfg(feature = "grpc")]
pub mod auth {
    tonic::include_proto!("moor.auth.v1");
}

/// CI webhook receivers, Git sources and the triggers that turn their revisions into
/// rollouts.
#[cfg(feature = "grpc")]
pub mod hooks {
    tonic::include_proto!("moor.hooks.v1");
}
