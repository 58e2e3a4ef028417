//! `moord`, a member of Moor's Raft-replicated control plane, as a library: the binary in
//! `main.rs` only parses flags, binds the listener and calls [`app::run`].
//!
//! Layers (each a folder; dependencies point down this list, never up):
//! - [`app`]: one member in one call (`run(config, listener, driver, shutdown)`);
//! - [`api`]: the gRPC services clients call, and the listener;
//! - [`exec`]: the executor on the leader and the `SiteDriver` seam to sites;
//! - [`raft`]: the member, the proposer, Raft networking, the state-machine adapter;
//! - [`config`]: settings; [`errors`]: error kinds and their gRPC codes, in one place;
//!   [`metrics`]: the member's counters and gauges, which every layer above updates;
//! - [`restore`]: `moord restore`, seeding a new cluster's first member from a backup file;
//! - [`telemetry`]: optional OTLP trace export and the trace context carried between members.
//!
//! The replicated state and its pure apply live in `moor-domain`, not here.

pub mod api;
pub mod app;
pub mod config;
pub mod errors;
pub mod exec;
pub mod metrics;
pub mod raft;
pub mod restore;
pub mod secrets;
pub mod telemetry;
