//! The cluster identity on Raft traffic: every peer message carries the sender's cluster id
//! (from its applied state), and a member refuses a message from another cluster. A cluster
//! restored from a backup gets a new identity (`moord restore`), so it can never merge with
//! the cluster the backup came from, even at the same addresses and with the same CA.
//!
//! A member that has applied no identity yet (a new member before its first snapshot, or a
//! cluster before its first leader set one) accepts any: that is how a new member is first
//! reached. The first leader that finds the state without one proposes it
//! ([`keep_identity`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use moor_domain::cluster::ClusterCommand;
use moor_domain::command::Command;

use crate::raft::member::Member;

/// This member's applied cluster identity, shared by the state machine (which sets it) and
/// the peer network (which stamps and checks it). Empty until applied.
#[derive(Clone, Default)]
pub struct IdentityCell(Arc<RwLock<String>>, Arc<AtomicU64>);

impl std::fmt::Debug for IdentityCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IdentityCell").field(&self.get()).finish()
    }
}

impl IdentityCell {
    /// The identity (empty: none applied yet).
    pub fn get(&self) -> String {
        self.0.read().map(|id| id.clone()).unwrap_or_default()
    }

    /// Records the applied identity; cheap when unchanged (apply calls it after every entry).
    pub fn sync(&self, applied: &str) {
        let same = self
            .0
            .read()
            .map(|id| id.as_str() == applied)
            .unwrap_or(false);
        if !same {
            if let Ok(mut id) = self.0.write() {
                *id = applied.to_string();
            }
        }
    }

    /// Refuses a message whose sender belongs to another cluster.
    pub fn check(&self, member: u64, theirs: &str) -> Result<(), tonic::Status> {
        let ours = self.get();
        if ours.is_empty() || theirs.is_empty() || ours == theirs {
            return Ok(());
        }
        let message = format!(
            "member {member} belongs to cluster {ours}, but this Raft message comes from cluster \
             {theirs}: members of two clusters never exchange Raft traffic (a cluster restored \
             from a backup is a new cluster). Give the restored cluster members with empty data \
             dirs, or point the sender at its own cluster's members"
        );
        // Logged here too (the sender may be a process nobody watches), at most every 10 s.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let last = self.1.load(Ordering::Relaxed);
        if now >= last + 10
            && self
                .1
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!("refused Raft traffic of another cluster: {message}");
        }
        Err(tonic::Status::failed_precondition(message))
    }
}

/// While this member leads and its applied state has no identity, proposes one (random,
/// 32 hex digits; the first committed wins). Stops when the member is gone or has one.
pub fn keep_identity(member: Weak<Member>) {
    tokio::spawn(async move {
        let mut metrics = match member.upgrade() {
            Some(m) => m.raft.metrics(),
            None => return,
        };
        loop {
            let Some(m) = member.upgrade() else { return };
            let leads = metrics.borrow().current_leader == Some(m.id);
            let has_one = !m.identity.get().is_empty();
            if has_one {
                return;
            }
            if leads {
                let id = format!("{:032x}", rand::random::<u128>());
                match m
                    .write(Command::Cluster(ClusterCommand::SetIdentity { id }))
                    .await
                {
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not set the cluster identity; trying again");
                        drop(m);
                        // Not polling for a condition: a pause before retrying a failed write.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            drop(m);
            if metrics.changed().await.is_err() {
                return;
            }
        }
    });
}
