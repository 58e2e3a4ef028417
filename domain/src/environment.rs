//! Environments: a blueprint revision + inputs placed on a site (the desired state), what
//! Moor last saw there (the observed state), and a status derived from both and from the
//! latest execution.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use std::collections::{BTreeMap, VecDeque};

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use crate::atom::Atom;
use crate::drift::DriftPolicy;
use crate::properties::Properties;
use crate::site::Labels;

pub use moor_proto::names::EnvStatus;

/// An environment's resources by name, or what is known of each: a sorted `Vec`, which
/// encodes like the `BTreeMap` it replaced. A handful of resources per environment, times
/// 100,000 environments: a B-tree's node keeps 11 slots whatever it holds, which made these
/// maps several times their content (docs/BENCHMARKS.md, "Memory at 100,000 environments").
pub type ResourceMap<V> = LiteMap<Atom, V>;

/// An environment's inputs by name: parsed and checked where a request arrives, so apply
/// never parses JSON.
pub type Inputs = BTreeMap<String, serde_json::Value>;

/// The state of one resource as an execution left it at the site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedResource {
    pub resource_type: Atom,
    /// Shared with the step that made it and with every resource of the same digest.
    pub properties: Properties,
    pub digest: Atom,
    pub depends_on: Vec<Atom>,
}

/// What the site last reported for one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedResource {
    /// Digest reported by the site; `None` when the resource is missing there.
    pub digest: Option<Atom>,
    pub observed_ms: u64,
}

/// A revision an environment ran, kept for rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionRecord {
    pub revision: u64,
    pub inputs: Inputs,
}

/// One environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    pub site: String,
    pub blueprint: String,
    /// Revision the desired state refers to (the latest one started).
    pub revision: u64,
    /// Inputs as a JSON object (values of secret inputs included: the log is the store).
    pub inputs: Inputs,
    pub labels: Labels,
    /// Per resource, what the executions established at the site.
    pub applied: ResourceMap<AppliedResource>,
    /// Per resource, what the site last reported.
    pub observed: ResourceMap<ObservedResource>,
    pub status: EnvStatus,
    /// Revisions that completed successfully, oldest first (bounded).
    pub history: Vec<RevisionRecord>,
    /// Running execution, if any.
    pub current_execution: Option<String>,
    /// Executions waiting for the current one to end, oldest first.
    pub queue: VecDeque<String>,
    /// Latest execution started (running or ended).
    pub latest_execution: Option<String>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The environment's own drift policy (None: a group's, or the default; see `drift`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftPolicy>,
    /// When drift started a heal, within the last hour (bounded by the heal cap's maximum).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heals_ms: Vec<u64>,
    /// Why drift is not healed automatically right now (the heal cap was reached); cleared
    /// when the environment is seen in sync or a heal starts again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal_suspended: Option<String>,
}

/// Most revisions kept in an environment's history.
pub const HISTORY_LIMIT: usize = 20;

impl Environment {
    /// Resources whose observed digest differs from what was applied (drift), with the
    /// observed digest (`None`: missing at the site).
    pub fn drift(&self) -> BTreeMap<String, (String, Option<String>)> {
        self.applied
            .iter()
            .filter_map(|(name, a)| {
                let seen = self.observed.get(name).and_then(|o| o.digest.as_deref());
                (seen != Some(a.digest.as_str())).then(|| {
                    (
                        name.to_string(),
                        (a.digest.to_string(), seen.map(str::to_string)),
                    )
                })
            })
            .collect()
    }

    /// The revision before the current one, for rollback.
    pub fn previous_revision(&self) -> Option<&RevisionRecord> {
        let n = self.history.len();
        n.checked_sub(2).and_then(|i| self.history.get(i))
    }
}
