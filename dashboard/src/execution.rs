//! The execution page: one execution's facts, its steps, and its timeline — every attempt
//! of every step as the replicated checkpoints recorded it (dispatched when, under which
//! fence token, what came of it and which leader's term recorded that), in the order they
//! were dispatched, each drawn as a bar on one time axis so retries, failovers and waits
//! can be seen at a glance. The same history `moorctl exec timeline ID` prints.
//!
//! Attempt histories exist from cluster feature level 2 on; a step that ran before shows
//! its latest attempt only, marked so.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::forms::{execution_action_href, push_form, Forms};
use crate::html::{environment_href, escape_html, head, site_href, utc};
use crate::routes;

/// The execution actions a page can offer, by their path word
/// (`/ui/executions/{id}/{word}`).
pub const EXECUTION_ACTIONS: [&str; 2] = ["resume", "cancel"];

/// Everything the execution page shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionView {
    pub id: String,
    pub environment: String,
    /// The environment's site; empty when the environment no longer exists.
    pub site: String,
    /// `install`, `update`, `heal`, … (the wire name).
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`, `interrupted`.
    pub state: String,
    pub target_revision: u64,
    pub created_ms: u64,
    /// 0 until it started.
    pub started_ms: u64,
    /// 0 until it ended.
    pub finished_ms: u64,
    pub error: String,
    pub steps: Vec<StepView>,
    /// The id of the trace its steps are exported in when the members export traces
    /// (ARCHITECTURE.md, "Traces"); empty: not shown.
    pub trace_id: String,
    /// When the page was made (milliseconds since the Unix epoch): a running attempt's bar
    /// reaches it.
    pub now_ms: u64,
}

/// One step of the execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    pub index: u32,
    pub resource: String,
    pub resource_type: String,
    /// `create`, `update`, `delete`, … (the wire name).
    pub action: String,
    /// `pending`, `running`, `succeeded`, `failed`, `skipped`.
    pub state: String,
    /// The latest attempt's number (0: never dispatched).
    pub attempt: u32,
    pub fence_token: u64,
    pub depends_on: Vec<u32>,
    pub last_error: String,
    pub dispatched_ms: u64,
    pub finished_ms: u64,
    /// Oldest first; empty for a step that ran before attempts were recorded.
    pub attempts: Vec<AttemptView>,
}

/// One dispatch of a step and what came of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptView {
    pub attempt: u32,
    pub fence_token: u64,
    pub dispatched_ms: u64,
    /// 0 while it has no result.
    pub finished_ms: u64,
    /// `running`, `succeeded`, `failed` or `superseded`.
    pub outcome: String,
    pub error: String,
    /// The term of the leader that recorded the outcome (0 while running).
    pub result_term: u64,
}

/// One bar of the timeline: one attempt of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow<'a> {
    pub step: &'a StepView,
    pub attempt: u32,
    pub fence_token: u64,
    pub dispatched_ms: u64,
    pub finished_ms: u64,
    pub outcome: &'a str,
    pub error: &'a str,
    pub result_term: u64,
    /// False for a step without a recorded history (its latest attempt, from the step).
    pub recorded: bool,
}

/// The timeline: every recorded attempt, and the latest attempt of each dispatched step
/// without a history, in the order they were dispatched (a step's attempts keep their
/// order on equal times).
pub fn timeline(e: &ExecutionView) -> Vec<TimelineRow<'_>> {
    let mut rows = Vec::new();
    for s in &e.steps {
        if s.attempts.is_empty() {
            if s.attempt > 0 {
                rows.push(TimelineRow {
                    step: s,
                    attempt: s.attempt,
                    fence_token: s.fence_token,
                    dispatched_ms: s.dispatched_ms,
                    finished_ms: s.finished_ms,
                    outcome: &s.state,
                    error: &s.last_error,
                    result_term: 0,
                    recorded: false,
                });
            }
            continue;
        }
        rows.extend(s.attempts.iter().map(|a| TimelineRow {
            step: s,
            attempt: a.attempt,
            fence_token: a.fence_token,
            dispatched_ms: a.dispatched_ms,
            finished_ms: a.finished_ms,
            outcome: &a.outcome,
            error: &a.error,
            result_term: a.result_term,
            recorded: true,
        }));
    }
    rows.sort_by_key(|r| (r.dispatched_ms, r.step.index));
    rows
}

/// Which execution actions make sense in state `state` (the domain refuses the others).
pub fn execution_actions_in(state: &str) -> &'static [&'static str] {
    match state {
        "failed" => &["resume"],
        "interrupted" => &["resume", "cancel"],
        "queued" | "running" => &["cancel"],
        _ => &[],
    }
}

/// The link to an execution's page.
pub fn execution_href(id: &str) -> String {
    format!(
        "{}{}",
        routes::EXECUTIONS,
        crate::query::encode_component(id)
    )
}

/// A duration in milliseconds as people read it: `850 ms`, `12.4 s`, `3 min 05 s`.
pub fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {:02} s", ms / 60_000, ms / 1000 % 60)
    } else {
        format!("{} h {:02} min", ms / 3_600_000, ms / 60_000 % 60)
    }
}

/// The execution's page, with the forms `forms` allows (`resume`, `cancel`).
pub fn execution_page(e: &ExecutionView, forms: &Forms) -> String {
    let rows = timeline(e);
    let mut h = String::with_capacity(8192 + rows.len() * 400);
    head(&mut h, &format!("Execution {}", e.id));
    h.push_str("</head>\n<body class=\"site-page\">\n<header>");
    if !e.site.is_empty() {
        let _ = write!(
            h,
            "<a href=\"{}\">← Site {}</a> ",
            escape_html(&site_href(&e.site)),
            escape_html(&e.site)
        );
    }
    let _ = write!(
        h,
        "<a href=\"{}\">Map</a> <h1>Execution {}</h1> <span class=\"badge state state-{}\">{}</span></header>\n\
         <main class=\"page\">\n<div class=\"actions\">",
        routes::MAP_PAGE,
        escape_html(&e.id),
        escape_html(&e.state),
        escape_html(&e.state),
    );
    for action in execution_actions_in(&e.state) {
        if forms.allows(action) {
            let label = if *action == "resume" {
                "Resume (failed steps only)"
            } else {
                "Cancel"
            };
            push_form(
                &mut h,
                &execution_action_href(&e.id, action),
                label,
                &forms.csrf,
            );
        }
    }
    h.push_str("</div>\n<dl class=\"facts\">\n<dt>Environment</dt><dd>");
    if e.site.is_empty() {
        h.push_str(&escape_html(&e.environment));
        h.push_str(" (no longer exists)");
    } else {
        let _ = write!(
            h,
            "<a href=\"{}\">{}</a>",
            escape_html(&environment_href(&e.environment)),
            escape_html(&e.environment)
        );
    }
    h.push_str("</dd>\n");
    let mut fact = |name: &str, value: &str| {
        let _ = writeln!(h, "<dt>{name}</dt><dd>{}</dd>", escape_html(value));
    };
    fact("Kind", &e.kind);
    if e.target_revision != 0 {
        fact("Target revision", &e.target_revision.to_string());
    }
    fact("Created (UTC)", &utc(e.created_ms));
    if e.started_ms != 0 {
        fact("Started (UTC)", &utc(e.started_ms));
    }
    if e.finished_ms != 0 {
        fact("Finished (UTC)", &utc(e.finished_ms));
        if e.started_ms != 0 {
            fact(
                "Took",
                &human_ms(e.finished_ms.saturating_sub(e.started_ms)),
            );
        }
    }
    let done = e.steps.iter().filter(|s| s.state == "succeeded").count();
    let failed = e.steps.iter().filter(|s| s.state == "failed").count();
    fact(
        "Steps",
        &format!("{} total: {done} succeeded, {failed} failed", e.steps.len()),
    );
    if !e.error.is_empty() {
        fact("Error", &e.error);
    }
    if !e.trace_id.is_empty() {
        fact("Trace", &e.trace_id);
    }
    h.push_str("</dl>\n");
    timeline_table(&mut h, e, &rows);
    steps_table(&mut h, &e.steps);
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

fn timeline_table(h: &mut String, e: &ExecutionView, rows: &[TimelineRow<'_>]) {
    let _ = writeln!(
        h,
        "<h2>Timeline ({} attempt{})</h2>",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    if rows.is_empty() {
        h.push_str("<p>Nothing dispatched yet.</p>\n");
        return;
    }
    if rows.iter().any(|r| !r.recorded) {
        h.push_str(
            "<p class=\"note\">Steps marked “latest only” ran before the cluster kept attempt \
             histories (feature level 2): only their latest attempt is known.</p>\n",
        );
    }
    // One time axis for every bar: from the first dispatch to the last known instant.
    let start = rows.iter().map(|r| r.dispatched_ms).min().unwrap_or(0);
    let end_of = |r: &TimelineRow<'_>| {
        if r.finished_ms != 0 {
            r.finished_ms
        } else if e.finished_ms != 0 {
            e.finished_ms
        } else {
            e.now_ms.max(r.dispatched_ms)
        }
    };
    let end = rows
        .iter()
        .map(end_of)
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let span = (end - start) as f64;
    let _ = writeln!(
        h,
        "<table class=\"timeline\">\n<thead><tr><th>Step</th><th>Attempt</th><th>Fence</th>\
         <th>Dispatched (UTC)</th><th>Took</th><th>Outcome</th><th>Recorded in term</th>\
         <th class=\"gantt-head\">{} → {} ({})</th></tr></thead>\n<tbody>",
        utc(start),
        utc(end),
        human_ms(end - start)
    );
    for r in rows {
        let stop = end_of(r);
        let left = (r.dispatched_ms.saturating_sub(start)) as f64 / span * 100.0;
        let width = (stop.saturating_sub(r.dispatched_ms)) as f64 / span * 100.0;
        let took = if r.finished_ms != 0 {
            human_ms(r.finished_ms.saturating_sub(r.dispatched_ms))
        } else {
            format!("{} so far", human_ms(stop.saturating_sub(r.dispatched_ms)))
        };
        let _ = write!(
            h,
            "<tr class=\"outcome-{outcome}\"><td>{index} <code>{resource}</code> {action}</td>\
             <td>{attempt}{latest}</td><td>{fence}</td><td>{dispatched}</td><td>{took}</td>\
             <td>{outcome}",
            outcome = escape_html(r.outcome),
            index = r.step.index,
            resource = escape_html(&r.step.resource),
            action = escape_html(&r.step.action),
            attempt = r.attempt,
            latest = if r.recorded { "" } else { " (latest only)" },
            fence = r.fence_token,
            dispatched = utc(r.dispatched_ms),
        );
        if !r.error.is_empty() {
            let _ = write!(
                h,
                "<div class=\"error-text\">{}</div>",
                escape_html(r.error)
            );
        }
        let term = if r.result_term == 0 {
            "—".to_string()
        } else {
            r.result_term.to_string()
        };
        let _ = writeln!(
            h,
            "</td><td>{term}</td><td class=\"gantt\"><span class=\"bar\" \
             style=\"left:{left:.2}%;width:{width:.2}%\" title=\"{title}\"></span></td></tr>",
            title = escape_html(&format!(
                "step {} attempt {}: {} ({took})",
                r.step.index, r.attempt, r.outcome
            )),
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

fn steps_table(h: &mut String, steps: &[StepView]) {
    let _ = writeln!(h, "<h2>Steps ({})</h2>", steps.len());
    if steps.is_empty() {
        h.push_str("<p>No steps: nothing to change.</p>\n");
        return;
    }
    h.push_str(
        "<table>\n<thead><tr><th>#</th><th>Resource</th><th>Type</th><th>Action</th>\
         <th>After</th><th>State</th><th>Attempts</th><th>Fence</th><th>Last error</th></tr></thead>\n<tbody>\n",
    );
    for s in steps {
        let after: Vec<String> = s.depends_on.iter().map(u32::to_string).collect();
        let _ = writeln!(
            h,
            "<tr class=\"outcome-{state}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{state}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.index,
            escape_html(&s.resource),
            escape_html(&s.resource_type),
            escape_html(&s.action),
            if after.is_empty() {
                "—".to_string()
            } else {
                after.join(", ")
            },
            s.attempt,
            s.fence_token,
            escape_html(&s.last_error),
            state = escape_html(&s.state),
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

/// An execution's id as a link to its page.
pub(crate) fn push_execution_link(h: &mut String, id: &str) {
    let _ = write!(
        h,
        "<a href=\"{}\"><code>{}</code></a>",
        escape_html(&execution_href(id)),
        escape_html(id)
    );
}
