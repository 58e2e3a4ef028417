//! The journal: one JSON line per answered call, a site's own account of what it did, and the
//! evidence the WF2/WF3/WF5 checkers (`jepsen-like-tests`, `checkers::journal`) read after a
//! run. The format lives here, beside the code that writes it, so writer and readers cannot
//! drift apart.
//!
//! Format version 1 (field `v`); readers refuse any other version. Files: this one (the record
//! format), `writer` ([`Journal`]: the simulator's writer thread, backpressure, flush),
//! `append` ([`AppendJournal`]: the agent's, one write per line before the answer), `reader`
//! ([`read_journal`]: a whole file, tolerating a line torn by a crash).

mod append;
mod reader;
mod writer;

use serde::{Deserialize, Serialize};

pub use append::AppendJournal;
pub use reader::{read_journal, JournalFile, JournalLine, JournalReadError};
pub use writer::{Journal, JournalError, JournalSlot};

/// The journal line format written by this version.
pub const JOURNAL_FORMAT_VERSION: u32 = 1;

/// Which call a line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalOp {
    Apply,
    Delete,
    Observe,
    /// An out-of-band change made by the InjectDrift admin call.
    Drift,
}

/// How the site answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalOutcome {
    Applied,
    Duplicate,
    Fenced,
    Failed,
    /// Observe calls (only journaled with `--journal-observe`).
    Observed,
    /// Drift injections.
    Drifted,
}

impl JournalOutcome {
    /// How a mutating call's protocol outcome is journaled (`None`: no outcome decided).
    pub fn of(outcome: moor_proto::site::Outcome) -> Option<JournalOutcome> {
        use moor_proto::site::Outcome;
        match outcome {
            Outcome::Applied => Some(JournalOutcome::Applied),
            Outcome::Duplicate => Some(JournalOutcome::Duplicate),
            Outcome::Fenced => Some(JournalOutcome::Fenced),
            Outcome::Failed => Some(JournalOutcome::Failed),
            Outcome::Unspecified => None,
        }
    }

    /// Whether the site accepted the call's fence token (the outcomes WF3 is about).
    pub fn token_accepted(self) -> bool {
        matches!(self, JournalOutcome::Applied | JournalOutcome::Duplicate)
    }
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Format version ([`JOURNAL_FORMAT_VERSION`]).
    pub v: u32,
    /// Wall-clock time the site answered, in milliseconds since the Unix epoch.
    pub ts_ms: u64,
    pub site: String,
    pub environment: String,
    pub resource: String,
    pub execution_id: String,
    pub step: u32,
    pub attempt: u32,
    pub fence_token: u64,
    pub op: JournalOp,
    pub outcome: JournalOutcome,
    /// The site's highest accepted token after this call.
    pub highest_token: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub observed_digest: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// A well-formed record for tests: an applied apply at site `s`, step `step`.
#[cfg(test)]
pub(crate) fn sample_record(step: u32) -> JournalRecord {
    JournalRecord {
        v: JOURNAL_FORMAT_VERSION,
        ts_ms: 1,
        site: "s".into(),
        environment: "e".into(),
        resource: "r".into(),
        execution_id: "x".into(),
        step,
        attempt: 1,
        fence_token: 1,
        op: JournalOp::Apply,
        outcome: JournalOutcome::Applied,
        highest_token: 1,
        observed_digest: "d".into(),
        error: String::new(),
    }
}
