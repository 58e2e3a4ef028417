//! The audit log: who did what, to which object, from where, and what came of it; one
//! record per audited command, replicated like everything else, so every member holds the
//! same trail and no member can drop a denial it would rather hide.
//!
//! Bounded: the stamp of every audited command carries the retention the receiving member
//! was configured with, and each append prunes the oldest records beyond it. Text fields are
//! cut to [`MAX_AUDIT_TEXT`] characters, so a client cannot grow the state with long names.
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
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::operation::Operation;
use super::target::Target;
use super::token::Principal;

/// Longest text kept in a record's `who`, `object`, `peer` and `outcome`, in characters.
pub const MAX_AUDIT_TEXT: usize = 200;
/// Records a list returns when asked for none in particular, and at most.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
pub const MAX_LIST_LIMIT: u32 = 1_000;

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the trail: 1, 2, 3, … (never reused, even after pruning).
    pub seq: u64,
    /// Leader-stamped, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `token:<id>` or `cert:<subject>`.
    pub who: String,
    /// The operation's name (`rollout.start`).
    pub operation: String,
    /// The object as the member described it (`group edge-eu`).
    pub object: String,
    /// The client's address as the receiving member saw it.
    pub peer: String,
    /// The member that received the request.
    pub member: u64,
    /// `ok`, `refused: <reason>` or `denied: <missing permission>`.
    pub outcome: String,
}

/// How much of the trail to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Most records kept (clamped to at least 1: the record just written stays).
    pub max_entries: u64,
    /// Records older than this, relative to the newest stamp, are dropped; 0: no age limit.
    pub max_age_ms: u64,
}

/// What the receiving member stamps on an audited command: who, what, on what, from where,
/// and how long to keep the record; `at_ms` (when) is re-stamped by the leader that
/// proposes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditStamp {
    pub principal: Principal,
    pub operation: Operation,
    pub target: Target,
    pub object: String,
    pub peer: String,
    pub member: u64,
    pub at_ms: u64,
    pub retention: Retention,
}

/// An audit record of an event no client request carried: its identity is the receiver or
/// source (`receiver:<name>`, `source:<name>`), its operation names the event
/// (`hook.deliver`, `source.fetch`, `trigger.fire`).
#[derive(Debug, Clone, Copy)]
pub struct AuditEvent<'a> {
    pub who: &'a str,
    pub operation: &'a str,
    pub object: &'a str,
    pub peer: &'a str,
    pub member: u64,
    pub at_ms: u64,
    pub retention: Retention,
    pub outcome: &'a str,
}

/// The trail, by seq.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditState {
    records: BTreeMap<u64, AuditRecord>,
    /// The seq the next record gets (0 before the first: seqs start at 1, so paging with
    /// `after_seq = 0` starts at the beginning).
    next_seq: u64,
}

impl AuditState {
    /// True when no record was ever written.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.next_seq == 0
    }

    /// Records kept now.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Appends a record of `stamp` with `outcome`, then prunes by the stamp's retention.
    pub fn append(&mut self, stamp: &AuditStamp, outcome: &str) {
        self.append_event(&AuditEvent {
            who: &stamp.principal.who(),
            operation: stamp.operation.name(),
            object: &stamp.object,
            peer: &stamp.peer,
            member: stamp.member,
            at_ms: stamp.at_ms,
            retention: stamp.retention,
            outcome,
        });
    }

    /// Appends a record of something no client request carried (a webhook delivery, a
    /// source's fetch, a trigger's firing), then prunes by its retention.
    pub fn append_event(&mut self, event: &AuditEvent<'_>) {
        let seq = self.next_seq.max(1);
        self.next_seq = seq.saturating_add(1);
        let record = AuditRecord {
            seq,
            at_ms: event.at_ms,
            who: bounded(event.who),
            operation: bounded(event.operation),
            object: bounded(event.object),
            peer: bounded(event.peer),
            member: event.member,
            outcome: bounded(event.outcome),
        };
        self.records.insert(seq, record);
        self.prune(event.retention, event.at_ms);
    }

    /// Drops the oldest records (by seq) while more than `max_entries` remain, or while the
    /// oldest is more than `max_age_ms` older than `now_ms`. Leaders' clocks may differ a
    /// little, so times are not strictly ordered by seq; pruning stops at the first record
    /// young enough, which keeps it deterministic and cheap.
    fn prune(&mut self, retention: Retention, now_ms: u64) {
        let max_entries = retention.max_entries.max(1);
        while self.records.len() as u64 > max_entries {
            self.records.pop_first();
        }
        if retention.max_age_ms == 0 {
            return;
        }
        while let Some(oldest) = self.records.first_entry() {
            if oldest.get().at_ms.saturating_add(retention.max_age_ms) >= now_ms {
                break;
            }
            oldest.remove();
        }
    }

    /// Records with seq > `after_seq`, at or after `since_ms`, whose `who` and operation
    /// contain the given substrings (empty: any), oldest first, at most `limit` (0: 100,
    /// capped at 1,000). The seq to pass as `after_seq` for the next page when more match.
    pub fn list(
        &self,
        since_ms: u64,
        who_substr: &str,
        op_substr: &str,
        after_seq: u64,
        limit: u32,
    ) -> (Vec<AuditRecord>, Option<u64>) {
        let limit = match limit {
            0 => DEFAULT_LIST_LIMIT,
            n => n.min(MAX_LIST_LIMIT),
        } as usize;
        let mut matching = self
            .records
            .range((Bound::Excluded(after_seq), Bound::Unbounded))
            .map(|(_, r)| r)
            .filter(|r| {
                r.at_ms >= since_ms && r.who.contains(who_substr) && r.operation.contains(op_substr)
            });
        let page: Vec<AuditRecord> = matching.by_ref().take(limit).cloned().collect();
        let next = match matching.next() {
            Some(_) => page.last().map(|r| r.seq),
            None => None,
        };
        (page, next)
    }

    /// Checks the trail's invariants; the first one broken, described.
    pub fn invariants(&self) -> Result<(), String> {
        for (seq, r) in &self.records {
            if *seq != r.seq || *seq == 0 || *seq >= self.next_seq {
                return Err(format!(
                    "audit record under {seq} has seq {} (next seq {})",
                    r.seq, self.next_seq
                ));
            }
        }
        Ok(())
    }
}

/// `text` cut to [`MAX_AUDIT_TEXT`] characters, with `…` when cut.
pub(super) fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_AUDIT_TEXT) {
        Some((end, _)) => format!("{}…", text.get(..end).unwrap_or_default()),
        None => text.to_string(),
    }
}

#[cfg(test)]
#[path = "tests/audit_unit.rs"]
pub(crate) mod tests;
