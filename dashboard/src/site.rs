//! What the caller hands the dashboard: plain data copied out of Moor's replicated state.
//!
//! These types are deliberately not Moor's own (this crate links no other Moor crate), so the
//! map can be built and tested alone; `node/` fills them from `moor-domain`'s sites,
//! environments and executions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::status::Status;

/// One site as the map sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteDot {
    pub name: String,
    pub region: String,
    /// Degrees, −90..=90. A site whose coordinates are not a number or out of range is left
    /// off the map and counted in `MapData::unplaced`.
    pub lat: f64,
    /// Degrees, −180..=180.
    pub lon: f64,
    pub labels: BTreeMap<String, String>,
    /// The worst status of its environments ([`Status::worst`]), or
    /// [`Status::Unreachable`] while its drift checks (or probes) get no answer.
    pub status: Status,
}

/// Everything the site page shows about one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SitePage {
    pub name: String,
    pub region: String,
    pub lat: f64,
    pub lon: f64,
    pub labels: BTreeMap<String, String>,
    pub environments: Vec<EnvRow>,
    /// Most recent first, as the caller wants them shown; the caller bounds the list.
    pub executions: Vec<ExecRow>,
    /// Set while the drift checks (or probes) get no answer from the site: since when (ms since the
    /// epoch) and the driver's error. The page is then [`Status::Unreachable`].
    #[serde(default)]
    pub unreachable: Option<(u64, String)>,
}

/// One environment on the site page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvRow {
    pub name: String,
    pub blueprint: String,
    pub revision: u64,
    /// Its status on the map's scale (colours the row).
    pub status: Status,
    /// The environment's own status word, finer than `status` (`rolling_back`, `healing`,
    /// …), shown beside it; empty to show `status` alone.
    pub phase: String,
    pub resources: Vec<ResourceRow>,
}

/// One resource of an environment: its desired and observed digests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRow {
    pub name: String,
    /// The resource's type (`k8s.deployment`, …); empty when unknown.
    #[serde(default)]
    pub resource_type: String,
    pub desired_digest: String,
    /// Empty when nothing was observed yet.
    pub observed_digest: String,
    pub drifted: bool,
}

/// One execution on the site page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRow {
    pub id: String,
    /// `install`, `update`, `heal`, … (the wire name).
    pub kind: String,
    /// `running`, `succeeded`, `failed`, … (the wire name).
    pub state: String,
    /// Milliseconds since the Unix epoch; shown in UTC.
    pub created_ms: u64,
    pub steps_done: u32,
    pub steps_total: u32,
}
