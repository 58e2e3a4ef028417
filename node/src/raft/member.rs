//! A running member: its Raft handle, its replicated state and the one path every request
//! takes to the leader.
//!
//! Every operation that needs the leader (a write, a read-index, a membership change) is a
//! [`LeaderRequest`]. [`Member::submit`] runs it here if this member leads, otherwise hands it
//! to the leader over the peer service and returns the leader's answer, waiting through an
//! election if there is no leader yet. Callers never see "not leader" unless no leader
//! appears before the deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use moor_raft_store::{AppliedReader, StoreClosed, StoreFault, StoreStats};
use openraft::error::{ChangeMembershipError, ClientWriteError, InitializeError, RaftError};
use openraft::raft::ClientWriteResponse;
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, ChangeMembers, RaftMetrics, SnapshotPolicy, Vote};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::errors::ApiError;
use crate::raft::features::{self, AppliedLevel, PeerLevels};
use crate::raft::forwarder::Forwarder;
use crate::raft::identity::IdentityCell;
use crate::raft::network::{Network, PeerChannels};
use crate::raft::proposer::{ProposeError, Proposer};
use crate::raft::read_index::ReadIndexer;
use crate::raft::removal::Removal;
use crate::raft::state_machine::Replicated;
use crate::raft::types::{MemberId, Raft, TypeConfig};
use moor_domain::cluster::{ClusterCommand, ClusterResult};
use moor_domain::command::{Command, CommandResult};
use moor_tls::TlsReloader;

/// An operation only the leader can perform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LeaderRequest {
    /// Commit a command (boxed: commands carry parsed blueprints and are far larger than
    /// the other requests; the wire format is the same).
    Write(Box<Command>),
    /// Confirm leadership with a quorum and return the index a linearizable read must wait
    /// for.
    ReadIndex,
    /// Add a non-voting member that replicates the log.
    AddLearner {
        id: MemberId,
        addr: String,
        wait: bool,
    },
    /// Make a learner a voter.
    Promote { id: MemberId },
    /// Remove a voter or learner from the group.
    Remove { id: MemberId },
    /// Raise the cluster's feature level: `command` is a `SetFeatureLevel` (audited when a
    /// client asked), its level 0 for "the highest every member supports"; the leader
    /// checks every member's report and puts the level in (see [`crate::raft::features`]).
    UpgradeFinalize { command: Box<Command> },
}

impl LeaderRequest {
    /// Whether a request whose answer was lost may have changed state.
    pub(crate) fn changes_state(&self) -> bool {
        !matches!(self, LeaderRequest::ReadIndex)
    }
}

/// The leader's answer to a [`LeaderRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LeaderReply {
    Written {
        log_index: u64,
        result: CommandResult,
    },
    ReadIndex {
        index: u64,
    },
    Membership(MembershipView),
    /// The feature level after an `UpgradeFinalize` (`log_index` 0: it already was there).
    FeatureLevel {
        previous: u32,
        level: u32,
        log_index: u64,
    },
}

/// The members of the group as of a log index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipView {
    pub members: Vec<MemberInfo>,
    pub log_index: u64,
}

/// One member of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub id: MemberId,
    pub addr: String,
    pub voter: bool,
}

/// `command` with its audit time (and so the time its credential is checked at) taken from
/// this member's clock: called on the leader, just before it proposes, so every audit record
/// is leader-stamped whichever member received the request.
fn leader_stamped(command: Command) -> Command {
    match command {
        Command::Audited { mut stamp, command } => {
            stamp.at_ms = crate::exec::executor::now_ms();
            Command::Audited { stamp, command }
        }
        other => other,
    }
}

/// The level a `SetFeatureLevel` (maybe audited) asks for.
fn requested_level(command: &Command) -> Option<u32> {
    match command {
        Command::Audited { command, .. } => requested_level(command),
        Command::Cluster(ClusterCommand::SetFeatureLevel { level }) => Some(*level),
        _ => None,
    }
}

/// How long shutdown waits for the Raft store's database to close.
const STORE_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What openraft answers a write or a membership change with, when it fails.
type WriteError = RaftError<MemberId, ClientWriteError<MemberId, BasicNode>>;

/// A running member.
pub struct Member {
    pub id: MemberId,
    pub addr: String,
    pub raft: Raft,
    /// The applied domain state; readers take the lock briefly.
    pub state: Arc<RwLock<Replicated>>,
    pub stats: Arc<StoreStats>,
    /// This member's metrics (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The cluster identity this member has applied (empty: none yet).
    pub identity: IdentityCell,
    /// Whether this member was removed from the membership (then it serves nothing).
    pub removal: Arc<Removal>,
    /// The applied state with the log id and membership it is at (backups).
    pub applied: AppliedReader<TypeConfig, Replicated>,
    /// The secrets key file (None: secret values are stored in clear).
    pub secrets: Option<Arc<crate::secrets::SecretKeys>>,
    /// The feature level each peer's build supports, as its answers said.
    pub peer_levels: PeerLevels,
    /// The cluster feature level this member has applied.
    pub applied_level: AppliedLevel,
    /// Whether this member, leading, raises the feature level by itself.
    pub auto_finalize: bool,
    /// Hands requests to the leader when this member does not lead (writes gathered).
    forwarder: Forwarder,
    proposer: Proposer,
    reads: ReadIndexer,
    forward_timeout: Duration,
    /// Resolves once the Raft store's database is closed (after shutdown).
    store_closed: StoreClosed,
    /// Resolves with the first corruption the Raft store met while running.
    store_fault: StoreFault,
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot prepare data dir {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("data dir {path} belongs to member {found}, not member {expected}: point this member at its own data dir, or wipe it and re-add the member")]
    WrongMember {
        path: std::path::PathBuf,
        found: String,
        expected: MemberId,
    },
    #[error(transparent)]
    Store(#[from] moor_raft_store::StoreError),
    #[error("{0}")]
    Secrets(String),
    #[error("invalid raft settings: {0}")]
    RaftConfig(String),
    #[error("cannot start raft: {0}")]
    Raft(String),
}

impl Member {
    /// Opens the store in `config.data_dir` and starts Raft. Initialises a single-member
    /// cluster when `config.bootstrap_single` is set and this member has no state yet.
    pub async fn start(
        config: &Config,
        tls: Option<Arc<TlsReloader>>,
    ) -> Result<Arc<Member>, StartError> {
        let dir = &config.data_dir;
        let secrets = match &config.secrets.key_file {
            Some(path) => Some(Arc::new(
                crate::secrets::SecretKeys::load(path).map_err(StartError::Secrets)?,
            )),
            None => {
                tracing::warn!(
                    "secrets.key_file is not set: secret inputs and variables are stored IN \
                     CLEAR in the replicated state, snapshots and backups; make a key file \
                     with `moord secrets-key new --file FILE` and set secrets.key_file"
                );
                None
            }
        };
        claim_data_dir(dir, config.id)?;
        let store = moor_raft_store::open(&dir.join("raft"))?;
        let identity = IdentityCell::default();
        let removal = Arc::new(Removal::default());
        let applied_level = AppliedLevel::default();
        let peer_levels = PeerLevels::default();
        let state = Arc::new(RwLock::new(Replicated(
            moor_domain::state::MoorState::default(),
            identity.clone(),
            applied_level.clone(),
        )));
        let r = &config.raft;
        let append_budget = usize::try_from(r.max_append_bytes).unwrap_or(usize::MAX);
        let mut log_store = store
            .log_store::<TypeConfig>()
            .with_append_budget(append_budget);
        campaign_after_restart(&mut log_store, config.id).await?;
        let state_machine = store.state_machine::<TypeConfig, Replicated>(state.clone())?;
        let applied = state_machine.reader();

        let raft_config = openraft::Config {
            cluster_name: "moor".into(),
            heartbeat_interval: r.heartbeat_interval_ms,
            election_timeout_min: r.election_timeout_min_ms,
            election_timeout_max: r.election_timeout_max_ms,
            max_payload_entries: r.max_entries_per_append,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(r.snapshot_every_entries),
            snapshot_max_chunk_size: r.snapshot_chunk_bytes,
            max_in_snapshot_log_to_keep: r.keep_entries_after_snapshot,
            install_snapshot_timeout: r.forward_timeout_ms,
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::RaftConfig(e.to_string()))?;

        let network = Network {
            channels: PeerChannels::new(
                tls,
                identity.clone(),
                removal.clone(),
                peer_levels.clone(),
            ),
            backoff_cap: Duration::from_millis(r.election_timeout_min_ms),
        };
        let channels = network.channels.clone();
        let raft = Raft::new(
            config.id,
            Arc::new(raft_config),
            network,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;

        let metrics = Arc::new(crate::metrics::Metrics::new());
        let member = Arc::new(Member {
            id: config.id,
            addr: config.peer_advertised(),
            raft: raft.clone(),
            state,
            stats: store.stats(),
            metrics: metrics.clone(),
            identity,
            removal,
            applied,
            secrets,
            peer_levels,
            applied_level,
            auto_finalize: config.upgrade.auto_finalize,
            forwarder: Forwarder::start(channels),
            proposer: Proposer::start(
                raft.clone(),
                Duration::from_millis(r.forward_timeout_ms),
                append_budget,
                metrics,
            ),
            reads: ReadIndexer::start(
                raft.clone(),
                config.id,
                Duration::from_millis(r.forward_timeout_ms),
            ),
            forward_timeout: Duration::from_millis(r.forward_timeout_ms),
            store_closed: store.closed(),
            store_fault: store.fault(),
        });
        if config.bootstrap_single {
            let initialised = member
                .raft
                .is_initialized()
                .await
                .map_err(|e| StartError::Raft(e.to_string()))?;
            if !initialised {
                let nodes = BTreeMap::from([(
                    member.id,
                    BasicNode {
                        addr: member.addr.clone(),
                    },
                )]);
                member
                    .raft
                    .initialize(nodes)
                    .await
                    .map_err(|e| StartError::Raft(e.to_string()))?;
            }
        }
        crate::raft::identity::keep_identity(Arc::downgrade(&member));
        if member.auto_finalize {
            features::auto_finalize(Arc::downgrade(&member));
        }
        crate::raft::removal::watch(Arc::downgrade(&member));
        Ok(member)
    }

    /// Stops Raft; the store is closed when the last handle drops.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
        // openraft's state-machine worker and the store's group-commit thread let go of the
        // database shortly after Raft stops; wait for that, so the data dir can be opened
        // again as soon as this returns (a member restarted in-process).
        let closed = self.store_closed.clone().wait();
        if tokio::time::timeout(STORE_CLOSE_TIMEOUT, closed)
            .await
            .is_err()
        {
            tracing::warn!("the Raft store is still open {STORE_CLOSE_TIMEOUT:?} after shutdown");
        }
    }

    /// Resolves with the message of the first corruption the Raft store met while running
    /// (naming the file and the runbook step); the member must then stop serving.
    pub fn store_fault(&self) -> StoreFault {
        self.store_fault.clone()
    }

    /// The current Raft metrics.
    pub fn metrics(&self) -> RaftMetrics<MemberId, BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    /// Initialises the group with `members` (id -> address); empty means this member alone.
    pub async fn initialize(&self, members: BTreeMap<MemberId, String>) -> Result<(), ApiError> {
        let mut nodes: BTreeMap<MemberId, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode { addr }))
            .collect();
        if nodes.is_empty() {
            nodes.insert(
                self.id,
                BasicNode {
                    addr: self.addr.clone(),
                },
            );
        }
        if !nodes.contains_key(&self.id) {
            return Err(ApiError::invalid(
                "members",
                format!(
                    "must include the member receiving the request (id {}), or it could not take part",
                    self.id
                ),
            ));
        }
        self.raft.initialize(nodes).await.map_err(|e| match e {
            RaftError::APIError(InitializeError::NotAllowed(_)) => ApiError::FailedPrecondition {
                reason: "the cluster is already initialised: add members with `moorctl cluster add` instead".into(),
            },
            RaftError::APIError(InitializeError::NotInMembers(e)) => {
                ApiError::invalid("members", e.to_string())
            }
            RaftError::Fatal(_) => ApiError::ShuttingDown,
        })
    }

    /// Commits `command` through the leader and returns its log index and result.
    pub async fn write(&self, command: Command) -> Result<(u64, CommandResult), ApiError> {
        // Checked here for a quick answer, and again by the leader, whose word counts.
        features::check_proposable(&command, self.applied_level.get())?;
        match self.submit(LeaderRequest::Write(Box::new(command))).await? {
            LeaderReply::Written { log_index, result } => Ok((log_index, result)),
            other => Err(unexpected(&other)),
        }
    }

    /// Waits until this member has applied everything committed before the call: after it
    /// returns, reading the local state is linearizable. Returns the applied index.
    pub async fn read_barrier(&self) -> Result<u64, ApiError> {
        let deadline = Instant::now() + self.forward_timeout;
        let index = match self.submit(LeaderRequest::ReadIndex).await? {
            LeaderReply::ReadIndex { index } => index,
            other => return Err(unexpected(&other)),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.raft
            .wait(Some(remaining))
            .applied_index_at_least(Some(index), "read barrier")
            .await
            .map_err(|e| ApiError::Unavailable {
                detail: format!(
                    "member {} has not applied up to the read index {index} in time ({e})",
                    self.id
                ),
            })?;
        Ok(self.applied_index())
    }

    /// Leadership confirmation rounds this member has run as leader for linearizable reads.
    pub fn read_rounds(&self) -> u64 {
        self.reads.rounds()
    }

    /// Index of the last entry applied to this member's state.
    pub fn applied_index(&self) -> u64 {
        self.raft
            .metrics()
            .borrow()
            .last_applied
            .map(|l| l.index)
            .unwrap_or(0)
    }

    /// Changes membership through the leader.
    pub async fn change_membership(
        &self,
        request: LeaderRequest,
    ) -> Result<MembershipView, ApiError> {
        match self.submit(request).await? {
            LeaderReply::Membership(view) => Ok(view),
            other => Err(unexpected(&other)),
        }
    }

    /// Runs `request` on the leader, wherever it is, within the forward deadline.
    pub async fn submit(&self, request: LeaderRequest) -> Result<LeaderReply, ApiError> {
        let deadline = Instant::now() + self.forward_timeout;
        loop {
            if Instant::now() >= deadline {
                return Err(ApiError::NoLeader {
                    detail: format!(
                        "no leader answered within {} ms",
                        self.forward_timeout.as_millis()
                    ),
                });
            }
            // `tried`: the leader that just failed us, so we wait for a different one.
            let (outcome, tried) = match self.execute_local(request.clone()).await {
                // This member believes it leads but is not leader (e.g. it was removed from
                // the group): only a different leader can help.
                Err(ApiError::NotLeader {
                    leader: Some(leader),
                    ..
                }) if leader == self.id => (
                    Err(ApiError::NoLeader {
                        detail: format!("member {} is not part of a working group", self.id),
                    }),
                    Some(self.id),
                ),
                Err(ApiError::NotLeader {
                    leader: Some(leader),
                    ..
                }) => match self.leader_addr(leader) {
                    Some(addr) => (
                        self.forwarder
                            .forward(leader, &addr, &request, deadline)
                            .await,
                        Some(leader),
                    ),
                    None => (
                        Err(ApiError::NoLeader {
                            detail: format!("leader {leader} has no known address"),
                        }),
                        Some(leader),
                    ),
                },
                other => (other, None),
            };
            let last_error = match outcome {
                Err(e @ (ApiError::NotLeader { .. } | ApiError::NoLeader { .. })) => e,
                other => return other,
            };
            // No usable leader right now: wait for the election to produce one, then retry.
            if !self.wait_for_leader_change(tried, deadline).await {
                return Err(match last_error {
                    ApiError::NotLeader { .. } => ApiError::NoLeader {
                        detail: format!(
                            "no leader answered within {} ms",
                            self.forward_timeout.as_millis()
                        ),
                    },
                    e => e,
                });
            }
        }
    }

    /// Waits until this member knows a leader other than `stale` (or the deadline passes).
    async fn wait_for_leader_change(&self, stale: Option<MemberId>, deadline: Instant) -> bool {
        let mut rx = self.raft.metrics();
        let wait = async move {
            rx.wait_for(|m| {
                m.running_state.is_err()
                    || (m.current_leader.is_some() && m.current_leader != stale)
            })
            .await
            .map(|m| m.running_state.is_ok())
        };
        matches!(
            tokio::time::timeout_at(deadline.into(), wait).await,
            Ok(Ok(true))
        )
    }

    fn leader_addr(&self, leader: MemberId) -> Option<String> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    /// Runs `request` on this member, which must be the leader; never forwards.
    pub async fn execute_local(&self, request: LeaderRequest) -> Result<LeaderReply, ApiError> {
        match request {
            LeaderRequest::Write(command) => self.write_local(*command).await,
            LeaderRequest::ReadIndex => self.read_index_local().await,
            LeaderRequest::AddLearner { id, addr, wait } => {
                self.add_learner_local(id, addr, wait).await
            }
            LeaderRequest::Promote { id } => {
                let applied = self.applied_level.get();
                if let Some((level, _)) = self.peer_levels.last(id).filter(|(l, _)| *l < applied) {
                    return Err(ApiError::FailedPrecondition {
                        reason: format!(
                            "member {id} runs a release that supports feature level {level}, \
                             but the cluster runs at {applied}: it cannot apply this cluster's \
                             log. Run this release on it, then promote it"
                        ),
                    });
                }
                let change = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
                let resp = self.change_membership_when_idle(change).await?;
                Ok(LeaderReply::Membership(
                    self.membership_view(resp.log_id.index),
                ))
            }
            LeaderRequest::Remove { id } => self.remove_local(id).await,
            LeaderRequest::UpgradeFinalize { command } => self.finalize_local(*command).await,
        }
    }

    /// Raises the feature level through the leader (see [`LeaderRequest::UpgradeFinalize`]).
    pub async fn upgrade_finalize(&self, command: Command) -> Result<(u32, u32, u64), ApiError> {
        match self
            .submit(LeaderRequest::UpgradeFinalize {
                command: Box::new(command),
            })
            .await?
        {
            LeaderReply::FeatureLevel {
                previous,
                level,
                log_index,
            } => Ok((previous, level, log_index)),
            other => Err(unexpected(&other)),
        }
    }

    /// On the leader: raises the level if every member supports it.
    async fn finalize_local(&self, command: Command) -> Result<LeaderReply, ApiError> {
        if self.metrics().current_leader != Some(self.id) {
            return Err(ApiError::NotLeader {
                member: self.id,
                leader: self.metrics().current_leader,
            });
        }
        let wanted = match requested_level(&command) {
            Some(level) => level,
            None => {
                return Err(ApiError::Internal(
                    "an upgrade-finalize request must carry a SetFeatureLevel command".into(),
                ))
            }
        };
        let previous = self.applied_level.get().0;
        let Some((level, command)) = features::plan_raise(self, wanted, command)? else {
            return Ok(LeaderReply::FeatureLevel {
                previous,
                level: previous,
                log_index: 0,
            });
        };
        match self.write_local(command).await? {
            LeaderReply::Written {
                log_index,
                result: CommandResult::Cluster(ClusterResult::FeatureLevel { previous, level }),
            } => Ok(LeaderReply::FeatureLevel {
                previous,
                level,
                log_index,
            }),
            LeaderReply::Written {
                result: CommandResult::Refused(reason),
                ..
            }
            | LeaderReply::Written {
                result: CommandResult::Cluster(ClusterResult::Refused(reason)),
                ..
            } => Err(ApiError::FailedPrecondition {
                reason: format!("raising the feature level to {level} was refused: {reason}"),
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Proposes one command and waits for its commit and result.
    async fn write_local(&self, command: Command) -> Result<LeaderReply, ApiError> {
        features::check_proposable(&command, self.applied_level.get())?;
        match self.proposer.propose(leader_stamped(command)).await {
            Ok((log_index, result)) => Ok(LeaderReply::Written { log_index, result }),
            Err(ProposeError::Raft(e)) => Err(self.write_error(*e)),
            Err(ProposeError::Timeout) => Err(ApiError::OutcomeUnknown {
                detail: format!(
                    "not committed within {} ms (is a quorum reachable?)",
                    self.forward_timeout.as_millis()
                ),
            }),
            Err(ProposeError::Stopped) => Err(ApiError::ShuttingDown),
            // Found by the fault-injection suite (restart nemesis, set workload): a write
            // answered "shutting down" (retry-safe) was committed anyway.
            Err(ProposeError::StoppedInFlight) => Err(ApiError::OutcomeUnknown {
                detail: "the member stopped with the write in flight".into(),
            }),
        }
    }

    /// Confirms leadership with a quorum (one round for all reads waiting, see
    /// [`ReadIndexer`]) and returns the index a linearizable read waits for.
    async fn read_index_local(&self) -> Result<LeaderReply, ApiError> {
        let index = self.reads.read_index().await?;
        Ok(LeaderReply::ReadIndex { index })
    }

    /// Adds member `id` at `addr` as a learner; with `wait`, returns once it has caught up.
    async fn add_learner_local(
        &self,
        id: MemberId,
        addr: String,
        wait: bool,
    ) -> Result<LeaderReply, ApiError> {
        if let Err(hint) = crate::config::validate_peer_addr(&addr) {
            return Err(ApiError::invalid("addr", hint));
        }
        let node = BasicNode { addr: addr.clone() };
        let resp = self
            .when_idle(|| self.raft.add_learner(id, node.clone(), false))
            .await?;
        if wait {
            self.wait_caught_up(id, &addr, resp.log_id.index).await?;
        }
        Ok(LeaderReply::Membership(
            self.membership_view(resp.log_id.index),
        ))
    }

    /// Removes member `id`: a voter leaves the voters, a learner the group.
    async fn remove_local(&self, id: MemberId) -> Result<LeaderReply, ApiError> {
        let view = self.membership_view(0);
        let Some(target) = view.members.iter().find(|m| m.id == id) else {
            return Err(ApiError::NotFound {
                what: format!("member {id}"),
            });
        };
        let change = if target.voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        let resp = self.change_membership_when_idle(change).await?;
        Ok(LeaderReply::Membership(
            self.membership_view(resp.log_id.index),
        ))
    }

    /// Commits a membership change, first waiting (within the deadline) for a change still in
    /// flight to commit: right after an election the new leader holds its predecessor's last
    /// membership entry uncommitted until it commits an entry of its own.
    async fn change_membership_when_idle(
        &self,
        change: ChangeMembers<MemberId, BasicNode>,
    ) -> Result<ClientWriteResponse<TypeConfig>, ApiError> {
        self.when_idle(|| self.raft.change_membership(change.clone(), false))
            .await
    }

    /// Runs a membership change (`attempt` makes one), retrying within the forward deadline
    /// while another change is still in flight. Adding a learner is a membership change too:
    /// right after a promotion returns, openraft may not yet count the promotion's last
    /// entry as committed, and an add refused for that is not the caller's fault.
    async fn when_idle<F, Fut>(
        &self,
        attempt: F,
    ) -> Result<ClientWriteResponse<TypeConfig>, ApiError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<ClientWriteResponse<TypeConfig>, WriteError>>,
    {
        let deadline = Instant::now() + self.forward_timeout;
        let mut metrics = self.raft.metrics();
        loop {
            let result = self.within_deadline(attempt()).await?;
            match result {
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    ChangeMembershipError::InProgress(_),
                ))) if Instant::now() < deadline => {
                    // Wait for the log to move (the pending change commits), then retry.
                    let _ = tokio::time::timeout_at(deadline.into(), metrics.changed()).await;
                }
                other => return other.map_err(|e| self.write_error(e)),
            }
        }
    }

    /// Bounds a membership change by the forward deadline; past it the outcome is unknown.
    async fn within_deadline<T>(
        &self,
        fut: impl std::future::Future<Output = T>,
    ) -> Result<T, ApiError> {
        tokio::time::timeout(self.forward_timeout, fut)
            .await
            .map_err(|_| ApiError::OutcomeUnknown {
                detail: format!(
                    "the membership change did not commit within {} ms (is a quorum reachable?)",
                    self.forward_timeout.as_millis()
                ),
            })
    }

    /// Waits until the leader sees learner `id` hold the log up to `index`. openraft's own
    /// blocking add gives up silently after a short while, so it is not used.
    async fn wait_caught_up(&self, id: MemberId, addr: &str, index: u64) -> Result<(), ApiError> {
        let mut rx = self.raft.metrics();
        let caught_up = async move {
            rx.wait_for(|m| {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(&id).cloned().flatten())
                    .is_some_and(|l| l.index >= index)
            })
            .await
            .is_ok()
        };
        match tokio::time::timeout(self.forward_timeout, caught_up).await {
            Ok(true) => Ok(()),
            _ => Err(ApiError::FailedPrecondition {
                reason: format!(
                    "member {id} was added as a learner but has not caught up within {} ms: check that it runs and is reachable at {addr}",
                    self.forward_timeout.as_millis()
                ),
            }),
        }
    }

    fn write_error(&self, e: WriteError) -> ApiError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ApiError::NotLeader {
                member: self.id,
                leader: f.leader_id,
            },
            RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => match c {
                ChangeMembershipError::InProgress(p) => ApiError::FailedPrecondition {
                    reason: format!("{p}; wait for the running membership change to finish"),
                },
                ChangeMembershipError::EmptyMembership(_) => ApiError::FailedPrecondition {
                    reason: "the change would leave no voter".into(),
                },
                ChangeMembershipError::LearnerNotFound(l) => ApiError::FailedPrecondition {
                    reason: format!(
                        "member {} is not a learner yet: add it with `moorctl cluster add` first",
                        l.node_id
                    ),
                },
            },
            // Raft stopped while the entry was (possibly) in the log: it may still commit.
            RaftError::Fatal(f) => ApiError::OutcomeUnknown {
                detail: format!("the member stopped with the change in flight ({f})"),
            },
        }
    }

    /// The members as this member knows them.
    pub fn membership_view(&self, log_index: u64) -> MembershipView {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<MemberId> = membership.voter_ids().collect();
        MembershipView {
            members: membership
                .nodes()
                .map(|(id, node)| MemberInfo {
                    id: *id,
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                })
                .collect(),
            log_index: if log_index == 0 {
                metrics
                    .membership_config
                    .log_id()
                    .map(|l| l.index)
                    .unwrap_or(0)
            } else {
                log_index
            },
        }
    }
}

fn unexpected(reply: &LeaderReply) -> ApiError {
    ApiError::Internal(format!(
        "leader answered with an unexpected reply: {reply:?}"
    ))
}

/// Makes a member that was leader when it stopped campaign for a new term instead of
/// resuming its leadership in the old one.
///
/// openraft restores a committed vote of its own as leadership at once, in the same term. The
/// term is the fence token sites check (WF3), so the restarted process would send with the
/// same token as the process that died: a request the dead process had already written to a
/// socket, delivered late, would be accepted at a site after the new process moved on, and
/// steps the dead process had in flight would wait out two step timeouts before anyone sent
/// them again. Keeping the term and the vote but dropping the committed flag is what a
/// candidate of that term holds: nothing Raft promised is undone, and the member's next
/// leadership, if it wins one, has a term of its own.
async fn campaign_after_restart<S>(log_store: &mut S, id: MemberId) -> Result<(), StartError>
where
    S: RaftLogStorage<TypeConfig>,
{
    let vote = log_store
        .read_vote()
        .await
        .map_err(|e| StartError::Raft(format!("cannot read the vote: {e}")))?;
    if let Some(vote) = vote {
        if vote.is_committed() && vote.leader_id().voted_for() == Some(id) {
            let term = vote.leader_id().get_term();
            tracing::info!(term, "was leader when stopped: campaigning for a new term");
            log_store
                .save_vote(&Vote::new(term, id))
                .await
                .map_err(|e| StartError::Raft(format!("cannot save the vote: {e}")))?;
        }
    }
    Ok(())
}

/// Records which member a data dir belongs to, and refuses a dir that belongs to another one:
/// starting member 2 on member 1's data would make two members vote with one identity.
pub(crate) fn claim_data_dir(dir: &Path, id: MemberId) -> Result<(), StartError> {
    let io = |source| StartError::DataDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let marker = dir.join("MEMBER_ID");
    match std::fs::read_to_string(&marker) {
        Ok(found) if found.trim() == id.to_string() => Ok(()),
        Ok(found) => Err(StartError::WrongMember {
            path: dir.to_owned(),
            found: found.trim().to_string(),
            expected: id,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&marker, format!("{id}\n")).map_err(io)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_restamps_the_audit_time_and_nothing_else() {
        use moor_domain::auth::{AuditStamp, Operation, Principal, Retention, Target};
        let stamp = AuditStamp {
            principal: Principal::Token { id: "t1".into() },
            operation: Operation::VarPut,
            target: Target::default(),
            object: "var k".into(),
            peer: "10.0.0.9:5000".into(),
            member: 2,
            at_ms: 1,
            retention: Retention {
                max_entries: 10,
                max_age_ms: 0,
            },
        };
        let inner = Command::Kv(moor_domain::kv::KvCommand::Delete { key: "k".into() });
        let out = leader_stamped(Command::Audited {
            stamp: stamp.clone(),
            command: Box::new(inner.clone()),
        });
        let Command::Audited { stamp: s, command } = out else {
            panic!("not audited any more");
        };
        assert!(s.at_ms > 1_700_000_000_000, "not re-stamped: {}", s.at_ms);
        assert_eq!(AuditStamp { at_ms: 1, ..s }, stamp);
        assert_eq!(*command, inner);
        assert_eq!(leader_stamped(inner.clone()), inner, "unaudited: unchanged");
    }

    #[test]
    fn data_dir_is_claimed_by_one_member() {
        let dir = tempfile::tempdir().unwrap();
        claim_data_dir(dir.path(), 3).unwrap();
        claim_data_dir(dir.path(), 3).unwrap();
        let err = claim_data_dir(dir.path(), 4).unwrap_err().to_string();
        assert!(err.contains("belongs to member 3"), "{err}");
    }
}
