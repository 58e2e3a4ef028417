//! The client API of a member: the listener with its limits ([`server`]), one file per
//! gRPC service ([`kv_service`] for `MoorApi`, [`workflow_service`], [`rollout_service`]),
//! and the read/write helpers they share ([`shared`]); [`drift`] holds the drift policy and
//! `DiffEnvironment` side of the workflow and rollout services; [`hooks_service`] (`HookApi`:
//! receivers, sources, triggers) and [`http`] (webhook deliveries over HTTP). Requests are parsed and validated
//! here, once: the commands they become carry parsed structures, so apply never parses.

pub mod auth;
pub mod backup;
pub mod blueprint_check;
pub mod drift;
pub mod grpc_metrics;
pub mod hooks_service;
pub mod http;
pub mod kv_service;
pub mod rollout_service;
pub mod sealing;
pub mod server;
pub mod shared;
pub mod workflow_service;
