//! `moor-domain`: Moor's replicated state and its pure apply.
//!
//! Everything every member must compute identically from the Raft log lives here, and
//! nothing else: no async runtime, no RPC framework, no storage engine, no Raft library, no
//! clock and no randomness (clippy's `disallowed-methods` / `disallowed-types` in this
//! crate's `clippy.toml` refuse them). The leader stamps times and ids into commands; the
//! entry's index and term come from the log.
//!
//! Two rules hold for [`state::MoorState::apply`]:
//! - **apply never panics**: a command it cannot carry out is refused with a typed error as
//!   its result and changes nothing; [`state::MoorState::invariants`] checks the whole state
//!   (the tests after every command, moord's debug builds after every entry, never apply
//!   itself);
//! - **apply does not parse**: blueprint YAML, inputs and wave specs are parsed and
//!   validated where a request arrives (`node`'s API), and commands carry the resolved
//!   structures, so two binaries with different parsers compute the same state from the
//!   same log.
//!
//! Code map: [`command`] (the replicated commands and results), [`state`] (all namespaces,
//! apply, invariants, snapshots), [`kv`] (variables), [`blueprint`] (YAML → validated spec
//! → rendered resources; used by apply only through rendering), [`plan`] (steps from a diff), [`properties`] (rendered properties shared by digest), [`atom`] (names and digests shared),
//! [`site`], [`environment`], [`drift`] (drift policies and the heal cap), [`execution`] (step transitions), [`rollout`] (groups, waves,
//! budgets, per-target bookkeeping), [`workflow`] (the registry and its transitions),
//! [`auth`] (tokens, roles, permissions and the audit log; audited commands are checked
//! again at their index), [`hooks`] (webhook receivers and their deliveries, Git sources,
//! triggers), [`cluster`] (the cluster's identity and feature level; a state restored from a
//! backup), [`feature`] (feature levels: what adjacent releases agree to apply),
//! [`codec`] (the versioned encoding of log payloads and snapshots).

pub mod atom;
pub mod auth;
pub mod blueprint;
pub mod cluster;
pub mod codec;
pub mod command;
pub mod drift;
pub mod environment;
pub mod execution;
pub mod feature;
pub mod hooks;
pub mod kv;
pub mod plan;
pub mod properties;
pub mod rollout;
pub mod sealed;
pub mod site;
pub mod state;
pub mod text;
pub mod workflow;

pub use moor_proto::names;
