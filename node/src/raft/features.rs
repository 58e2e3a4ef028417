//! Feature levels on the member's side (the replicated part is `moor_domain::feature`):
//! what each peer's build supports, read from the stamp on every answer to this member's
//! Raft messages; the level this member has applied; raising it, on request
//! (`moorctl cluster upgrade-finalize`) or by itself (`upgrade.auto_finalize`); and the
//! stop of a member whose build supports less than the cluster applied.
//!
//! The leader raises the level only when every member of the membership, learners too,
//! answered it lately with a build that supports the new level: a member that could not
//! decode what the new level lets the leader propose must never be in the membership then.
//! Once raised, [`Member::submit`](crate::raft::member::Member) refuses to propose a
//! command of a higher level than the applied one, so no log entry is written that a
//! member could not read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use moor_domain::cluster::ClusterCommand;
use moor_domain::command::Command;
use moor_domain::feature::{self, FeatureLevel};
use tokio::sync::watch;

use crate::errors::ApiError;
use crate::raft::member::Member;
use crate::raft::types::MemberId;

/// A peer's report counts this long: raising the level needs every member heard lately.
pub const REPORT_FRESH_FOR: Duration = Duration::from_secs(10);

/// The feature levels peers' builds support, as their answers to this member said.
#[derive(Clone, Default)]
pub struct PeerLevels(Arc<Mutex<BTreeMap<MemberId, (FeatureLevel, Instant)>>>);

impl PeerLevels {
    /// Records what member `id` answered with (0, from releases before levels: the base).
    pub fn note(&self, id: MemberId, reported: u32) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(id, (FeatureLevel::reported(reported), Instant::now()));
        }
    }

    /// The level member `id` last reported, and how long ago.
    pub fn last(&self, id: MemberId) -> Option<(FeatureLevel, Duration)> {
        let map = self.0.lock().ok()?;
        map.get(&id).map(|(level, at)| (*level, at.elapsed()))
    }
}

/// The feature level this member has applied; the state machine sets it after every entry
/// and snapshot install.
#[derive(Clone)]
pub struct AppliedLevel(Arc<watch::Sender<FeatureLevel>>);

impl Default for AppliedLevel {
    fn default() -> Self {
        AppliedLevel(Arc::new(watch::channel(feature::BASE).0))
    }
}

impl std::fmt::Debug for AppliedLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AppliedLevel").field(&self.get()).finish()
    }
}

impl AppliedLevel {
    pub fn get(&self) -> FeatureLevel {
        *self.0.borrow()
    }

    /// Records the applied level; cheap when unchanged (apply calls it after every entry).
    pub fn sync(&self, level: FeatureLevel) {
        self.0.send_if_modified(|current| {
            let changed = *current != level;
            *current = level;
            changed
        });
    }

    /// Resolves, with the reason, once the applied level is one this build does not
    /// support: the member must stop (it cannot apply what the cluster now writes).
    pub async fn unsupported(&self) -> String {
        let mut rx = self.0.subscribe();
        loop {
            if let Some(reason) = feature::unsupported(*rx.borrow_and_update()) {
                return reason;
            }
            if rx.changed().await.is_err() {
                // The member is gone; nothing to stop.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Refuses `command` while the applied level is below what it needs.
pub fn check_proposable(command: &Command, applied: FeatureLevel) -> Result<(), ApiError> {
    let needs = command.feature_level();
    if needs <= applied {
        return Ok(());
    }
    Err(ApiError::FailedPrecondition {
        reason: format!(
            "this request needs cluster feature level {needs}, and the cluster runs at level \
             {applied}: finish the rolling upgrade (every member on this release), then run \
             `moorctl cluster upgrade-finalize`"
        ),
    })
}

/// What every member supports, as this (leading) member knows it: the highest level all of
/// them support, or why it cannot tell.
fn common_level(member: &Member) -> Result<FeatureLevel, String> {
    let view = member.membership_view(0);
    let mut common = feature::SUPPORTED;
    let mut problems = Vec::new();
    for m in &view.members {
        if m.id == member.id {
            continue;
        }
        match member.peer_levels.last(m.id) {
            Some((level, age)) if age <= REPORT_FRESH_FOR => common = common.min(level),
            Some((level, age)) => problems.push(format!(
                "member {} (supports level {level}) last answered {}s ago",
                m.id,
                age.as_secs()
            )),
            None => problems.push(format!("member {} has not answered the leader yet", m.id)),
        }
    }
    if problems.is_empty() {
        Ok(common)
    } else {
        Err(problems.join("; "))
    }
}

/// Each member's supported level as the leader last heard it, for refusals.
fn levels_report(member: &Member) -> String {
    member
        .membership_view(0)
        .members
        .iter()
        .map(|m| {
            if m.id == member.id {
                format!("member {} supports {}", m.id, feature::SUPPORTED)
            } else {
                match member.peer_levels.last(m.id) {
                    Some((level, _)) => format!("member {} supports {level}", m.id),
                    None => format!("member {} has not answered", m.id),
                }
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// On the leader: the level `wanted` (0: the highest every member supports) if every member
/// supports it, with the command to commit (`command` with that level put in), or why not.
/// `Ok(None)`: the cluster already runs at that level.
pub fn plan_raise(
    member: &Member,
    wanted: u32,
    command: Command,
) -> Result<Option<(FeatureLevel, Command)>, ApiError> {
    let applied = member.applied_level.get();
    let common = common_level(member).map_err(|why| ApiError::FailedPrecondition {
        reason: format!(
            "cannot raise the feature level: {why}. Every member must run and answer the \
             leader; try again once they do"
        ),
    })?;
    let target = if wanted == 0 {
        common
    } else {
        FeatureLevel(wanted)
    };
    if target <= applied {
        return Ok(None);
    }
    if target > common {
        return Err(ApiError::FailedPrecondition {
            reason: format!(
                "cannot raise the feature level to {target}: not every member supports it \
                 ({}); the cluster stays at {applied}. Replace the older members with this \
                 release first (deploy/README.md, \"Upgrade\")",
                levels_report(member)
            ),
        });
    }
    Ok(Some((target, with_level(command, target.0))))
}

/// `command` (a `SetFeatureLevel`, maybe audited) with its level set to `level`.
fn with_level(command: Command, level: u32) -> Command {
    match command {
        Command::Audited { stamp, command } => Command::Audited {
            stamp,
            command: Box::new(with_level(*command, level)),
        },
        Command::Cluster(ClusterCommand::SetFeatureLevel { .. }) => {
            Command::Cluster(ClusterCommand::SetFeatureLevel { level })
        }
        other => other,
    }
}

/// With `upgrade.auto_finalize`: while this member leads, raises the level as soon as every
/// member supports a higher one. Peers report on every answer without changing anything a
/// watcher could wait on, so this looks every [`AUTO_FINALIZE_EVERY`]. Stops when the member
/// is gone or the cluster runs at the highest level this build supports.
pub fn auto_finalize(member: Weak<Member>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(AUTO_FINALIZE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(m) = member.upgrade() else { return };
            if m.applied_level.get() >= feature::SUPPORTED {
                return;
            }
            let leads = m.raft.metrics().borrow().current_leader == Some(m.id);
            if !leads || m.identity.get().is_empty() {
                continue;
            }
            let command = Command::Cluster(ClusterCommand::SetFeatureLevel { level: 0 });
            if let Ok(Some((level, command))) = plan_raise(&m, 0, command) {
                match m.write(command).await {
                    Ok(_) => tracing::info!(
                        %level,
                        "raised the cluster feature level (upgrade.auto_finalize)"
                    ),
                    Err(e) => tracing::warn!(
                        error = %e,
                        %level,
                        "could not raise the cluster feature level"
                    ),
                }
            }
        }
    });
}

/// How often a leader with `upgrade.auto_finalize` looks whether it can raise the level.
pub const AUTO_FINALIZE_EVERY: Duration = Duration::from_secs(1);
