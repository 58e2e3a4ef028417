//! `moor-agent`: the real site agent. It runs on a machine, serves the site protocol
//! (`SiteAgent`) for that one site, and changes real things: files below a root directory
//! (`agent.file`), whatever commands do (`agent.command`) and, with a `[kubernetes]`
//! section, objects in the site's own cluster (`kubernetes.manifest`, through `moor-kube`,
//! the library members drive Kubernetes sites with). The binary is
//! `src/bin/moor-agent.rs`; everything else is here, one job per file:
//!
//! - `config`: [`AgentConfig`] from a TOML file, flags and `MOOR_AGENT_*` variables;
//!   validation and the directory checks of `--check-config`.
//! - `server`: [`open`] (directories, cluster client, store) and [`serve`] (listener +
//!   shutdown future).
//! - `service`: the gRPC `SiteAgent` service: caller check, request checks, site name.
//! - `site`: [`AgentSite`]: one call answered by the shared protocol rules
//!   ([`crate::protocol::admit`] / [`crate::protocol::settle`]) around a real effect, one
//!   mutating call at a time.
//! - `store`: the durable memory, an append-only record log with checksums, fsynced before
//!   any answer, replayed at start (a torn last record dropped with a warning), compacted.
//! - `memory`: what the store's records rebuild — highest fence token, recorded keys,
//!   resources — and how keys are pruned: each environment keeps the keys of its latest
//!   [`KEEP_EXECUTIONS_PER_ENVIRONMENT`] executions (an environment runs one execution at a
//!   time, so a correct leader never retries an older one), at most [`MAX_KEYS`] in all.
//! - `resource`: the resource types behind one face, and the digests Observe reports.
//! - `file`, `command`, `kube`: `agent.file`, `agent.command` and `kubernetes.manifest`
//!   (why the cluster's fence object is not used: `kube.rs`).
//! - `paths`: confinement to the root (no absolute paths, no `..`, no symlinks).
//! - `digest`: sha256 hex and the drift digest prefixes.
//! - `errors`: [`AgentError`] and its gRPC codes.

mod command;
mod config;
mod digest;
mod errors;
mod file;
mod kube;
mod memory;
mod paths;
mod resource;
mod server;
mod service;
mod site;
mod store;

pub use command::{Limits, COMMAND_TYPE, STDERR_TAIL_BYTES};
pub use config::{AgentArgs, AgentConfig, KubernetesConfig, LoadError, DEFAULT_AGENT_PORT};
pub use digest::{sha256_hex, COMMAND_DRIFT_PREFIX, FILE_DRIFT_PREFIX};
pub use errors::AgentError;
pub use file::FILE_TYPE;
pub use kube::{cluster_settings, MANIFEST_TYPE};
pub use memory::{KEEP_EXECUTIONS_PER_ENVIRONMENT, MAX_KEYS};
pub use server::{connect_cluster, open, open_with_cluster, serve, MAX_REQUEST_BYTES};
pub use site::{AgentSite, Mutation};
pub use store::{StoreError, STORE_FILE, STORE_FORMAT};

/// The agent's executable (its Cargo `[[bin]]` name).
pub const AGENT_BIN: &str = "moor-agent";

/// The first stdout line of `moor-agent` is this followed by the address it listens on, so a
/// harness that starts it on port 0 can learn the port.
pub const AGENT_LISTENING: &str = "moor-agent listening on ";

/// The address in `moor-agent`'s first stdout line, or `None` if `line` is something else.
pub fn agent_listening_addr(line: &str) -> Option<&str> {
    line.trim().strip_prefix(AGENT_LISTENING)
}
