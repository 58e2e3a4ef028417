//! The data of webhooks, sources and triggers: the state, the commands that change it and
//! their results.
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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::Retention;
use crate::workflow::{WorkflowError, WorkflowState};

use super::receiver::{Delivery, DeliveryIn, Receiver, ReceiverSpec, MAX_DELIVERIES};
use super::source::{FetchBasis, FetchedFile, Source, SourceSpec};
use super::trigger::{Trigger, TriggerSpec, MAX_FIRINGS};

/// Receivers, sources and triggers, by name.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct HooksState {
    pub receivers: BTreeMap<String, Receiver>,
    pub sources: BTreeMap<String, Source>,
    pub triggers: BTreeMap<String, Trigger>,
}

impl HooksState {
    /// True when nothing was ever configured (the state then encodes as it did before
    /// webhooks existed).
    pub fn is_empty(&self) -> bool {
        self.receivers.is_empty() && self.sources.is_empty() && self.triggers.is_empty()
    }

    /// Every trigger's source exists; kept histories are within their bounds and keyed by
    /// the name they are stored under; a trigger's running rollout exists.
    pub fn invariants(&self, workflow: &WorkflowState) -> Result<(), String> {
        for (name, r) in &self.receivers {
            if &r.spec.name != name {
                return Err(format!(
                    "receiver stored as {name} is named {}",
                    r.spec.name
                ));
            }
            if r.deliveries.len() > MAX_DELIVERIES {
                return Err(format!(
                    "receiver {name} keeps {} deliveries",
                    r.deliveries.len()
                ));
            }
            if (r.deliveries.len() as u64) > r.recorded {
                return Err(format!(
                    "receiver {name} keeps more deliveries than it recorded"
                ));
            }
        }
        for (name, s) in &self.sources {
            if &s.spec.name != name {
                return Err(format!("source stored as {name} is named {}", s.spec.name));
            }
        }
        for (name, t) in &self.triggers {
            if &t.spec.name != name {
                return Err(format!("trigger stored as {name} is named {}", t.spec.name));
            }
            if !self.sources.contains_key(&t.spec.source) {
                return Err(format!(
                    "trigger {name} follows missing source {}",
                    t.spec.source
                ));
            }
            if t.firings.len() > MAX_FIRINGS {
                return Err(format!("trigger {name} keeps {} firings", t.firings.len()));
            }
            if let Some((id, _)) = &t.running {
                if !workflow.rollouts.rollouts.contains_key(id) {
                    return Err(format!("trigger {name} runs missing rollout {id}"));
                }
            }
        }
        Ok(())
    }
}

/// What the proposing member adds so apply can write the audit record: where the request
/// came from and how long the trail is kept (the member's configuration, carried like an
/// audit stamp's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditNote {
    pub member: u64,
    pub peer: String,
    pub retention: Retention,
}

/// A change to receivers, sources or triggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HooksCommand {
    /// Create or replace a receiver (a client's, audited like every client write).
    PutReceiver {
        spec: ReceiverSpec,
        now_ms: u64,
    },
    DeleteReceiver {
        name: String,
    },
    /// A delivery that passed authentication at the member that received it: recorded
    /// once by its id, with what it asked for.
    RecordDelivery {
        receiver: String,
        delivery: DeliveryIn,
        note: AuditNote,
        now_ms: u64,
    },
    PutSource {
        spec: SourceSpec,
        now_ms: u64,
    },
    DeleteSource {
        name: String,
    },
    /// Ask for a fetch of the source now (a client's sync, or the leader's poll).
    SyncSource {
        name: String,
        now_ms: u64,
    },
    /// The leader fetched `commit`: these are all the blueprint files under the source's
    /// path, parsed and validated. Applied whole, or not at all.
    SourceFetched {
        source: String,
        /// The source as the fetch found it: a source replaced since then (another URL,
        /// branch or path) discards the result; an ask that arrived since stays pending.
        basis: FetchBasis,
        commit: String,
        files: Vec<FetchedFile>,
        note: AuditNote,
        now_ms: u64,
    },
    /// The leader's fetch failed: nothing is applied, the source says why.
    SourceFailed {
        source: String,
        basis: FetchBasis,
        /// The commit it got to, when the failure is in the files (not the fetch).
        commit: Option<String>,
        error: String,
        note: AuditNote,
        now_ms: u64,
    },
    PutTrigger {
        spec: TriggerSpec,
        now_ms: u64,
    },
    DeleteTrigger {
        name: String,
    },
    /// The leader saw the trigger's running rollout end: start the queued revision, if any.
    AdvanceTrigger {
        name: String,
        note: AuditNote,
        now_ms: u64,
    },
}

/// What a [`HooksCommand`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HooksResult {
    Put {
        created: bool,
    },
    Deleted {
        deleted: bool,
    },
    /// The delivery as recorded; `duplicate`: recorded before, by an earlier delivery with
    /// the same id (this one changed nothing).
    Delivery {
        delivery: Box<Delivery>,
        duplicate: bool,
    },
    /// Revisions made (blueprint, revision) and rollouts started by a fetch.
    Fetched {
        revisions: Vec<(String, u64)>,
        rollouts: Vec<String>,
    },
    Done,
    Rejected(WorkflowError),
}
