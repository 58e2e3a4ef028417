//! Acked-write durability of a grow-only set (GUIDE.md §5, layer 4).
//!
//! The set workload adds unique values and, after the faults heal, reads the whole set. Per
//! set key the last Ok `ReadAll` (by completion time) is the final read, and:
//! - every value whose `Add` was acknowledged (Ok) before the final read began must be in it,
//!   otherwise it is lost — an acknowledged write the cluster forgot;
//! - every value in it must have been attempted by an `Add` that did not definitely fail,
//!   otherwise it is unexpected — data nobody wrote, or a write reported as failed that
//!   happened anyway;
//! - values whose add was unknown may or may not be there; those present are counted as
//!   recovered.
//!
//! Acks that arrived after the final read began are concurrent with it and may be missing;
//! they are counted, not judged. A key without a final read fails the check: durability was
//! never observed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::history::{Op, OpKind, Outcome};

/// What [`check_set`] found, summed over set keys.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct SetVerdict {
    /// Every set key had a final read, nothing was lost and nothing unexpected appeared.
    pub ok: bool,
    /// Distinct values with an Ok add.
    pub acked: usize,
    /// Acked before the final read began, yet missing from it. Sorted.
    pub lost: Vec<i64>,
    /// In the final read but never added, or only by adds that definitely failed. Sorted.
    pub unexpected: Vec<i64>,
    /// Values whose adds were all unknown that the final read shows.
    pub recovered_unknown: usize,
    /// Values whose adds were all unknown that the final read does not show.
    pub absent_unknown: usize,
    /// Acked values whose ack came after the final read began (not required to be present).
    pub acked_after_final_read: usize,
    /// Why the check could not be made for some key (no final read, malformed final read).
    pub errors: Vec<String>,
}

/// How the adds of one value ended, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AddFate {
    Failed,
    Unknown,
    /// Acked; the earliest completion time of an Ok add.
    Acked(u64),
}

/// Checks every key that has Add or ReadAll ops.
pub fn check_set(ops: &[Op]) -> SetVerdict {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        if matches!(op.kind, OpKind::Add | OpKind::ReadAll) {
            by_key.entry(op.key.as_str()).or_default().push(op);
        }
    }
    let mut verdict = SetVerdict {
        ok: true,
        acked: 0,
        lost: Vec::new(),
        unexpected: Vec::new(),
        recovered_unknown: 0,
        absent_unknown: 0,
        acked_after_final_read: 0,
        errors: Vec::new(),
    };
    if by_key.is_empty() {
        verdict.ok = false;
        verdict
            .errors
            .push("no set ops in the history: no final read".to_string());
    }
    for (key, key_ops) in by_key {
        check_key(key, &key_ops, &mut verdict);
    }
    verdict.lost.sort_unstable();
    verdict.unexpected.sort_unstable();
    verdict
}

fn check_key(key: &str, ops: &[&Op], verdict: &mut SetVerdict) {
    // Per value, the strongest fate over all its adds: one ack is enough.
    let mut fates: BTreeMap<i64, AddFate> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.kind == OpKind::Add) {
        let Some(value) = op.value else { continue };
        let fate = match op.effective_outcome() {
            Outcome::Ok => AddFate::Acked(op.complete_ns.unwrap_or(op.invoke_ns)),
            Outcome::Unknown => AddFate::Unknown,
            Outcome::Fail => AddFate::Failed,
        };
        fates
            .entry(value)
            .and_modify(|f| {
                *f = match (*f, fate) {
                    (AddFate::Acked(a), AddFate::Acked(b)) => AddFate::Acked(a.min(b)),
                    (a, b) => a.max(b),
                }
            })
            .or_insert(fate);
    }
    verdict.acked += fates
        .values()
        .filter(|f| matches!(f, AddFate::Acked(_)))
        .count();

    let final_read = ops
        .iter()
        .filter(|op| op.kind == OpKind::ReadAll && op.outcome == Some(Outcome::Ok))
        .max_by_key(|op| (op.complete_ns.unwrap_or(op.invoke_ns), op.id));
    let Some(final_read) = final_read else {
        verdict.ok = false;
        verdict.errors.push(format!(
            "set {key:?}: no Ok ReadAll, so no final read to check"
        ));
        return;
    };
    let Some(seen) = parse_read_all(final_read.result.as_ref()) else {
        verdict.ok = false;
        verdict.errors.push(format!(
            "set {key:?}: final read (op {}) returned {}, not an array of integers",
            final_read.id,
            final_read
                .result
                .as_ref()
                .map_or_else(|| "nothing".to_string(), |r| r.to_string())
        ));
        return;
    };

    for (&value, &fate) in &fates {
        let present = seen.contains(&value);
        match fate {
            AddFate::Acked(at) if at < final_read.invoke_ns => {
                if !present {
                    verdict.lost.push(value);
                }
            }
            AddFate::Acked(_) => verdict.acked_after_final_read += 1,
            AddFate::Unknown if present => verdict.recovered_unknown += 1,
            AddFate::Unknown => verdict.absent_unknown += 1,
            AddFate::Failed => {}
        }
    }
    for &value in &seen {
        if matches!(fates.get(&value), None | Some(AddFate::Failed)) {
            verdict.unexpected.push(value);
        }
    }
    if !verdict.lost.is_empty() || !verdict.unexpected.is_empty() {
        verdict.ok = false;
    }
}

/// A ReadAll result: an array of integers (duplicates collapse).
fn parse_read_all(result: Option<&serde_json::Value>) -> Option<BTreeSet<i64>> {
    result?.as_array()?.iter().map(|v| v.as_i64()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(
        id: u64,
        kind: OpKind,
        value: Option<i64>,
        result: Option<serde_json::Value>,
        span: (u64, Option<u64>),
        outcome: Option<Outcome>,
    ) -> Op {
        Op {
            id,
            process: id % 3,
            kind,
            key: "s".to_string(),
            value,
            expected: None,
            result,
            invoke_ns: span.0,
            complete_ns: span.1,
            outcome,
            error: None,
        }
    }

    fn add(id: u64, v: i64, t: u64, outcome: Option<Outcome>) -> Op {
        let done = outcome.map(|_| t + 5);
        op(id, OpKind::Add, Some(v), None, (t, done), outcome)
    }

    fn read_all(id: u64, values: &[i64], t: u64) -> Op {
        op(
            id,
            OpKind::ReadAll,
            None,
            Some(json!(values)),
            (t, Some(t + 5)),
            Some(Outcome::Ok),
        )
    }

    #[test]
    fn all_acked_adds_present() {
        let ops = vec![
            add(0, 1, 0, Some(Outcome::Ok)),
            add(1, 2, 10, Some(Outcome::Ok)),
            add(2, 3, 20, Some(Outcome::Unknown)),
            add(3, 4, 30, None),
            add(4, 5, 40, Some(Outcome::Fail)),
            // An early read that misses values is not the final one.
            read_all(5, &[1], 12),
            read_all(6, &[1, 2, 3], 100),
        ];
        let v = check_set(&ops);
        assert!(v.ok, "{v:?}");
        assert_eq!(v.acked, 2);
        assert_eq!(v.recovered_unknown, 1);
        assert_eq!(v.absent_unknown, 1);
        assert!(v.lost.is_empty() && v.unexpected.is_empty() && v.errors.is_empty());
    }

    #[test]
    fn lost_acked_write_is_reported() {
        let ops = vec![
            add(0, 1, 0, Some(Outcome::Ok)),
            add(1, 2, 10, Some(Outcome::Ok)),
            add(2, 3, 20, Some(Outcome::Ok)),
            read_all(3, &[1, 2, 3], 50),
            // The last read forgot 2: it is the final one.
            read_all(4, &[3, 1], 100),
        ];
        let v = check_set(&ops);
        assert!(!v.ok);
        assert_eq!(v.lost, vec![2]);
        assert_eq!(v.acked, 3);
    }

    #[test]
    fn unexpected_values_are_reported() {
        let ops = vec![
            add(0, 1, 0, Some(Outcome::Ok)),
            add(1, 2, 10, Some(Outcome::Fail)),
            // 2 definitely failed, 9 was never added.
            read_all(2, &[1, 2, 9], 100),
        ];
        let v = check_set(&ops);
        assert!(!v.ok);
        assert_eq!(v.unexpected, vec![2, 9]);
        assert!(v.lost.is_empty());
    }

    #[test]
    fn a_retried_add_counts_once_and_an_ack_wins() {
        let ops = vec![
            add(0, 1, 0, Some(Outcome::Unknown)),
            add(1, 1, 10, Some(Outcome::Ok)),
            add(2, 2, 10, Some(Outcome::Fail)),
            add(3, 2, 20, Some(Outcome::Unknown)),
            read_all(4, &[1, 2], 100),
        ];
        let v = check_set(&ops);
        assert!(v.ok, "{v:?}");
        assert_eq!((v.acked, v.recovered_unknown), (1, 1));
    }

    #[test]
    fn acks_after_the_final_read_began_are_not_required() {
        let ops = vec![
            add(0, 1, 0, Some(Outcome::Ok)),
            // Acked at 105, the final read began at 100.
            add(1, 2, 100, Some(Outcome::Ok)),
            read_all(2, &[1], 100),
        ];
        let v = check_set(&ops);
        assert!(v.ok, "{v:?}");
        assert_eq!(v.acked_after_final_read, 1);
    }

    #[test]
    fn no_final_read_fails() {
        let mut ops = vec![add(0, 1, 0, Some(Outcome::Ok))];
        let v = check_set(&ops);
        assert!(!v.ok);
        assert!(v.errors[0].contains("no Ok ReadAll"), "{v:?}");
        // A failed or unknown read is no final read either.
        ops.push(op(
            1,
            OpKind::ReadAll,
            None,
            None,
            (10, Some(20)),
            Some(Outcome::Fail),
        ));
        ops.push(op(2, OpKind::ReadAll, None, None, (30, None), None));
        assert!(!check_set(&ops).ok);
        // Nor is an empty history.
        assert!(!check_set(&[]).ok);
    }

    #[test]
    fn malformed_final_read_fails_without_panicking() {
        let ops = vec![
            add(0, 1, 0, Some(Outcome::Ok)),
            op(
                1,
                OpKind::ReadAll,
                None,
                Some(json!({"x": 1})),
                (10, Some(20)),
                Some(Outcome::Ok),
            ),
        ];
        let v = check_set(&ops);
        assert!(!v.ok);
        assert!(v.errors[0].contains("not an array"), "{v:?}");
        let ops = vec![op(
            1,
            OpKind::ReadAll,
            None,
            None,
            (10, Some(20)),
            Some(Outcome::Ok),
        )];
        assert!(!check_set(&ops).ok);
    }

    #[test]
    fn keys_are_checked_separately() {
        let mut other = vec![add(10, 1, 0, Some(Outcome::Ok)), read_all(11, &[], 50)];
        for op in &mut other {
            op.key = "t".into();
        }
        let mut ops = vec![add(0, 1, 0, Some(Outcome::Ok)), read_all(1, &[1], 50)];
        ops.extend(other);
        let v = check_set(&ops);
        assert!(!v.ok);
        assert_eq!(v.lost, vec![1]);
        assert_eq!(v.acked, 2);
    }
}
