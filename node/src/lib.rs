//! `moord`, a member of Moor's Raft-replicated control plane, as a library: the binary in
//! `main.rs` only parses flags and calls [`server::serve`].
//!
//! Code map: [`config`] (settings), [`types`] (openraft types), [`command`] + [`state`] +
//! [`kv`] (the pure replicated state machine), [`member`] (a running member and the one path
//! to the leader), [`network`] + [`peer_service`] (Raft traffic between members),
//! [`api_service`] (the client API), [`errors`] (error kinds and their gRPC codes),
//! [`server`] (the listener), [`codec`] (wire and snapshot encoding).
//!
//! Workflows: [`blueprint`] (YAML, validation, rendering), [`plan`] (steps from a diff),
//! [`site`], [`environment`], [`execution`] (step state machine) and [`workflow`] (the
//! replicated registry and its pure apply), [`executor`] (drives executions on the leader),
//! [`driver`] (calls sites, fenced and idempotent), [`workflow_service`] (the API).
//!
//! Rollouts: [`rollout`] (groups, waves, budget, per-target bookkeeping), [`rollout_apply`]
//! (their replicated transitions: children started inside apply), [`rollout_service`] (the
//! API).

pub mod api_service;
pub mod blueprint;
pub mod codec;
pub mod command;
pub mod config;
pub mod driver;
pub mod environment;
pub mod errors;
pub mod execution;
pub mod executor;
pub mod kv;
pub mod member;
pub mod network;
pub mod ordinal;
pub mod peer_service;
pub mod plan;
pub mod proposer;
pub mod rollout;
pub mod rollout_apply;
pub mod rollout_service;
pub mod server;
pub mod site;
pub mod state;
pub mod types;
pub mod workflow;
pub mod workflow_service;
