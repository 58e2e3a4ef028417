//! Triggers: a new revision of a blueprint from a source starts a rollout of it.
//!
//! One rollout at a time per trigger. A revision arriving while the trigger's rollout runs
//! is handled by the trigger's policy: `queue` keeps the newest waiting revision (an older
//! waiting one is superseded: a rollout of a revision already replaced would be wasted
//! work) and starts it when the running rollout ends (the leader notices and proposes
//! `AdvanceTrigger`); `supersede` cancels the running rollout and starts the new one.
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

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

pub use crate::names::{FiringOutcome, TriggerPolicy};
use crate::rollout::RolloutSpec;

/// Firings kept per trigger, newest last.
pub const MAX_FIRINGS: usize = 50;

/// A trigger as a client sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerSpec {
    pub name: String,
    pub source: String,
    pub blueprint: String,
    /// The rollout to start; its action is an update whose revision the trigger sets.
    pub rollout: RolloutSpec,
    pub policy: TriggerPolicy,
}

/// What the trigger did with one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    pub revision: u64,
    pub rollout: Option<String>,
    pub at_ms: u64,
    pub outcome: FiringOutcome,
    pub error: String,
}

/// A trigger and its latest firings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub spec: TriggerSpec,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The rollout it started last, while that rollout has not ended, and its revision.
    pub running: Option<(String, u64)>,
    /// The revision waiting for `running` to end (policy `queue`).
    pub queued: Option<u64>,
    /// Newest last, at most [`MAX_FIRINGS`].
    pub firings: VecDeque<Firing>,
}

impl Trigger {
    pub(crate) fn push_firing(&mut self, firing: Firing) {
        self.firings.push_back(firing);
        while self.firings.len() > MAX_FIRINGS {
            self.firings.pop_front();
        }
    }

    /// Marks the queued firing of `revision` superseded.
    pub(crate) fn supersede_queued(&mut self, revision: u64) {
        if let Some(f) = self
            .firings
            .iter_mut()
            .rev()
            .find(|f| f.revision == revision && f.outcome == FiringOutcome::Queued)
        {
            f.outcome = FiringOutcome::Superseded;
        }
    }
}
