//! Views of executions: a started one, one with its steps, the list; and the one-line
//! forms of an execution and a step that the watch displays print.

use moor_proto::names::{display, ExecKind, ExecState, StepAction, StepState, WireName};
use moor_proto::workflow as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls};
use super::table::{fields, grid};
use super::time::{duration, utc};
use super::View;

/// A started, resumed or cancelled execution.
#[derive(Debug, Clone, Serialize)]
pub struct ExecRefView {
    pub id: String,
    pub state: String,
    /// The line a table shows, e.g. `execution x12 started: install of web-1 (running)`.
    #[serde(skip)]
    pub message: String,
}

impl View for ExecRefView {
    fn table(&self) -> String {
        self.message.clone()
    }
}

/// One step of an execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepView {
    pub index: u32,
    pub resource: String,
    pub resource_type: String,
    /// `create`, `modify` or `delete`.
    pub action: String,
    /// `pending`, `dispatched`, `succeeded`, `failed` or `skipped`.
    pub state: String,
    pub attempt: u32,
    /// The fence token of the latest dispatch (0: never dispatched).
    pub fence_token: u64,
    pub depends_on: Vec<u32>,
    pub last_error: String,
    pub dispatched_ms: u64,
    pub finished_ms: u64,
}

impl From<&pb::Step> for StepView {
    fn from(s: &pb::Step) -> Self {
        StepView {
            index: s.index,
            resource: s.resource.clone(),
            resource_type: s.resource_type.clone(),
            action: s.action.clone(),
            state: s.state.clone(),
            attempt: s.attempt,
            fence_token: s.fence_token,
            depends_on: s.depends_on.clone(),
            last_error: s.last_error.clone(),
            dispatched_ms: s.dispatched_ms,
            finished_ms: s.finished_ms,
        }
    }
}

/// The steps of an execution as a table.
pub fn steps_table(steps: &[StepView]) -> String {
    grid(
        Some(&[
            "INDEX", "RESOURCE", "ACTION", "STATE", "ATTEMPT", "TOKEN", "DEPS", "ERROR",
        ]),
        steps
            .iter()
            .map(|s| {
                let deps = if s.depends_on.is_empty() {
                    "-".to_string()
                } else {
                    s.depends_on
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                };
                vec![
                    s.index.to_string(),
                    escape_controls(&s.resource),
                    display::<StepAction>(&s.action),
                    display::<StepState>(&s.state),
                    s.attempt.to_string(),
                    if s.fence_token == 0 {
                        "-".to_string()
                    } else {
                        s.fence_token.to_string()
                    },
                    deps,
                    dash(&s.last_error),
                ]
            })
            .collect(),
        &[0, 4, 5],
    )
}

/// An execution, with its steps when the server sent them (`exec show`, `exec watch`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecView {
    pub id: String,
    pub environment: String,
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled` or `interrupted`.
    pub state: String,
    /// The blueprint revision it moves to (0: none, e.g. an uninstall).
    pub target_revision: u64,
    pub created_ms: u64,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub error: String,
    pub steps_total: u32,
    pub steps_succeeded: u32,
    pub steps_failed: u32,
    pub steps_running: u32,
    pub steps: Vec<StepView>,
}

impl From<&pb::Execution> for ExecView {
    fn from(e: &pb::Execution) -> Self {
        ExecView {
            id: e.id.clone(),
            environment: e.environment.clone(),
            kind: e.kind.clone(),
            state: e.state.clone(),
            target_revision: e.target_revision,
            created_ms: e.created_ms,
            started_ms: e.started_ms,
            finished_ms: e.finished_ms,
            error: e.error.clone(),
            steps_total: e.steps_total,
            steps_succeeded: e.steps_succeeded,
            steps_failed: e.steps_failed,
            steps_running: e.steps_running,
            steps: e.steps.iter().map(StepView::from).collect(),
        }
    }
}

impl ExecView {
    /// `3/5 succeeded, 1 failed, 1 running`.
    pub fn progress(&self) -> String {
        format!(
            "{}/{} succeeded, {} failed, {} running",
            self.steps_succeeded, self.steps_total, self.steps_failed, self.steps_running
        )
    }

    fn finished(&self) -> String {
        if self.finished_ms == 0 {
            return "-".to_string();
        }
        let start = if self.started_ms == 0 {
            self.created_ms
        } else {
            self.started_ms
        };
        format!(
            "{} (took {})",
            utc(self.finished_ms),
            duration(self.finished_ms.saturating_sub(start))
        )
    }
}

impl View for ExecView {
    fn table(&self) -> String {
        let revision = if self.target_revision == 0 {
            "-".to_string()
        } else {
            self.target_revision.to_string()
        };
        let head = fields(vec![
            ("id", escape_controls(&self.id)),
            ("environment", escape_controls(&self.environment)),
            ("kind", display::<ExecKind>(&self.kind)),
            ("state", display::<ExecState>(&self.state)),
            ("target revision", revision),
            ("created", utc(self.created_ms)),
            ("started", utc(self.started_ms)),
            ("finished", self.finished()),
            ("steps", self.progress()),
            ("error", dash(&self.error)),
        ]);
        let body = if self.steps.is_empty() {
            let why = if ExecState::parse(&self.state).is_some_and(|s| s.is_terminal()) {
                "no steps: there was nothing to change"
            } else {
                "no steps planned yet"
            };
            format!("{head}\n\n{why}")
        } else {
            format!("{head}\n\n{}", steps_table(&self.steps))
        };
        if ExecState::parse(&self.state) == Some(ExecState::Interrupted) {
            let id = escape_controls(&self.id);
            return format!(
                "{body}\n\ninterrupted: it was running when the backup this cluster was restored \
                 from was taken; nothing runs until `moorctl exec resume {id}` (or `moorctl exec \
                 cancel {id}`)"
            );
        }
        body
    }
}

/// `exec list`: executions without their steps.
#[derive(Debug, Clone, Serialize)]
pub struct ExecListView {
    pub executions: Vec<ExecView>,
}

impl View for ExecListView {
    fn table(&self) -> String {
        grid(
            Some(&[
                "ID",
                "ENVIRONMENT",
                "KIND",
                "STATE",
                "STEPS",
                "FAILED",
                "CREATED",
                "FINISHED",
            ]),
            self.executions
                .iter()
                .map(|e| {
                    vec![
                        escape_controls(&e.id),
                        escape_controls(&e.environment),
                        display::<ExecKind>(&e.kind),
                        display::<ExecState>(&e.state),
                        format!("{}/{}", e.steps_succeeded, e.steps_total),
                        e.steps_failed.to_string(),
                        utc(e.created_ms),
                        utc(e.finished_ms),
                    ]
                })
                .collect(),
            &[4, 5],
        )
    }
}

/// `step 1 database (create): dispatched, attempt 2, token 7: last error`.
pub fn step_line(step: &pb::Step) -> String {
    let mut line = format!(
        "step {} {} ({}): {}",
        step.index,
        escape_controls(&step.resource),
        display::<StepAction>(&step.action),
        display::<StepState>(&step.state)
    );
    if StepState::parse(&step.state) == Some(StepState::Pending) && step.attempt > 0 {
        line.push_str(", waiting to retry");
    }
    if step.attempt > 0 {
        line.push_str(&format!(", attempt {}", step.attempt));
    }
    if step.fence_token > 0 {
        line.push_str(&format!(", token {}", step.fence_token));
    }
    if !step.last_error.is_empty() {
        line.push_str(": ");
        line.push_str(&escape_controls(&step.last_error));
    }
    line
}

/// `running, 2/5 succeeded, 0 failed, 1 running`, with the error of a failed execution.
pub fn exec_line(exec: &pb::Execution) -> String {
    let state = display::<ExecState>(&exec.state);
    let mut line = format!("{state}, {}", ExecView::from(exec).progress());
    if !exec.error.is_empty() {
        line.push_str(": ");
        line.push_str(&escape_controls(&exec.error));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::views::render;

    /// A failed install of three resources: network done, database failed after two
    /// attempts, app skipped.
    pub(crate) fn failed_execution() -> pb::Execution {
        let step =
            |index: u32, resource: &str, state: &str, attempt, token, deps: Vec<u32>| pb::Step {
                index,
                resource: resource.into(),
                resource_type: "sim.resource".into(),
                action: "create".into(),
                state: state.into(),
                attempt,
                fence_token: token,
                depends_on: deps,
                last_error: if state == "failed" {
                    "site refused: disk full".into()
                } else {
                    String::new()
                },
                dispatched_ms: 0,
                finished_ms: 0,
                attempts: Vec::new(),
            };
        pb::Execution {
            id: "x7".into(),
            environment: "web-1".into(),
            kind: "install".into(),
            state: "failed".into(),
            target_revision: 3,
            created_ms: 1_700_000_000_000,
            started_ms: 1_700_000_000_500,
            finished_ms: 1_700_000_012_900,
            error: "step 1 (database) failed after 2 attempts".into(),
            steps: vec![
                step(0, "network", "succeeded", 1, 4, vec![]),
                step(1, "database", "failed", 2, 5, vec![0]),
                step(2, "app", "skipped", 0, 0, vec![0, 1]),
            ],
            steps_total: 3,
            steps_succeeded: 1,
            steps_failed: 1,
            steps_running: 0,
        }
    }

    #[test]
    fn execution_table() {
        let text = render(&ExecView::from(&failed_execution()), OutputFormat::Table).unwrap();
        let expected = "\
id               x7
environment      web-1
kind             install
state            failed
target revision  3
created          2023-11-14T22:13:20Z
started          2023-11-14T22:13:20Z
finished         2023-11-14T22:13:32Z (took 12.4 s)
steps            1/3 succeeded, 1 failed, 0 running
error            step 1 (database) failed after 2 attempts

INDEX  RESOURCE  ACTION  STATE      ATTEMPT  TOKEN  DEPS  ERROR
    0  network   create  succeeded        1      4  -     -
    1  database  create  failed           2      5  0     site refused: disk full
    2  app       create  skipped          0      -  0,1   -
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn execution_json_keeps_numbers() {
        let text = render(&ExecView::from(&failed_execution()), OutputFormat::Json).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["state"], "failed");
        assert_eq!(json["finished_ms"], 1_700_000_012_900u64);
        assert_eq!(json["steps"][1]["fence_token"], 5);
        assert_eq!(json["steps"][2]["depends_on"], serde_json::json!([0, 1]));
    }

    #[test]
    fn an_interrupted_execution_says_how_to_go_on() {
        let mut e = failed_execution();
        e.state = "interrupted".into();
        e.finished_ms = 0;
        e.error.clear();
        let view = ExecView::from(&e);
        let text = view.table();
        assert!(text.contains("state            interrupted\n"), "\n{text}");
        assert!(
            text.ends_with(
                "nothing runs until `moorctl exec resume x7` (or `moorctl exec cancel x7`)"
            ),
            "\n{text}"
        );
        let list = ExecListView {
            executions: vec![view.clone()],
        }
        .table();
        assert!(list.contains("install  interrupted"), "\n{list}");
        assert!(exec_line(&e).starts_with("interrupted, 1/3 succeeded"));
        let json = render(&view, OutputFormat::Json).unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["state"], "interrupted");
    }

    #[test]
    fn unknown_names_show_as_unknown_in_tables_and_raw_for_programs() {
        let mut e = failed_execution();
        e.kind = "teleport".into();
        e.state = "hibernating".into();
        e.steps[1].state = "quarantined".into();
        let view = ExecView::from(&e);
        let text = view.table();
        assert!(
            text.contains("kind             unknown(teleport)\n"),
            "\n{text}"
        );
        assert!(
            text.contains("state            unknown(hibernating)\n"),
            "\n{text}"
        );
        assert!(text.contains("create  unknown(quarantined)"), "\n{text}");
        let list = ExecListView {
            executions: vec![view.clone()],
        }
        .table();
        assert!(
            list.contains("unknown(teleport)  unknown(hibernating)"),
            "\n{list}"
        );
        assert_eq!(
            step_line(&e.steps[1]),
            "step 1 database (create): unknown(quarantined), attempt 2, token 5: site refused: disk full"
        );
        assert!(exec_line(&e).starts_with("unknown(hibernating), "));
        let json = render(&view, OutputFormat::Json).unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["state"], "hibernating");
        assert_eq!(json["steps"][1]["state"], "quarantined");
        // Without steps, an unknown state is not taken for an end.
        e.steps.clear();
        assert!(ExecView::from(&e).table().ends_with("no steps planned yet"));
    }
}
