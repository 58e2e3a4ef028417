//! Cluster feature levels: which replicated commands and apply behaviours are in force, so
//! members of adjacent releases can run one cluster during a rolling upgrade.
//!
//! A release's apply must compute the same state as the release before it, from the same
//! log, for as long as both run in one cluster. So anything new that changes what apply
//! does, or that an older member could not decode (a new command), waits for the cluster's
//! feature level, which is replicated state: it rises by one committed command
//! ([`crate::cluster::ClusterCommand::SetFeatureLevel`]), proposed only once every member
//! told the leader it supports the new level, and it never falls. From that entry on,
//! every member applies the new behaviour at the same index.
//!
//! | level | release | what it adds |
//! | --- | --- | --- |
//! | 1 | every release before feature levels (up to commit 87007b1) | — |
//! | 2 | commits up to 03159f6 | the level itself (`SetFeatureLevel`); each step keeps the history of its attempts |
//! | 3 | this one | sites the drift checks cannot reach are recorded (`SiteReachability`), and forgotten when a step there succeeds or the site gets another driver |
//!
//! A member whose build supports less than the applied level must not go on applying (it
//! would misread what it does not know): moord stops it, naming the release to run.
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

use serde::{Deserialize, Serialize};

/// The highest feature level this build understands and can apply.
pub const SUPPORTED: FeatureLevel = FeatureLevel(3);

/// The level of every state written before feature levels existed.
pub const BASE: FeatureLevel = FeatureLevel(1);

/// From this level on, each step records every attempt (dispatch, fence token, result).
pub const STEP_ATTEMPTS: FeatureLevel = FeatureLevel(2);

/// From this level on, the state records which sites the drift checks cannot reach.
pub const SITE_REACHABILITY: FeatureLevel = FeatureLevel(3);

/// A cluster feature level. A state without one (written before levels existed) is at
/// [`BASE`], and a state at `BASE` leaves it out of its encoding, so it encodes and
/// digests exactly as the releases before levels wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FeatureLevel(pub u32);

impl Default for FeatureLevel {
    fn default() -> Self {
        BASE
    }
}

impl FeatureLevel {
    /// True at [`BASE`] (left out of the encoding then).
    pub fn is_base(&self) -> bool {
        *self == BASE
    }

    /// A level as a peer or an older release reports it: 0 (the field absent) means `BASE`.
    pub fn reported(level: u32) -> FeatureLevel {
        FeatureLevel(level.max(BASE.0))
    }

    /// True when behaviour introduced at `feature` is in force at this level.
    pub fn has(&self, feature: FeatureLevel) -> bool {
        *self >= feature
    }
}

impl std::fmt::Display for FeatureLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a member cannot follow a cluster at `applied`, if it cannot: its build supports less.
pub fn unsupported(applied: FeatureLevel) -> Option<String> {
    (applied > SUPPORTED).then(|| {
        format!(
            "this cluster runs at feature level {applied}, but this moord supports feature \
             levels up to {SUPPORTED}: it cannot apply what the cluster now writes. Run this \
             member with the cluster's current release (a level, once raised, never falls: \
             downgrade by restoring a backup taken before the raise into a new cluster)"
        )
    })
}

#[cfg(test)]
#[path = "tests/feature_unit.rs"]
mod tests;
