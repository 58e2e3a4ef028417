//! WF2, WF3 and WF5 (GUIDE.md §4) checked over a `moor-sitesim` journal, read with
//! `moor_site::journal` (the format and its reader live beside the writer).
//!
//! The journal is the sites' own account of every answered call, written under each site's
//! lock, so per site its order is the order the site processed calls. Only apply and delete
//! lines are considered (observe and drift lines carry no idempotency key or token).
//!
//! - WF2 at most one effect: at most one `applied` line per (execution, step, site). Attempts
//!   may repeat; repeats must come back `duplicate` (or `failed`/`fenced`, which change
//!   nothing).
//! - WF3 monotonic fencing: per site, a token accepted (`applied` or `duplicate`) is never
//!   lower than a token the site accepted on an earlier line.
//! - WF5 no phantom completion: every step Moor recorded as done has an `applied` or
//!   `duplicate` line for its site — the site acknowledged the effect.
//!
//! Every violation names the check, the key and the journal lines involved (1-based line
//! numbers plus the records), so a failing run can be read without reopening the file.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use moor_site::journal::{read_journal, JournalLine, JournalOp, JournalOutcome, JournalReadError};

/// A step Moor recorded as done at a site.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DoneStep {
    pub execution_id: String,
    pub step: u32,
    pub site: String,
}

/// Which invariant a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// WF2: at most one effect per (execution, step, site).
    Wf2AtMostOnceEffect,
    /// WF3: fencing is monotonic per site.
    Wf3MonotonicFencing,
    /// WF5: done only for effects the site acknowledged.
    Wf5NoPhantomCompletion,
}

impl Check {
    /// The invariant's id in GUIDE.md §4.
    pub fn id(self) -> &'static str {
        match self {
            Check::Wf2AtMostOnceEffect => "WF2",
            Check::Wf3MonotonicFencing => "WF3",
            Check::Wf5NoPhantomCompletion => "WF5",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Check::Wf2AtMostOnceEffect => "at most one effect per step and site",
            Check::Wf3MonotonicFencing => "monotonic fencing per site",
            Check::Wf5NoPhantomCompletion => "no phantom completion",
        };
        write!(f, "{} {name}", self.id())
    }
}

/// One broken invariant, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub check: Check,
    pub site: String,
    pub execution_id: String,
    pub step: u32,
    /// What is wrong, in a sentence.
    pub detail: String,
    /// The journal lines involved (none for a WF5 step the site never mentioned).
    pub lines: Vec<JournalLine>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: site {} execution {} step {}: {}",
            self.check, self.site, self.execution_id, self.step, self.detail
        )?;
        for line in &self.lines {
            write!(f, "\n    {line}")?;
        }
        Ok(())
    }
}

/// Figures about the journal a verdict was reached on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Apply and delete lines.
    pub calls: usize,
    pub applied: usize,
    pub duplicate: usize,
    pub fenced: usize,
    pub failed: usize,
    pub sites: usize,
    /// Distinct (execution, step, site) keys called.
    pub keys: usize,
    pub done_steps: usize,
    /// Done steps the journal confirms (applied or duplicate).
    pub done_steps_confirmed: usize,
}

/// The result of [`check`].
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub violations: Vec<Violation>,
    pub stats: JournalStats,
}

impl Verdict {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// How many violations of `check` were found.
    pub fn count(&self, check: Check) -> usize {
        self.violations.iter().filter(|v| v.check == check).count()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        write!(
            f,
            "journal: {} calls at {} sites over {} keys (applied {}, duplicate {}, fenced {}, failed {}); done steps confirmed {}/{}; ",
            s.calls, s.sites, s.keys, s.applied, s.duplicate, s.fenced, s.failed,
            s.done_steps_confirmed, s.done_steps
        )?;
        if self.is_clean() {
            return write!(f, "WF2, WF3, WF5 hold");
        }
        write!(
            f,
            "{} violations (WF2 {}, WF3 {}, WF5 {})",
            self.violations.len(),
            self.count(Check::Wf2AtMostOnceEffect),
            self.count(Check::Wf3MonotonicFencing),
            self.count(Check::Wf5NoPhantomCompletion)
        )?;
        for v in &self.violations {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

type Key<'a> = (&'a str, u32, &'a str);

/// Reads the journal at `path` and checks it against `done_steps` (see [`check`]). A torn
/// final line (sitesim killed mid-write) is left out, as [`read_journal`] explains.
pub fn check_file(path: &Path, done_steps: &[DoneStep]) -> Result<Verdict, JournalReadError> {
    let journal = read_journal(path)?;
    Ok(check(&journal.lines, done_steps))
}

/// Checks WF2, WF3 and WF5 over `lines` (in journal order) and the steps Moor recorded as
/// done. Violations come out grouped by check, each group in a stable order.
pub fn check(lines: &[JournalLine], done_steps: &[DoneStep]) -> Verdict {
    let mut stats = JournalStats::default();
    let (by_key, wf3) = index_and_check_fencing(lines, &mut stats);
    let mut violations = check_at_most_once(lines, &by_key);
    violations.extend(wf3);
    violations.extend(check_no_phantom_completion(
        lines, &by_key, done_steps, &mut stats,
    ));
    Verdict { violations, stats }
}

/// (execution, step, site) → indexes into the lines of its apply/delete lines.
type ByKey<'a> = HashMap<Key<'a>, Vec<usize>>;

/// One pass over the apply and delete lines: counts them into `stats`, indexes them by key,
/// and returns that index with the WF3 violations (per site, a token accepted below one
/// accepted on an earlier line).
fn index_and_check_fencing<'a>(
    lines: &'a [JournalLine],
    stats: &mut JournalStats,
) -> (ByKey<'a>, Vec<Violation>) {
    let mut by_key: ByKey<'a> = HashMap::new();
    // site → index of the line that accepted the highest token so far.
    let mut highest: HashMap<&str, usize> = HashMap::new();
    let mut wf3 = Vec::new();

    for (i, l) in lines.iter().enumerate() {
        let r = &l.record;
        if !matches!(r.op, JournalOp::Apply | JournalOp::Delete) {
            continue;
        }
        stats.calls += 1;
        match r.outcome {
            JournalOutcome::Applied => stats.applied += 1,
            JournalOutcome::Duplicate => stats.duplicate += 1,
            JournalOutcome::Fenced => stats.fenced += 1,
            JournalOutcome::Failed => stats.failed += 1,
            JournalOutcome::Observed | JournalOutcome::Drifted => {}
        }
        by_key
            .entry((r.execution_id.as_str(), r.step, r.site.as_str()))
            .or_default()
            .push(i);
        if !r.outcome.token_accepted() {
            continue;
        }
        match highest.get(r.site.as_str()) {
            Some(&best) if lines[best].record.fence_token > r.fence_token => {
                wf3.push(Violation {
                    check: Check::Wf3MonotonicFencing,
                    site: r.site.clone(),
                    execution_id: r.execution_id.clone(),
                    step: r.step,
                    detail: format!(
                        "accepted ({:?}) token {} after accepting token {} on line {}",
                        r.outcome, r.fence_token, lines[best].record.fence_token, lines[best].line
                    ),
                    lines: vec![lines[best].clone(), l.clone()],
                });
            }
            Some(&best) if lines[best].record.fence_token == r.fence_token => {}
            _ => {
                highest.insert(r.site.as_str(), i);
            }
        }
    }
    stats.sites = by_key
        .keys()
        .map(|(_, _, site)| *site)
        .collect::<BTreeSet<_>>()
        .len();
    stats.keys = by_key.len();
    (by_key, wf3)
}

/// WF2: keys with more than one `applied` line, in key order.
fn check_at_most_once(lines: &[JournalLine], by_key: &ByKey<'_>) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut keys: Vec<&Key<'_>> = by_key.keys().collect();
    keys.sort();
    for key in keys {
        let applied: Vec<JournalLine> = by_key[key]
            .iter()
            .map(|&i| &lines[i])
            .filter(|l| l.record.outcome == JournalOutcome::Applied)
            .cloned()
            .collect();
        if applied.len() > 1 {
            let (execution_id, step, site) = *key;
            violations.push(Violation {
                check: Check::Wf2AtMostOnceEffect,
                site: site.to_string(),
                execution_id: execution_id.to_string(),
                step,
                detail: format!("applied {} times", applied.len()),
                lines: applied,
            });
        }
    }
    violations
}

/// WF5: done steps without an `applied` or `duplicate` line for their key, in step order;
/// counts the done and confirmed steps into `stats`.
fn check_no_phantom_completion(
    lines: &[JournalLine],
    by_key: &ByKey<'_>,
    done_steps: &[DoneStep],
    stats: &mut JournalStats,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let done: BTreeSet<&DoneStep> = done_steps.iter().collect();
    stats.done_steps = done.len();
    for d in done {
        let key = (d.execution_id.as_str(), d.step, d.site.as_str());
        let seen = by_key.get(&key).map(Vec::as_slice).unwrap_or_default();
        let acknowledged = seen
            .iter()
            .any(|&i| lines[i].record.outcome.token_accepted());
        if acknowledged {
            stats.done_steps_confirmed += 1;
            continue;
        }
        violations.push(Violation {
            check: Check::Wf5NoPhantomCompletion,
            site: d.site.clone(),
            execution_id: d.execution_id.clone(),
            step: d.step,
            detail: if seen.is_empty() {
                "recorded done, but the site never answered a call for it".into()
            } else {
                "recorded done, but the site never applied it (no applied or duplicate answer)"
                    .into()
            },
            lines: seen.iter().map(|&i| lines[i].clone()).collect(),
        });
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use moor_site::journal::{JournalRecord, JOURNAL_FORMAT_VERSION};

    fn line(n: usize, site: &str, step: u32, token: u64, outcome: JournalOutcome) -> JournalLine {
        JournalLine {
            line: n,
            record: JournalRecord {
                v: JOURNAL_FORMAT_VERSION,
                ts_ms: n as u64,
                site: site.into(),
                environment: "env".into(),
                resource: "web".into(),
                execution_id: "exec".into(),
                step,
                attempt: 1,
                fence_token: token,
                op: JournalOp::Apply,
                outcome,
                highest_token: token,
                observed_digest: String::new(),
                error: String::new(),
            },
        }
    }

    fn done(site: &str, step: u32) -> DoneStep {
        DoneStep {
            execution_id: "exec".into(),
            step,
            site: site.into(),
        }
    }

    use JournalOutcome::*;

    #[test]
    fn a_clean_journal_passes() {
        let lines = vec![
            line(1, "a", 1, 1, Failed),
            line(2, "a", 1, 1, Applied),
            line(3, "b", 1, 2, Applied),
            line(4, "a", 1, 2, Duplicate),
            line(5, "a", 2, 1, Fenced),
            line(6, "a", 2, 2, Applied),
        ];
        let verdict = check(&lines, &[done("a", 1), done("b", 1), done("a", 2)]);
        assert!(verdict.is_clean(), "{verdict}");
        assert_eq!(verdict.stats.calls, 6);
        assert_eq!(verdict.stats.sites, 2);
        assert_eq!(verdict.stats.keys, 3);
        assert_eq!(verdict.stats.done_steps_confirmed, 3);
    }

    #[test]
    fn two_applies_of_one_key_break_wf2() {
        let lines = vec![line(1, "a", 1, 1, Applied), line(2, "a", 1, 1, Applied)];
        let verdict = check(&lines, &[]);
        assert_eq!(verdict.count(Check::Wf2AtMostOnceEffect), 1, "{verdict}");
        let v = &verdict.violations[0];
        assert_eq!(
            v.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(verdict.to_string().contains("WF2"), "{verdict}");
    }

    #[test]
    fn a_lower_token_accepted_later_breaks_wf3_per_site_only() {
        let lines = vec![
            line(1, "a", 1, 5, Applied),
            line(2, "b", 1, 3, Applied),   // another site: independent
            line(3, "a", 2, 5, Duplicate), // equal: fine
            line(4, "a", 3, 4, Fenced),    // refused: fine
            line(5, "a", 4, 4, Duplicate), // accepted lower: violation
        ];
        let verdict = check(&lines, &[]);
        assert_eq!(verdict.violations.len(), 1, "{verdict}");
        let v = &verdict.violations[0];
        assert_eq!(v.check, Check::Wf3MonotonicFencing);
        assert_eq!(
            v.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
            vec![1, 5]
        );
    }

    #[test]
    fn done_without_acknowledgement_breaks_wf5() {
        let lines = vec![line(1, "a", 1, 1, Failed), line(2, "a", 2, 1, Applied)];
        let verdict = check(&lines, &[done("a", 1), done("a", 2), done("c", 9)]);
        assert_eq!(verdict.count(Check::Wf5NoPhantomCompletion), 2, "{verdict}");
        assert_eq!(verdict.violations[0].lines.len(), 1);
        assert!(verdict.violations[1].lines.is_empty());
        assert_eq!(verdict.stats.done_steps_confirmed, 1);
    }
}
