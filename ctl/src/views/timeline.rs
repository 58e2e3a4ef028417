//! `exec timeline ID`: an execution's history rebuilt from its checkpoints — every attempt of
//! every step, with the fence token (the term of the leader that dispatched it), what came
//! of it and the term of the leader that recorded that, in the order they were dispatched.
//!
//! The `trace` line is the id of the trace the members export the execution's steps in, when
//! trace export is on (ARCHITECTURE.md, "Traces").
//!
//! Attempts are recorded from cluster feature level 2 on (`moorctl cluster status`); for a
//! step that ran before, only its latest attempt is known, and the timeline says so.

use moor_proto::workflow as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls};
use super::table::{fields, grid};
use super::time::{duration, utc};
use super::View;

/// One event of the timeline: one attempt of one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub step: u32,
    pub resource: String,
    pub action: String,
    pub attempt: u32,
    /// The fence token of the dispatch: the term of the leader that dispatched it.
    pub fence_token: u64,
    pub dispatched_ms: u64,
    /// 0 while running, and for a step's latest attempt known only from the step.
    pub finished_ms: u64,
    /// `running`, `succeeded`, `failed`, `superseded` (dispatched again before an answer
    /// came back); for an attempt known only from its step, the step's state.
    pub outcome: String,
    pub error: String,
    /// The term of the leader that recorded the outcome; 0 while running or unknown.
    pub result_term: u64,
    /// False when the cluster kept no history for this step (it ran before feature level
    /// 2): the entry is the step's latest attempt, read from the step itself.
    pub recorded: bool,
}

/// `exec timeline`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineView {
    pub id: String,
    pub environment: String,
    pub kind: String,
    pub state: String,
    pub created_ms: u64,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub error: String,
    /// Steps that ran before the cluster kept attempt histories (only their latest attempt
    /// is shown).
    pub steps_without_history: u32,
    /// The trace every member exports this execution's step spans in, when traces are
    /// exported (`[telemetry]`): look it up in the collector.
    pub trace_id: String,
    pub entries: Vec<TimelineEntry>,
}

impl From<&pb::Execution> for TimelineView {
    fn from(e: &pb::Execution) -> Self {
        let mut entries = Vec::new();
        let mut without = 0;
        for s in &e.steps {
            if s.attempts.is_empty() {
                if s.attempt > 0 {
                    without += 1;
                    entries.push(TimelineEntry {
                        step: s.index,
                        resource: s.resource.clone(),
                        action: s.action.clone(),
                        attempt: s.attempt,
                        fence_token: s.fence_token,
                        dispatched_ms: s.dispatched_ms,
                        finished_ms: s.finished_ms,
                        outcome: s.state.clone(),
                        error: s.last_error.clone(),
                        result_term: 0,
                        recorded: false,
                    });
                }
                continue;
            }
            entries.extend(s.attempts.iter().map(|a| TimelineEntry {
                step: s.index,
                resource: s.resource.clone(),
                action: s.action.clone(),
                attempt: a.attempt,
                fence_token: a.fence_token,
                dispatched_ms: a.dispatched_ms,
                finished_ms: a.finished_ms,
                outcome: a.outcome.clone(),
                error: a.error.clone(),
                result_term: a.result_term,
                recorded: true,
            }));
        }
        // In the order things happened; a step's attempts keep their order on equal times.
        entries.sort_by_key(|t| (t.dispatched_ms, t.step));
        TimelineView {
            id: e.id.clone(),
            environment: e.environment.clone(),
            kind: e.kind.clone(),
            state: e.state.clone(),
            created_ms: e.created_ms,
            started_ms: e.started_ms,
            finished_ms: e.finished_ms,
            error: e.error.clone(),
            steps_without_history: without,
            trace_id: moor_proto::trace::execution_trace_id(&e.id),
            entries,
        }
    }
}

impl View for TimelineView {
    fn table(&self) -> String {
        let head = fields(vec![
            ("id", escape_controls(&self.id)),
            ("environment", escape_controls(&self.environment)),
            ("kind", escape_controls(&self.kind)),
            ("state", escape_controls(&self.state)),
            ("created", utc(self.created_ms)),
            ("started", utc(self.started_ms)),
            ("finished", utc(self.finished_ms)),
            ("error", dash(&self.error)),
            ("trace", self.trace_id.clone()),
        ]);
        if self.entries.is_empty() {
            return format!("{head}\n\nnothing dispatched yet");
        }
        let start = if self.started_ms == 0 {
            self.created_ms
        } else {
            self.started_ms
        };
        let rows = self
            .entries
            .iter()
            .map(|t| {
                let took = if t.finished_ms == 0 {
                    "-".to_string()
                } else {
                    duration(t.finished_ms.saturating_sub(t.dispatched_ms))
                };
                let term = |n: u64| {
                    if n == 0 {
                        "-".to_string()
                    } else {
                        n.to_string()
                    }
                };
                vec![
                    format!("+{}", duration(t.dispatched_ms.saturating_sub(start))),
                    t.step.to_string(),
                    format!("{} {}", t.action, escape_controls(&t.resource)),
                    if t.recorded {
                        t.attempt.to_string()
                    } else {
                        format!("{}*", t.attempt)
                    },
                    t.fence_token.to_string(),
                    escape_controls(&t.outcome),
                    term(t.result_term),
                    took,
                    escape_controls(&t.error),
                ]
            })
            .collect();
        let table = grid(
            Some(&[
                "AT", "STEP", "RESOURCE", "ATTEMPT", "TOKEN", "OUTCOME", "BY TERM", "TOOK", "ERROR",
            ]),
            rows,
            &[1, 3, 4, 6],
        );
        let mut out = format!("{head}\n\n{table}");
        if self.steps_without_history > 0 {
            out.push_str(&format!(
                "\n\n* {} step(s) ran before the cluster kept attempt histories (feature level \
                 2, `moorctl cluster upgrade-finalize`): only their latest attempt is known",
                self.steps_without_history
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(n: u32, token: u64, at: u64, outcome: &str, by: u64) -> pb::StepAttempt {
        pb::StepAttempt {
            attempt: n,
            fence_token: token,
            dispatched_ms: at,
            finished_ms: if outcome == "running" { 0 } else { at + 40 },
            outcome: outcome.into(),
            error: if outcome == "failed" {
                "site refused: disk full".into()
            } else {
                String::new()
            },
            result_term: by,
        }
    }

    fn execution() -> pb::Execution {
        pb::Execution {
            id: "x9".into(),
            environment: "web-1".into(),
            kind: "install".into(),
            state: "succeeded".into(),
            started_ms: 1_000,
            finished_ms: 5_000,
            steps: vec![
                pb::Step {
                    index: 0,
                    resource: "db".into(),
                    action: "create".into(),
                    state: "succeeded".into(),
                    attempt: 3,
                    fence_token: 4,
                    attempts: vec![
                        attempt(1, 3, 1_000, "superseded", 4),
                        attempt(2, 4, 1_200, "failed", 4),
                        attempt(3, 4, 2_200, "succeeded", 4),
                    ],
                    ..Default::default()
                },
                pb::Step {
                    index: 1,
                    resource: "app".into(),
                    action: "create".into(),
                    state: "succeeded".into(),
                    attempt: 1,
                    fence_token: 3,
                    dispatched_ms: 1_100,
                    finished_ms: 1_150,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn attempts_in_dispatch_order_with_tokens_and_terms() {
        let v = TimelineView::from(&execution());
        let order: Vec<(u32, u32)> = v.entries.iter().map(|t| (t.step, t.attempt)).collect();
        assert_eq!(order, [(0, 1), (1, 1), (0, 2), (0, 3)]);
        assert_eq!(v.steps_without_history, 1);
        assert!(!v.entries[1].recorded);
        let table = v.table();
        assert!(table.contains("superseded"), "{table}");
        assert!(table.contains("site refused: disk full"), "{table}");
        assert!(table.contains("1*"), "{table}");
        assert!(
            table.contains("only their latest attempt is known"),
            "{table}"
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["entries"][0]["outcome"], "superseded");
        assert_eq!(json["entries"][0]["fence_token"], 3);
        assert_eq!(json["entries"][0]["result_term"], 4);
        // The trace the members export its steps in (SHA-256 of "moor/execution/x9").
        assert_eq!(json["trace_id"], "cb4ebd52635d0cf7fb5bb3ffd1068749");
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("trace") && l.ends_with("cb4ebd52635d0cf7fb5bb3ffd1068749")),
            "{table}"
        );
    }

    #[test]
    fn an_execution_with_nothing_dispatched_says_so() {
        let e = pb::Execution {
            id: "x1".into(),
            state: "queued".into(),
            ..Default::default()
        };
        assert!(TimelineView::from(&e)
            .table()
            .contains("nothing dispatched yet"));
    }
}
