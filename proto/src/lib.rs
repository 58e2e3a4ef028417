//! Moor's wire formats: generated gRPC code for the peer service (`raft`), the client API
//! (`api`) and the site protocol (`site`). Wire formats only grow: new fields and messages,
//! never renumbered ones.

/// Peer-to-peer Raft traffic between members.
pub mod raft {
    tonic::include_proto!("moor.raft.v1");
}

/// The client API served by every member.
pub mod api {
    tonic::include_proto!("moor.api.v1");
}

/// The workflow API: blueprints, sites, environments, executions.
pub mod workflow {
    tonic::include_proto!("moor.workflow.v1");
}

/// The rollout API: groups and bulk executions in waves.
pub mod rollout {
    tonic::include_proto!("moor.rollout.v1");
}

/// The site protocol: apply, delete and observe resources at a site, fenced and idempotent.
pub mod site {
    tonic::include_proto!("moor.site.v1");
}
