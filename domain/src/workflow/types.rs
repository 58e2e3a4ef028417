//! The workflow domain's data: blueprint revisions, the commands that change the registry,
//! their results, and the registry itself ([`WorkflowState`]). The transitions live next
//! door, one file per concern: `blueprints.rs`, `environments.rs`, `executions.rs`,
//! `rollouts.rs`; `apply.rs` routes a command to them.
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

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::atom::AtomPool;
use crate::blueprint::BlueprintSpec;
use crate::drift::DriftPolicy;
use crate::environment::{Environment, Inputs};
use crate::execution::{
    CheckpointRejected, ExecKind, ExecState, Execution, RetryPolicy, StepOutcome,
};
use crate::properties::PropertiesPool;
use crate::rollout::Group;
use crate::rollout::{RolloutOp, RolloutSpec, Rollouts};
use crate::site::{Site, Unreachable};

/// One immutable blueprint revision (`name@revision`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintRevision {
    pub name: String,
    pub revision: u64,
    pub spec: BlueprintSpec,
    pub source: String,
    pub created_ms: u64,
    /// Where it came from when a Git source made it (None: applied by a client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// The Git source, commit and file a blueprint revision was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub source: String,
    pub commit: String,
    pub path: String,
}

/// What an observer saw of an environment when it started observing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObserveBasis {
    /// The environment's latest execution then (it had none running). An execution that
    /// starts later becomes the latest, so a different value at apply means one has touched
    /// the environment since.
    pub latest_execution: Option<String>,
}

/// A change to the workflow domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkflowCommand {
    /// Store a new revision of a blueprint (no new revision if the source is unchanged).
    PutBlueprint {
        /// The parsed, validated blueprint (parsed once, where the request arrived).
        spec: BlueprintSpec,
        /// The text it was parsed from, kept for `blueprint show` and to detect an unchanged
        /// push.
        source: String,
        now_ms: u64,
    },
    /// Create or replace a site.
    PutSite {
        site: Site,
        now_ms: u64,
    },
    /// Create an environment and start installing it.
    CreateEnvironment {
        name: String,
        site: String,
        blueprint: String,
        /// None: the latest revision.
        revision: Option<u64>,
        inputs: Inputs,
        labels: BTreeMap<String, String>,
        retry: RetryPolicy,
        now_ms: u64,
        /// The environment's own drift policy (None: a group's, or the default).
        #[serde(default)]
        drift: Option<DriftPolicy>,
    },
    /// Set (or clear, with None) an environment's own drift policy.
    SetDriftPolicy {
        environment: String,
        policy: Option<DriftPolicy>,
        now_ms: u64,
    },
    /// Start (or queue) an execution on an environment.
    StartExecution {
        environment: String,
        kind: ExecKind,
        /// For updates: the revision to move to (None: the latest).
        revision: Option<u64>,
        /// For updates: new inputs (None: keep).
        inputs: Option<Inputs>,
        retry: RetryPolicy,
        now_ms: u64,
    },
    Resume {
        execution: String,
        now_ms: u64,
    },
    Cancel {
        execution: String,
        now_ms: u64,
    },
    /// Step checkpoints, batched: many dispatches and results in one log entry.
    Checkpoints {
        now_ms: u64,
        items: Vec<Checkpoint>,
        /// How many follow-up steps this entry may dispatch by itself: steps made ready by
        /// its results and first steps of rollout children it starts. The proposing leader
        /// calls the drivers for them, so a step costs one entry, not two.
        dispatch_budget: u32,
    },
    /// What a site reported for an environment's resources (drift detection).
    Observed {
        environment: String,
        resources: BTreeMap<String, Option<String>>,
        now_ms: u64,
        /// The environment as the observer found it before calling the site. Apply discards
        /// the observation when an execution has touched the environment since: the site
        /// may have answered before or after that execution's steps, so the observation
        /// says nothing reliable about the resources the execution has since recorded.
        /// None (an older member's command): recorded as before.
        #[serde(default)]
        basis: Option<ObserveBasis>,
    },
    /// Create or replace a group.
    PutGroup {
        group: Group,
        now_ms: u64,
    },
    DeleteGroup {
        name: String,
    },
    /// Start a rollout over a group.
    StartRollout {
        spec: RolloutSpec,
        now_ms: u64,
    },
    /// Pause, resume, cancel, approve, re-cap or roll back a rollout.
    ControlRollout {
        id: String,
        op: RolloutOp,
        now_ms: u64,
    },
    /// Set the cap on running children over all rollouts.
    SetRolloutLimits {
        max_parallel_total: u32,
        now_ms: u64,
    },
    /// Replace sealed input values of an environment (its inputs and its history) by the
    /// same values sealed under another key (`moorctl secrets reseal`). Each key of
    /// `replace` is a whole sealed token, its value the new token of the same fingerprint;
    /// anything else is refused, so this can move a secret to a new key but never change it
    /// (no digest, plan or resource changes).
    ResealInputs {
        environment: String,
        replace: BTreeMap<String, String>,
        now_ms: u64,
    },
    /// What the leader's drift checks found of a site's reachability (feature level 3):
    /// `error` set, the site did not answer; `None`, it answered again. Proposed only when
    /// the recorded reachability changes.
    SiteReachability {
        site: String,
        error: Option<String>,
        now_ms: u64,
    },
}

/// One step checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Checkpoint {
    /// The leader is about to call the driver for this step.
    Dispatch { execution: String, step: u32 },
    /// The driver answered for this attempt.
    Result {
        execution: String,
        step: u32,
        attempt: u32,
        outcome: StepOutcome,
    },
}

/// What a checkpoint did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckpointResult {
    /// Dispatch accepted: call the driver with this attempt number.
    Dispatched {
        attempt: u32,
    },
    Recorded,
    Rejected(CheckpointRejected),
}

/// Why a workflow command was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum WorkflowError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
}

/// The result of a workflow command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkflowResult {
    Blueprint {
        name: String,
        revision: u64,
        created: bool,
    },
    Site {
        name: String,
        created: bool,
    },
    /// An environment or execution command: the execution started or queued.
    Execution {
        id: String,
        state: ExecState,
    },
    Done,
    /// An observation: recorded, or discarded because an execution touched the environment
    /// after the observer looked; `heal` is the heal execution the drift policy started.
    Observation {
        recorded: bool,
        heal: Option<String>,
    },
    Checkpoints {
        results: Vec<CheckpointResult>,
        /// Follow-up dispatches this entry made: (execution, step, attempt).
        dispatched: Vec<(String, u32, u32)>,
    },
    Group {
        name: String,
        created: bool,
        matches: u64,
    },
    Rollout {
        id: String,
    },
    Rejected(WorkflowError),
}

/// Blueprints, sites, environments and executions.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowState {
    pub blueprints: BTreeMap<String, Vec<BlueprintRevision>>,
    pub sites: BTreeMap<String, Site>,
    /// Decoded sharing properties and strings entry by entry (`pools.rs`).
    #[serde(deserialize_with = "crate::workflow::pools::decode_environments")]
    pub environments: BTreeMap<String, Environment>,
    #[serde(deserialize_with = "crate::workflow::pools::decode_executions")]
    pub executions: BTreeMap<String, Execution>,
    /// Ids of running executions: what the executor scans.
    pub running: BTreeSet<String>,
    pub(crate) next_execution: u64,
    /// Groups and rollouts.
    pub rollouts: Rollouts,
    /// Appended to every new execution id (`x42-r1a2b3c4d5e6f`); set when the state was
    /// restored from a backup, so the new cluster never reuses an id — hence an idempotency
    /// key at a site — that the old cluster handed out after the backup. Left out of the
    /// encoding while empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) execution_suffix: String,
    /// Per environment, the ids of its executions in the order they were created: derived
    /// from `executions` (never encoded, rebuilt by [`WorkflowState::reindex`] after a
    /// decode) so an environment's executions are found without scanning them all.
    #[serde(skip)]
    pub(crate) by_environment: BTreeMap<String, Vec<String>>,
    /// Sites the leader's drift checks could not reach (feature level 3), by name. Left out
    /// of the encoding while empty, so a state without any encodes as before the level.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unreachable: BTreeMap<String, Unreachable>,
    /// One copy of each distinct rendered properties for every step and applied resource:
    /// derived (never encoded, rebuilt by [`WorkflowState::reindex`] after a decode).
    #[serde(skip)]
    pub(crate) shared_properties: PropertiesPool,
    /// One copy of each distinct resource name, type and digest the executions and
    /// environments hold: derived like `shared_properties`.
    #[serde(skip)]
    pub(crate) shared_atoms: AtomPool,
}

pub(crate) type Res<T> = Result<T, WorkflowError>;
