//! The object of a request: what permissions and scopes are checked against, and what an
//! audit stamp names. Its own file so the audit trail and the permission rules can both use
//! it without depending on each other.

use serde::{Deserialize, Serialize};

/// The object of a request, as the member resolved it: `rollout.start` carries the group
/// and the blueprint, `execution.start` the environment (`name`) and its blueprint.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub name: Option<String>,
    pub group: Option<String>,
    pub blueprint: Option<String>,
}
