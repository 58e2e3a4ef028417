//! `moor-site`: the site side of Moor's site protocol (`moor.site.v1.SiteAgent`).
//!
//! A member's executor calls a site with an idempotency key (execution, step), an attempt
//! number and a fence token; the site answers APPLIED, DUPLICATE, FENCED or FAILED. What makes
//! those answers trustworthy — fencing and dedupe — is decided here, once, for every kind of
//! site: `moor-sitesim` (many simulated sites behind one endpoint, for the fault-injection
//! suite, the benchmarks and demos) and `moor-agent` (the real agent of one machine: files and
//! commands, its fence token and recorded keys kept durably on disk).
//!
//! `moor-sitesim` keeps hundreds to 100,000 simulated sites behind one endpoint, so bulk
//! rollouts run for real without real sites. Each site keeps only what the protocol's
//! guarantees need — the highest fence token it accepted, its resources, and the recorded
//! result of every idempotency key it applied — and writes one journal line per answered call.
//! The journal is the ground truth the WF2/WF3/WF5 checkers hold Moor to;
//! `--unsafe-no-fencing-no-dedupe` turns the guarantees off so the WF6 negative control can
//! prove the checkers see violations.
//!
//! Modules, one job each:
//! - [`protocol`]: the numbered rules a site answers by (fencing, dedupe, failure, effect) as
//!   two pure decisions every kind of site shares, and one simulated site's state. Pure: no
//!   clock, I/O, randomness, tokio or tonic.
//! - [`agent`]: `moor-agent`, the real site agent: config, durable store (fence token, keys,
//!   resources), `agent.file` and `agent.command`, its `SiteAgent` service.
//! - [`hash`]: the stable hash the rules (digests) and the simulator (dice) share.
//! - [`journal`]: the journal format (one JSON line per answered call), its writer and its
//!   reader. The WF2/WF3/WF5 checkers in `jepsen-like-tests` read journals through it.
//! - [`sim`]: all simulated sites of one process and how calls reach them: latency, failures,
//!   unreachable sites, drift, seeded dice, counters.
//! - [`config`]: [`SimConfig`] and the `moor-sitesim` flags that fill it.
//! - [`service`]: the gRPC services (`SiteAgent`, `SiteSimAdmin`) over a [`SiteSim`]; over TLS,
//!   `SiteAgent` answers members only.
//! - [`callers`], [`request`]: what every `SiteAgent` server checks first — the caller (members
//!   only over TLS) and the request's fields.
//! - [`process`]: what a site binary does around its work: logs, runtime, bind and announce,
//!   SIGTERM/ctrl-c, SIGHUP (TLS reload).
//! - [`server`]: [`serve`] (listener + shutdown future; TLS or plaintext) and [`RunningSim`]
//!   for in-process tests.
//! - [`errors`]: [`SimError`] and its gRPC status codes, in one place.
//! - `src/bin/moor-sitesim.rs`, `src/bin/moor-agent.rs`: the thin binaries.
//!
//! Security: whoever can call a site can send any fence token, and one call with a token
//! above every real term would fence the real controllers out of that site for good. So a
//! site serves TLS with client certificates required (`--tls-cert`, `--tls-key`, `--tls-ca`,
//! files reloaded when they change), and a `SiteAgent` call is answered only when the
//! caller's certificate names a member (`member-<id>.moor`, as the members' own certificates
//! do); anyone else gets PERMISSION_DENIED before any protocol rule runs, so nothing is
//! applied, fenced or journaled. Plaintext (no TLS flags) is for tests and demos on loopback,
//! and is logged as such at every start; `moor-agent` serves the same way, and plaintext only
//! when told so explicitly (`--insecure-plaintext`).
//!
//! Dependencies point one way: this crate needs `moor-proto` and `moor-tls` only. It never
//! links `moor-node` or `moor-domain` (a site talks to members over the wire) nor
//! `jepsen-like-tests` (which depends on it).

pub mod agent;
pub mod callers;
pub mod config;
pub mod errors;
pub mod hash;
pub mod journal;
pub mod process;
pub mod protocol;
pub mod request;
pub mod server;
pub mod service;
pub mod sim;

pub use config::{ConfigError, SimArgs, SimConfig};
pub use errors::SimError;
pub use journal::{JournalOp, JournalOutcome, JournalRecord, JOURNAL_FORMAT_VERSION};
pub use server::{load_tls, serve, serve_with_tls, RunningSim};
pub use sim::{SimStats, SiteSim};

/// Longest site, environment, resource or execution name accepted (a DNS name's length).
pub const MAX_NAME_BYTES: usize = 253;

/// The simulator's executable (its Cargo `[[bin]]` name): harnesses look for it in the
/// directory of the project's binaries (`MOOR_BIN_DIR`), images copy it by this name.
pub const SITESIM_BIN: &str = "moor-sitesim";

/// The first stdout line of `moor-sitesim` is this followed by the address it listens on, so a
/// harness that starts it with `--listen 127.0.0.1:0` can learn the port.
pub const SITESIM_LISTENING: &str = "moor-sitesim listening on ";

/// The address in `moor-sitesim`'s first stdout line, or `None` if `line` is something else.
pub fn listening_addr(line: &str) -> Option<&str> {
    line.trim().strip_prefix(SITESIM_LISTENING)
}
