//! The operation history of a fault-injection run: every client call as an invocation and (if
//! the client lived to see it) a completion, timed on one monotonic clock, plus the nemesis
//! events on the same clock. The checkers and the report read it; `history.jsonl` holds it.
//!
//! An op never completed (its process crashed, or the run ended first) has `outcome: None` and
//! counts as [`Outcome::Unknown`]: it may or may not have taken effect.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What an operation does.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// Read one register; result is an i64 or null (absent).
    Read,
    /// Write `value` to a register.
    Write,
    /// Compare-and-set a register from `expected` to `value`.
    Cas,
    /// Add `value` to a set.
    Add,
    /// Read a whole set; result is an array of i64.
    ReadAll,
}

/// How an operation ended.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It took effect (a read: it returned `result`).
    Ok,
    /// It definitely did not take effect (including a CAS whose comparison failed).
    Fail,
    /// It may or may not have taken effect (timeout, connection lost mid-call).
    Unknown,
}

/// One operation: its invocation and, once known, its completion.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Op {
    /// Unique within the history, in invocation order.
    pub id: u64,
    /// The logical client that issued it; a process has at most one op in flight.
    pub process: u64,
    pub kind: OpKind,
    pub key: String,
    /// Write(v), Add(v), Cas(to).
    pub value: Option<i64>,
    /// Cas(from).
    pub expected: Option<i64>,
    /// Read -> i64 or null, ReadAll -> [i64].
    pub result: Option<serde_json::Value>,
    /// Nanoseconds since the history was created.
    pub invoke_ns: u64,
    /// None while in flight or never completed.
    pub complete_ns: Option<u64>,
    /// None while in flight or never completed; counts as [`Outcome::Unknown`].
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
}

impl Op {
    /// The outcome with "never completed" folded into [`Outcome::Unknown`].
    pub fn effective_outcome(&self) -> Outcome {
        self.outcome.unwrap_or(Outcome::Unknown)
    }
}

/// Whether a fault was actually in place.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultStatus {
    /// The fault was installed and verified.
    Installed,
    /// The fault was not attempted (e.g. missing privileges); the window saw no fault.
    Skipped,
    /// Installing or removing it failed part way; the fault may or may not have been active.
    Indeterminate,
}

/// One fault window, timed on the history's clock.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct NemesisEvent {
    pub name: String,
    pub detail: String,
    pub status: FaultStatus,
    pub start_ns: u64,
    /// None if the fault was never healed before the run ended.
    pub end_ns: Option<u64>,
}

struct Inner {
    ops: Vec<Op>,
}

/// A shared, append-only history. Clones share the same ops and clock.
#[derive(Clone)]
pub struct History {
    start: Instant,
    inner: Arc<Mutex<Inner>>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("ops", &self.lock().ops.len())
            .finish()
    }
}

impl History {
    /// An empty history whose clock starts now.
    pub fn new() -> Self {
        History {
            start: Instant::now(),
            inner: Arc::new(Mutex::new(Inner { ops: Vec::new() })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking recorder must not hide the rest of the history.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Nanoseconds since [`History::new`], monotonic; use it to time nemesis events.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records an invocation and returns its op id (pass it to [`History::complete`]).
    pub fn invoke(
        &self,
        process: u64,
        kind: OpKind,
        key: &str,
        value: Option<i64>,
        expected: Option<i64>,
    ) -> u64 {
        let mut inner = self.lock();
        // Take the time under the lock so ids and invoke times are in the same order.
        let invoke_ns = self.now_ns();
        let id = inner.ops.len() as u64;
        inner.ops.push(Op {
            id,
            process,
            kind,
            key: key.to_string(),
            value,
            expected,
            result: None,
            invoke_ns,
            complete_ns: None,
            outcome: None,
            error: None,
        });
        id
    }

    /// Records the completion of op `id`. An unknown id or a second completion is ignored (the
    /// first answer stands), so a confused caller cannot rewrite history.
    pub fn complete(
        &self,
        id: u64,
        outcome: Outcome,
        result: Option<serde_json::Value>,
        error: Option<String>,
    ) {
        let complete_ns = self.now_ns();
        let mut inner = self.lock();
        let Some(op) = usize::try_from(id).ok().and_then(|i| inner.ops.get_mut(i)) else {
            return;
        };
        if op.outcome.is_some() {
            return;
        }
        op.complete_ns = Some(complete_ns.max(op.invoke_ns));
        op.outcome = Some(outcome);
        op.result = result;
        op.error = error;
    }

    /// A snapshot of all ops so far, in id order.
    pub fn ops(&self) -> Vec<Op> {
        self.lock().ops.clone()
    }

    /// Writes the ops so far as JSON lines, one op per line.
    pub fn write_jsonl(&self, path: &Path) -> anyhow::Result<()> {
        write_jsonl(path, &self.ops())
    }

    /// Reads ops written by [`History::write_jsonl`]. Blank lines are skipped.
    pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Op>> {
        read_jsonl(path)
    }
}

/// Writes any serialisable records as JSON lines.
pub fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// Reads JSON lines into records; blank lines are skipped, any bad line is an error naming it.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut records = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("read {} line {}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        records.push(
            serde_json::from_str(&line)
                .with_context(|| format!("parse {} line {}", path.display(), i + 1))?,
        );
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_invocations_and_completions_in_order() {
        let h = History::new();
        let a = h.invoke(0, OpKind::Write, "k", Some(1), None);
        let b = h.invoke(1, OpKind::Read, "k", None, None);
        h.complete(a, Outcome::Ok, None, None);
        h.complete(b, Outcome::Ok, Some(serde_json::json!(1)), None);
        // A second completion does not rewrite the first.
        h.complete(a, Outcome::Fail, None, Some("late".into()));
        h.complete(99, Outcome::Ok, None, None);
        let ops = h.ops();
        assert_eq!(ops.len(), 2);
        assert_eq!((ops[0].id, ops[1].id), (0, 1));
        assert_eq!(ops[0].outcome, Some(Outcome::Ok));
        assert_eq!(ops[0].error, None);
        assert_eq!(ops[1].result, Some(serde_json::json!(1)));
        assert!(ops[0].invoke_ns <= ops[1].invoke_ns);
        assert!(ops[0].complete_ns.unwrap() >= ops[0].invoke_ns);
    }

    #[test]
    fn uncompleted_ops_count_as_unknown_and_round_trip_through_jsonl() {
        let h = History::new();
        let a = h.invoke(0, OpKind::Cas, "k", Some(2), Some(1));
        h.invoke(1, OpKind::Add, "s", Some(7), None);
        h.complete(a, Outcome::Fail, None, Some("mismatch".into()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        h.write_jsonl(&path).unwrap();
        let back = History::read_jsonl(&path).unwrap();
        assert_eq!(back, h.ops());
        assert_eq!(back[1].outcome, None);
        assert_eq!(back[1].effective_outcome(), Outcome::Unknown);
        assert_eq!(back[0].effective_outcome(), Outcome::Fail);
    }

    #[test]
    fn read_jsonl_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, "\n{\"nope\":1}\n").unwrap();
        let err = History::read_jsonl(&path).unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
