//! The replicated workflow registry: blueprint revisions, sites, environments, executions,
//! groups and rollouts, and the pure `apply` of every workflow command. Deterministic: times
//! and terms come from the command, ids from counters in the state.
//!
//! One file per concern, all of them `impl` blocks on [`WorkflowState`] (defined with the
//! commands and results in `types.rs`), so none imports another's importer: `apply.rs`
//! routes, `blueprints.rs`, `environments.rs`, `executions.rs`, `observations.rs` (drift and
//! its policy) and `rollouts.rs` transition,
//! `invariants.rs` checks the whole registry; `pools.rs` keeps the shared properties and
//! strings, also while a state is decoded.

mod apply;
mod blueprints;
mod environments;
mod executions;
mod invariants;
mod observations;
mod pools;
mod reachability;
mod rollouts;
mod secrets;
mod types;

pub use secrets::MAX_RESEAL;
pub use types::*;

#[cfg(test)]
mod tests;
