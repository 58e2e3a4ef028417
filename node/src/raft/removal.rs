//! A member removed from the membership stops serving and says so.
//!
//! A removed member rarely learns of its removal from the log: the leader stops replicating
//! to it once the change is appended. It learns it in one of two ways, whichever comes first:
//! - its committed membership, which once held it, no longer does;
//! - peers refuse its Raft traffic as a non-member (it campaigns once heartbeats stop), and
//!   the refusals come from a quorum of the voters it knows, within [`REFUSAL_WINDOW`]: a
//!   single lagging peer that has not yet seen this member's addition cannot trip it.
//!
//! Then it shuts Raft down (no more elections that peers would have to refuse), and the
//! client gate answers every call but `cluster status` with FAILED_PRECONDITION naming the
//! reason and what to do; `cluster status` reports the state `Removed`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::raft::member::Member;
use crate::raft::types::MemberId;

/// How recent refusals must be to count together.
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(30);

/// The metadata key and value a peer sets when it refuses a non-member's Raft traffic.
pub const REFUSAL_KEY: &str = "moor-refusal";
pub const NOT_A_MEMBER: &str = "not-a-member";

/// Refusals seen from peers, and the verdict once reached.
#[derive(Default)]
pub struct Removal {
    refusals: Mutex<BTreeMap<MemberId, Instant>>,
    removed: OnceLock<String>,
    notify: tokio::sync::Notify,
}

impl std::fmt::Debug for Removal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Removal")
            .field("removed", &self.removed.get())
            .finish_non_exhaustive()
    }
}

impl Removal {
    /// Why this member no longer serves, once it has been found removed.
    pub fn reason(&self) -> Option<&str> {
        self.removed.get().map(String::as_str)
    }

    /// Peer `peer` refused this member's Raft traffic as a non-member.
    pub fn note_refusal(&self, peer: MemberId) {
        if let Ok(mut r) = self.refusals.lock() {
            r.insert(peer, Instant::now());
        }
        self.notify.notify_one();
    }

    /// The peers that refused within the window.
    fn recent_refusals(&self) -> BTreeSet<MemberId> {
        let now = Instant::now();
        self.refusals
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|(_, at)| now.duration_since(**at) <= REFUSAL_WINDOW)
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn decide(&self, reason: String) -> bool {
        self.removed.set(reason).is_ok()
    }
}

/// Whether refusals from `refused` make a quorum of `voters` (which may include `me`: it
/// never refuses itself, so the others must make the majority alone).
fn quorum_refused(me: MemberId, voters: &BTreeSet<MemberId>, refused: &BTreeSet<MemberId>) -> bool {
    if voters.len() < 2 {
        return false;
    }
    let majority = voters.len() / 2 + 1;
    let others_refusing = voters
        .iter()
        .filter(|v| **v != me && refused.contains(v))
        .count();
    others_refusing >= majority
}

/// Watches for this member's removal (see the module docs) and stops it when found.
pub fn watch(member: Weak<Member>) {
    tokio::spawn(async move {
        let (mut metrics, removal) = match member.upgrade() {
            Some(m) => (m.raft.metrics(), m.removal.clone()),
            None => return,
        };
        let mut was_member = false;
        loop {
            let Some(m) = member.upgrade() else { return };
            // The latest membership, once applied (hence committed): read from the metrics,
            // which change on every entry, so nothing here asks the Raft core anything.
            let (committed_holds_me, committed_nonempty, voters) = {
                let mx = metrics.borrow();
                let cfg = &mx.membership_config;
                let applied = mx.last_applied.as_ref().map(|l| l.index);
                let committed = cfg.log_id().as_ref().map(|l| l.index) <= applied;
                let membership = cfg.membership();
                let voters: BTreeSet<MemberId> = membership.voter_ids().collect();
                let holds_me = membership.get_node(&m.id).is_some();
                // Only a committed membership that lists this member makes it one: an
                // uncommitted one may still be truncated away.
                was_member |= committed && holds_me;
                (
                    committed && holds_me,
                    committed && membership.nodes().next().is_some(),
                    voters,
                )
            };
            let holds_me = committed_holds_me || !committed_nonempty;
            let refused = removal.recent_refusals();
            let verdict = if was_member && !holds_me {
                Some(format!(
                    "member {} was removed from the cluster (its committed membership no longer lists it)",
                    m.id
                ))
            } else if quorum_refused(m.id, &voters, &refused) {
                Some(format!(
                    "member {} was removed from the cluster (members {} refuse its Raft traffic as a non-member)",
                    m.id,
                    refused.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                ))
            } else {
                None
            };
            if let Some(why) = verdict {
                let full = format!(
                    "{why}: it serves nothing any more. Stop it; to bring it back, wipe its data dir and add it again (`moorctl cluster add {} <peer addr>`, then `cluster promote {}`)",
                    m.id, m.id
                );
                if removal.decide(full.clone()) {
                    tracing::error!("{full}");
                    let raft = m.raft.clone();
                    drop(m);
                    if let Err(e) = raft.shutdown().await {
                        tracing::warn!(error = %e, "raft did not shut down cleanly after removal");
                    }
                }
                return;
            }
            drop(m);
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() { return },
                _ = removal.notify.notified() => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_quorum_of_the_others_must_refuse() {
        let voters = set(&[1, 2, 3]);
        assert!(!quorum_refused(3, &voters, &set(&[1])));
        assert!(quorum_refused(3, &voters, &set(&[1, 2])));
        let five = set(&[1, 2, 3, 4, 5]);
        assert!(!quorum_refused(5, &five, &set(&[1, 2])));
        assert!(quorum_refused(5, &five, &set(&[1, 2, 3])));
        // Refusals from members this one does not know as voters do not count.
        assert!(!quorum_refused(3, &voters, &set(&[7, 8, 9])));
        // Alone, a member is never "removed" by refusals.
        assert!(!quorum_refused(1, &set(&[1]), &set(&[2, 3])));
    }
}
