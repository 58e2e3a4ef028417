//! Views of rollouts: one rollout with its waves, failures by error and (when asked) its
//! targets, and the list; and the one-line forms the rollout watch prints.

use moor_proto::names::{display, RolloutActionKind, RolloutState, TargetState, WireName};
use moor_proto::rollout as pb;
use serde::Serialize;

use super::cells::escape_controls;
use super::table::{fields, grid};
use super::time::utc;
use super::View;

/// A rollout as people and programs see it.
#[derive(Debug, Serialize)]
pub struct RolloutView {
    #[serde(flatten)]
    pub rollout: RolloutJson,
}

/// The serialisable fields of a rollout (the wire message, without prost's types).
#[derive(Debug, Serialize)]
pub struct RolloutJson {
    pub id: String,
    pub group: String,
    pub action: String,
    pub blueprint: String,
    pub revision: u64,
    pub state: String,
    pub pause_reason: String,
    pub max_parallel: u32,
    pub waves_spec: String,
    pub current_wave: u32,
    pub require_approval: bool,
    pub max_failed: Option<u32>,
    pub max_failed_percent: Option<u32>,
    pub total: u32,
    pub queued: u32,
    pub running: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
    pub waves: Vec<WaveJson>,
    pub failures: Vec<FailureJson>,
    pub rollback_of: String,
    pub rolled_back_by: String,
    pub created: String,
    pub finished: String,
    pub targets: Vec<TargetJson>,
}

#[derive(Debug, Serialize)]
pub struct WaveJson {
    pub index: u32,
    pub size: u32,
    pub queued: u32,
    pub running: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
}

#[derive(Debug, Serialize)]
pub struct FailureJson {
    pub error: String,
    pub count: u32,
    pub examples: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TargetJson {
    pub index: u32,
    pub environment: String,
    pub site: String,
    pub state: String,
    pub execution: String,
}

impl From<&pb::Rollout> for RolloutJson {
    fn from(r: &pb::Rollout) -> Self {
        RolloutJson {
            id: r.id.clone(),
            group: r.group.clone(),
            action: r.action.clone(),
            blueprint: r.blueprint.clone(),
            revision: r.revision,
            state: r.state.clone(),
            pause_reason: r.pause_reason.clone(),
            max_parallel: r.max_parallel,
            waves_spec: r.waves_spec.clone(),
            current_wave: r.current_wave,
            require_approval: r.require_approval,
            max_failed: r.max_failed,
            max_failed_percent: r.max_failed_percent,
            total: r.total,
            queued: r.queued,
            running: r.running,
            succeeded: r.succeeded,
            failed: r.failed,
            skipped: r.skipped,
            waves: r
                .waves
                .iter()
                .map(|w| WaveJson {
                    index: w.index,
                    size: w.size,
                    queued: w.queued,
                    running: w.running,
                    succeeded: w.succeeded,
                    failed: w.failed,
                    skipped: w.skipped,
                })
                .collect(),
            failures: r
                .failures
                .iter()
                .map(|f| FailureJson {
                    error: f.error.clone(),
                    count: f.count,
                    examples: f.examples.clone(),
                })
                .collect(),
            rollback_of: r.rollback_of.clone(),
            rolled_back_by: r.rolled_back_by.clone(),
            created: utc(r.created_ms),
            finished: if r.finished_ms == 0 {
                String::new()
            } else {
                utc(r.finished_ms)
            },
            targets: r
                .targets
                .iter()
                .map(|t| TargetJson {
                    index: t.index,
                    environment: t.environment.clone(),
                    site: t.site.clone(),
                    state: t.state.clone(),
                    execution: t.execution.clone(),
                })
                .collect(),
        }
    }
}

impl RolloutJson {
    /// Targets that will not run again unless resumed: succeeded, failed or skipped.
    pub fn finished(&self) -> u32 {
        self.succeeded + self.failed + self.skipped
    }

    /// Targets still to finish: queued or running.
    pub fn left(&self) -> u32 {
        self.queued + self.running
    }
}

/// `12/300 succeeded, 2 failed, 50 running, 236 queued`.
pub fn counts_line(r: &RolloutJson) -> String {
    let mut s = format!(
        "{}/{} succeeded, {} failed, {} running, {} queued",
        r.succeeded, r.total, r.failed, r.running, r.queued
    );
    if r.skipped > 0 {
        s.push_str(&format!(", {} skipped", r.skipped));
    }
    s
}

/// What the rollout does, for people: `install of hello@2 on group edge`.
pub fn what(r: &RolloutJson) -> String {
    let action = display::<RolloutActionKind>(&r.action);
    match RolloutActionKind::parse(&r.action) {
        Some(RolloutActionKind::Install) => format!(
            "{action} of {}@{} on group {}",
            r.blueprint, r.revision, r.group
        ),
        Some(RolloutActionKind::Update) if r.revision > 0 => {
            format!("{action} to revision {} of group {}", r.revision, r.group)
        }
        _ => format!("{action} of group {}", r.group),
    }
}

impl View for RolloutView {
    fn table(&self) -> String {
        let r = &self.rollout;
        let mut out = summary(r);
        out.push_str("\n\n");
        out.push_str(&waves_table(r));
        if !r.failures.is_empty() {
            out.push_str("\n\nFAILURES\n");
            out.push_str(&failures_table(&r.failures));
        }
        if !r.targets.is_empty() {
            out.push_str("\n\n");
            out.push_str(&targets_table(&r.targets));
        }
        out
    }
}

/// The label / value lines at the top of `rollout show`.
fn summary(r: &RolloutJson) -> String {
    let mut rows = vec![
        ("id", r.id.clone()),
        ("what", what(r)),
        ("state", display::<RolloutState>(&r.state)),
    ];
    if !r.pause_reason.is_empty() {
        rows.push(("paused", escape_controls(&r.pause_reason)));
    }
    rows.push(("progress", counts_line(r)));
    rows.push(("max parallel", r.max_parallel.to_string()));
    rows.push((
        "failure budget",
        failure_budget(r.max_failed, r.max_failed_percent),
    ));
    if !r.rollback_of.is_empty() {
        rows.push(("rolls back", r.rollback_of.clone()));
    }
    if !r.rolled_back_by.is_empty() {
        rows.push(("rolled back by", r.rolled_back_by.clone()));
    }
    rows.push(("created", r.created.clone()));
    if !r.finished.is_empty() {
        rows.push(("finished", r.finished.clone()));
    }
    fields(rows)
}

/// A failure budget for people: `at most 3 or 5% failed`, `none`.
pub fn failure_budget(
    max_failed: Option<impl std::fmt::Display>,
    max_failed_percent: Option<impl std::fmt::Display>,
) -> String {
    match (max_failed, max_failed_percent) {
        (None, None) => "none".to_string(),
        (Some(n), None) => format!("at most {n} failed"),
        (None, Some(p)) => format!("at most {p}% failed"),
        (Some(n), Some(p)) => format!("at most {n} or {p}% failed"),
    }
}

/// Counts per wave; the current wave of a rollout that has not succeeded is marked `*`.
fn waves_table(r: &RolloutJson) -> String {
    let done = RolloutState::parse(&r.state) == Some(RolloutState::Succeeded);
    grid(
        Some(&[
            "WAVE",
            "SIZE",
            "SUCCEEDED",
            "FAILED",
            "RUNNING",
            "QUEUED",
            "SKIPPED",
        ]),
        r.waves
            .iter()
            .map(|w| {
                let mark = if w.index == r.current_wave && !done {
                    "*"
                } else {
                    ""
                };
                vec![
                    format!("{}{mark}", w.index + 1),
                    w.size.to_string(),
                    w.succeeded.to_string(),
                    w.failed.to_string(),
                    w.running.to_string(),
                    w.queued.to_string(),
                    w.skipped.to_string(),
                ]
            })
            .collect(),
        &[1, 2, 3, 4, 5, 6],
    )
}

/// The targets `--targets` asked for.
fn targets_table(targets: &[TargetJson]) -> String {
    grid(
        Some(&["#", "ENVIRONMENT", "SITE", "STATE", "EXECUTION"]),
        targets
            .iter()
            .map(|t| {
                vec![
                    t.index.to_string(),
                    t.environment.clone(),
                    t.site.clone(),
                    display::<TargetState>(&t.state),
                    t.execution.clone(),
                ]
            })
            .collect(),
        &[0],
    )
}

/// Failures grouped by error, with a few examples each.
fn failures_table(failures: &[FailureJson]) -> String {
    grid(
        Some(&["COUNT", "ERROR", "E.G."]),
        failures
            .iter()
            .map(|f| {
                vec![
                    f.count.to_string(),
                    escape_controls(&f.error),
                    f.examples.join(", "),
                ]
            })
            .collect(),
        &[0],
    )
}

#[derive(Debug, Serialize)]
pub struct RolloutListView {
    pub rollouts: Vec<RolloutJson>,
    pub max_parallel_total: u32,
    pub running_total: u32,
}

impl View for RolloutListView {
    fn table(&self) -> String {
        let mut out = grid(
            Some(&[
                "ID",
                "WHAT",
                "STATE",
                "SUCCEEDED",
                "FAILED",
                "RUNNING",
                "QUEUED",
                "TOTAL",
            ]),
            self.rollouts
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        what(r),
                        display::<RolloutState>(&r.state),
                        r.succeeded.to_string(),
                        r.failed.to_string(),
                        r.running.to_string(),
                        r.queued.to_string(),
                        r.total.to_string(),
                    ]
                })
                .collect(),
            &[3, 4, 5, 6, 7],
        );
        out.push_str(&format!(
            "\n\n{} targets running over all rollouts (at most {})",
            self.running_total, self.max_parallel_total
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_table_shows_waves_and_failures() {
        let r = pb::Rollout {
            id: "r2".into(),
            group: "edge".into(),
            action: "install".into(),
            blueprint: "hello".into(),
            revision: 1,
            state: "running".into(),
            total: 10,
            succeeded: 3,
            failed: 1,
            running: 2,
            queued: 4,
            waves: vec![
                pb::Wave {
                    index: 0,
                    size: 1,
                    succeeded: 1,
                    ..Default::default()
                },
                pb::Wave {
                    index: 1,
                    size: 9,
                    succeeded: 2,
                    failed: 1,
                    running: 2,
                    queued: 4,
                    ..Default::default()
                },
            ],
            failures: vec![pb::FailureGroup {
                error: "site unreachable".into(),
                count: 1,
                examples: vec!["hello-s9".into()],
            }],
            current_wave: 1,
            ..Default::default()
        };
        let t = RolloutView {
            rollout: RolloutJson::from(&r),
        }
        .table();
        assert!(t.contains("install of hello@1 on group edge"), "{t}");
        assert!(
            t.contains("3/10 succeeded, 1 failed, 2 running, 4 queued"),
            "{t}"
        );
        assert!(t.contains("2*"), "current wave marked: {t}");
        assert!(
            t.contains("site unreachable") && t.contains("hello-s9"),
            "{t}"
        );
    }

    #[test]
    fn unknown_names_show_as_unknown() {
        let r = pb::Rollout {
            id: "r3".into(),
            group: "edge".into(),
            action: "migrate".into(),
            state: "draining".into(),
            total: 1,
            waves: vec![pb::Wave {
                index: 0,
                size: 1,
                ..Default::default()
            }],
            targets: vec![pb::RolloutTarget {
                index: 0,
                environment: "hello-s1".into(),
                site: "s1".into(),
                state: "parked".into(),
                execution: String::new(),
            }],
            ..Default::default()
        };
        let j = RolloutJson::from(&r);
        assert_eq!(what(&j), "unknown(migrate) of group edge");
        let t = RolloutView { rollout: j }.table();
        assert!(t.contains("state           unknown(draining)"), "{t}");
        assert!(t.contains("1*"), "an unknown state is not a success: {t}");
        assert!(t.contains("unknown(parked)"), "{t}");
    }
}
