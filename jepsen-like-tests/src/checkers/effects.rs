//! The real effects of the `rollout-agents` workload: what each command run left in its
//! agent's `effects.log` (one line `execution step attempt token` per completed run, written
//! by the command itself), held against that agent's journal and the steps Moor counts as
//! done.
//!
//! - WF2 at the effect, per (site, execution, step): at most one run the agent answered
//!   `applied`, and no run after it (once the agent recorded a step it never runs it again).
//!   Runs before it that the agent never answered `applied` are re-runs after a crash: the
//!   agent's documented window (the effect done, then killed before its record was fsynced,
//!   so the next attempt runs the command again). They are counted, and are a violation
//!   only at an agent that was never killed.
//! - WF5 at the effect: every step Moor counts as done at an agent's site ran at least once.
//!
//! The journal checker ([`super::journal`]) separately holds the agents' answers to WF2, WF3
//! and WF5, as it does the simulator's.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use moor_site::journal::{JournalLine, JournalOp, JournalOutcome};
use serde::Serialize;

use super::journal::DoneStep;

/// One completed run of a command, as its line in `effects.log` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub execution_id: String,
    pub step: u32,
    pub attempt: u32,
    pub fence_token: u64,
}

/// Parses `effects.log`; returns the runs and the number of lines that are not runs (a line
/// torn by a kill).
pub fn parse_runs(text: &str) -> (Vec<Run>, usize) {
    let mut runs = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let run = match parts.as_slice() {
            [execution_id, step, attempt, token] => (|| {
                Some(Run {
                    execution_id: execution_id.to_string(),
                    step: step.parse().ok()?,
                    attempt: attempt.parse().ok()?,
                    fence_token: token.parse().ok()?,
                })
            })(),
            _ => None,
        };
        match run {
            Some(r) => runs.push(r),
            None => bad += 1,
        }
    }
    (runs, bad)
}

/// What one agent's site left: its runs (file order), its journal, and how often it was
/// killed.
pub struct AgentEvidence<'a> {
    pub site: &'a str,
    pub runs: &'a [Run],
    pub journal: &'a [JournalLine],
    pub kills: usize,
}

/// The verdict over every agent of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EffectsVerdict {
    pub agents: usize,
    pub runs: usize,
    /// Runs re-done after a crash before the agent recorded them (allowed, see module docs).
    pub reruns_after_crash: usize,
    pub done_steps_checked: usize,
    pub violations: Vec<String>,
}

impl EffectsVerdict {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks the agents' runs (see the module docs). `done` is every step Moor recorded as
/// done; only those at the agents' sites are looked at.
pub fn check(agents: &[AgentEvidence<'_>], done: &[DoneStep]) -> EffectsVerdict {
    let mut v = EffectsVerdict {
        agents: agents.len(),
        ..Default::default()
    };
    for agent in agents {
        v.runs += agent.runs.len();
        check_agent(agent, &mut v);
        let ran: HashSet<(&str, u32)> = agent
            .runs
            .iter()
            .map(|r| (r.execution_id.as_str(), r.step))
            .collect();
        for d in done.iter().filter(|d| d.site == agent.site) {
            v.done_steps_checked += 1;
            if !ran.contains(&(d.execution_id.as_str(), d.step)) {
                v.violations.push(format!(
                    "WF5 at the effect: site {} execution {} step {} is done in Moor but its command never completed a run there",
                    agent.site, d.execution_id, d.step
                ));
            }
        }
    }
    v
}

fn check_agent(agent: &AgentEvidence<'_>, v: &mut EffectsVerdict) {
    // (execution, step, attempt, token) of every apply the agent answered `applied`.
    let applied: HashSet<(&str, u32, u32, u64)> = agent
        .journal
        .iter()
        .map(|l| &l.record)
        .filter(|r| r.op == JournalOp::Apply && r.outcome == JournalOutcome::Applied)
        .map(|r| (r.execution_id.as_str(), r.step, r.attempt, r.fence_token))
        .collect();
    let mut by_key: BTreeMap<(&str, u32), Vec<&Run>> = BTreeMap::new();
    for r in agent.runs {
        by_key
            .entry((r.execution_id.as_str(), r.step))
            .or_default()
            .push(r);
    }
    for ((execution, step), runs) in by_key {
        let recorded: Vec<usize> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| applied.contains(&(execution, step, r.attempt, r.fence_token)))
            .map(|(i, _)| i)
            .collect();
        let shown = || {
            runs.iter()
                .map(|r| format!("attempt {} token {}", r.attempt, r.fence_token))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if recorded.len() > 1 {
            v.violations.push(format!(
                "WF2 at the effect: site {} execution {execution} step {step}: {} runs answered applied ({})",
                agent.site,
                recorded.len(),
                shown()
            ));
            continue;
        }
        let last_allowed = recorded.first().copied().unwrap_or(runs.len() - 1);
        if last_allowed + 1 < runs.len() {
            v.violations.push(format!(
                "WF2 at the effect: site {} execution {execution} step {step} ran again after the agent had answered applied ({})",
                agent.site,
                shown()
            ));
            continue;
        }
        let reruns = runs.len() - 1;
        if reruns > 0 && agent.kills == 0 {
            v.violations.push(format!(
                "WF2 at the effect: site {} execution {execution} step {step} ran {} times though its agent was never killed ({})",
                agent.site,
                runs.len(),
                shown()
            ));
        } else {
            v.reruns_after_crash += reruns;
        }
    }
}

/// Reads `effects.log` under `root` (missing: no run yet).
pub fn read_runs(root: &Path) -> std::io::Result<(Vec<Run>, usize)> {
    match std::fs::read_to_string(root.join(crate::workload::rollout::EFFECTS_FILE)) {
        Ok(text) => Ok(parse_runs(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), 0)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moor_site::journal::{JournalRecord, JOURNAL_FORMAT_VERSION};

    fn run(attempt: u32, token: u64) -> Run {
        Run {
            execution_id: "x1".into(),
            step: 2,
            attempt,
            fence_token: token,
        }
    }

    fn applied(attempt: u32, token: u64) -> JournalLine {
        JournalLine {
            line: 1,
            record: JournalRecord {
                v: JOURNAL_FORMAT_VERSION,
                ts_ms: 1,
                site: "s".into(),
                environment: "e".into(),
                resource: "r".into(),
                execution_id: "x1".into(),
                step: 2,
                attempt,
                fence_token: token,
                op: JournalOp::Apply,
                outcome: JournalOutcome::Applied,
                highest_token: token,
                observed_digest: String::new(),
                error: String::new(),
            },
        }
    }

    fn verdict(runs: &[Run], journal: &[JournalLine], kills: usize, done: bool) -> EffectsVerdict {
        let done: Vec<DoneStep> = done
            .then(|| DoneStep {
                execution_id: "x1".into(),
                step: 2,
                site: "s".into(),
            })
            .into_iter()
            .collect();
        check(
            &[AgentEvidence {
                site: "s",
                runs,
                journal,
                kills,
            }],
            &done,
        )
    }

    #[test]
    fn one_recorded_run_is_clean() {
        let v = verdict(&[run(1, 5)], &[applied(1, 5)], 0, true);
        assert!(v.is_clean(), "{:?}", v.violations);
        assert_eq!((v.runs, v.done_steps_checked), (1, 1));
    }

    #[test]
    fn a_rerun_before_the_record_is_allowed_only_after_a_kill() {
        let runs = [run(1, 5), run(2, 5)];
        let v = verdict(&runs, &[applied(2, 5)], 1, true);
        assert!(v.is_clean(), "{:?}", v.violations);
        assert_eq!(v.reruns_after_crash, 1);
        let v = verdict(&runs, &[applied(2, 5)], 0, true);
        assert_eq!(v.violations.len(), 1, "{:?}", v.violations);
    }

    #[test]
    fn a_run_after_the_recorded_one_or_two_recorded_runs_break_wf2() {
        let v = verdict(&[run(1, 5), run(2, 6)], &[applied(1, 5)], 3, true);
        assert!(
            v.violations[0].contains("ran again after"),
            "{:?}",
            v.violations
        );
        let v = verdict(
            &[run(1, 5), run(2, 6)],
            &[applied(1, 5), applied(2, 6)],
            3,
            true,
        );
        assert!(
            v.violations[0].contains("2 runs answered applied"),
            "{:?}",
            v.violations
        );
    }

    #[test]
    fn a_done_step_without_a_run_breaks_wf5() {
        let v = verdict(&[], &[applied(1, 5)], 0, true);
        assert!(v.violations[0].starts_with("WF5"), "{:?}", v.violations);
        assert!(verdict(&[], &[], 0, false).is_clean());
    }

    #[test]
    fn torn_lines_are_counted_not_runs() {
        let (runs, bad) = parse_runs("x1 2 1 5\nx1 2\nx1 two 1 5\n");
        assert_eq!((runs, bad), (vec![run(1, 5)], 2));
    }
}
