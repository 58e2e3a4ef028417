//! The environment, diff and execution pages: what they show, what they link to, which
//! forms they offer, and that nothing from the data reaches the page unescaped.

use moor_dashboard::execution::{execution_actions_in, human_ms, timeline};
use moor_dashboard::{
    diff_page, environment_page, execution_page, AttemptView, DiffView, EnvironmentView, ExecRow,
    ExecutionView, FieldDiffRow, Forms, ResourceDiffRow, ResourceRow, Status, StepView,
};

const EVIL: &str = "<script>alert('x')</script>";

fn forms(allowed: &[&str]) -> Forms {
    Forms {
        csrf: "tok".into(),
        allowed: allowed.iter().map(|s| s.to_string()).collect(),
    }
}

/// No `<script>` at all: these pages have no script of their own.
fn assert_no_script(html: &str) {
    assert!(!html.contains("<script"), "{html}");
    assert!(
        html.contains("&lt;script&gt;"),
        "the evil text is shown escaped"
    );
}

fn attempt(n: u32, fence: u64, at: u64, took: u64, outcome: &str) -> AttemptView {
    AttemptView {
        attempt: n,
        fence_token: fence,
        dispatched_ms: at,
        finished_ms: if outcome == "running" { 0 } else { at + took },
        outcome: outcome.into(),
        error: if outcome == "failed" {
            format!("boom{EVIL}")
        } else {
            String::new()
        },
        result_term: if outcome == "running" { 0 } else { fence + 1 },
    }
}

/// Step 0 failed once, then a new leader (term 5) superseded the retry and it succeeded
/// under fence 5; step 1 ran before histories were kept; step 2 is running.
fn execution() -> ExecutionView {
    let t0 = 1_700_000_000_000;
    ExecutionView {
        id: format!("x{EVIL}"),
        environment: format!("env{EVIL}"),
        site: "store/1".into(),
        kind: "install".into(),
        state: "running".into(),
        target_revision: 3,
        created_ms: t0 - 50,
        started_ms: t0,
        finished_ms: 0,
        error: String::new(),
        steps: vec![
            StepView {
                index: 0,
                resource: format!("db{EVIL}"),
                resource_type: "k8s.statefulset".into(),
                action: "create".into(),
                state: "succeeded".into(),
                attempt: 3,
                fence_token: 5,
                attempts: vec![
                    attempt(1, 4, t0, 100, "failed"),
                    attempt(2, 4, t0 + 200, 0, "superseded"),
                    attempt(3, 5, t0 + 1_500, 300, "succeeded"),
                ],
                ..StepView::default()
            },
            StepView {
                index: 1,
                resource: "cfg".into(),
                action: "create".into(),
                state: "succeeded".into(),
                attempt: 1,
                fence_token: 4,
                dispatched_ms: t0 + 50,
                finished_ms: t0 + 90,
                ..StepView::default()
            },
            StepView {
                index: 2,
                resource: "web".into(),
                action: "create".into(),
                state: "running".into(),
                attempt: 1,
                fence_token: 5,
                depends_on: vec![0, 1],
                attempts: vec![attempt(1, 5, t0 + 1_900, 0, "running")],
                ..StepView::default()
            },
            StepView {
                index: 3,
                resource: "never".into(),
                action: "create".into(),
                state: "pending".into(),
                ..StepView::default()
            },
        ],
        trace_id: "cb4ebd52635d0cf7fb5bb3ffd1068749".into(),
        now_ms: t0 + 2_000,
    }
}

#[test]
fn the_timeline_is_every_attempt_in_dispatch_order() {
    let e = execution();
    let rows = timeline(&e);
    let seen: Vec<(u32, u32, &str, bool)> = rows
        .iter()
        .map(|r| (r.step.index, r.attempt, r.outcome, r.recorded))
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, 1, "failed", true),
            (1, 1, "succeeded", false),
            (0, 2, "superseded", true),
            (0, 3, "succeeded", true),
            (2, 1, "running", true),
        ],
        "a never-dispatched step has no row; a step without history shows its latest attempt"
    );
}

#[test]
fn the_execution_page_names_its_trace_only_when_there_is_one() {
    let mut e = execution();
    let html = execution_page(&e, &Forms::default());
    assert!(
        html.contains("<dt>Trace</dt><dd>cb4ebd52635d0cf7fb5bb3ffd1068749</dd>"),
        "{html}"
    );
    e.trace_id.clear();
    assert!(!execution_page(&e, &Forms::default()).contains("<dt>Trace</dt>"));
}

#[test]
fn the_execution_page_draws_bars_on_one_axis() {
    let html = execution_page(&execution(), &Forms::default());
    assert_no_script(&html);
    assert!(html.contains("Timeline (5 attempts)"), "{html}");
    // The axis runs from the first dispatch (t0) to now (t0 + 2000): the first bar starts
    // at 0 % and takes 100 ms = 5 %; the running one starts at 95 % and reaches now.
    assert!(html.contains("style=\"left:0.00%;width:5.00%\""), "{html}");
    assert!(html.contains("style=\"left:95.00%;width:5.00%\""), "{html}");
    assert!(html.contains("100 ms so far") || html.contains("so far"));
    assert!(html.contains("(latest only)"));
    assert!(html.contains("ran before the cluster kept attempt histories"));
    assert!(html.contains("boom&lt;script&gt;"));
    assert!(html.contains("<tr class=\"outcome-superseded\">"));
    // Links: the site and the environment, encoded.
    assert!(html.contains("href=\"/ui/sites/store%2F1\""), "{html}");
    assert!(
        html.contains("href=\"/ui/environments/env%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E\""),
        "{html}"
    );
    // Steps: dependencies and the latest fence.
    assert!(html.contains("<td>0, 1</td>"), "{html}");
}

#[test]
fn execution_actions_follow_state_and_role() {
    let mut e = execution();
    let html = execution_page(&e, &forms(&["resume", "cancel"]));
    assert!(
        html.contains("/cancel\""),
        "a running execution can be cancelled"
    );
    assert!(!html.contains("/resume\""), "not resumed while running");
    e.state = "failed".into();
    let html = execution_page(&e, &forms(&["resume", "cancel"]));
    assert!(html.contains("/resume\"") && !html.contains("/cancel\""));
    assert!(html.contains("value=\"tok\""));
    let viewer = execution_page(&e, &Forms::default());
    assert!(!viewer.contains("<form"), "a viewer gets no form");
    assert_eq!(execution_actions_in("succeeded"), [] as [&str; 0]);
    assert_eq!(execution_actions_in("interrupted"), ["resume", "cancel"]);
}

#[test]
fn an_execution_of_a_deleted_environment_links_nowhere() {
    let mut e = execution();
    e.site.clear();
    e.steps.clear();
    let html = execution_page(&e, &Forms::default());
    assert!(html.contains("(no longer exists)"));
    assert!(!html.contains("/ui/environments/"));
    assert!(html.contains("Nothing dispatched yet."));
}

#[test]
fn durations_read_as_people_read_them() {
    assert_eq!(human_ms(850), "850 ms");
    assert_eq!(human_ms(12_400), "12.4 s");
    assert_eq!(human_ms(185_000), "3 min 05 s");
    assert_eq!(human_ms(7_500_000), "2 h 05 min");
}

fn environment() -> EnvironmentView {
    EnvironmentView {
        name: format!("env{EVIL}"),
        site: "store/1".into(),
        blueprint: format!("web{EVIL}"),
        revision: 4,
        status: Status::Drifted,
        phase: "healing".into(),
        inputs_json: r#"{"replicas":3,"password":"***"}"#.into(),
        current_execution: "x9".into(),
        queued: vec!["x10".into()],
        resources: vec![ResourceRow {
            name: "web".into(),
            resource_type: "k8s.deployment".into(),
            desired_digest: "sha256:aa".into(),
            observed_digest: "sha256:bb".into(),
            drifted: true,
        }],
        drift_policy: "every 30 s, heal (at most 3 an hour); from group edge".into(),
        heal_suspended: format!("cap{EVIL}"),
        executions: vec![ExecRow {
            id: "x9".into(),
            kind: "heal".into(),
            state: "running".into(),
            created_ms: 0,
            steps_done: 0,
            steps_total: 1,
        }],
        executions_total: 7,
        ..EnvironmentView::default()
    }
}

#[test]
fn the_environment_page_shows_inputs_resources_and_executions() {
    let html = environment_page(&environment(), &Forms::default());
    assert_no_script(&html);
    assert!(
        html.contains("&quot;password&quot;: &quot;***&quot;"),
        "{html}"
    );
    assert!(html.contains("Resources (1, 1 drifted)"));
    assert!(html.contains("<tr class=\"drifted\">"));
    assert!(html.contains("k8s.deployment"));
    assert!(html.contains("Executions (1 of 7)"));
    assert!(html.contains("href=\"/ui/executions/x9\""), "{html}");
    assert!(html.contains("href=\"/ui/executions/x10\""), "{html}");
    assert!(html.contains("href=\"/ui/sites/store%2F1\""));
    assert!(
        html.contains("/diff\">Compare with the site now</a>"),
        "{html}"
    );
    assert!(html.contains("cap&lt;script&gt;"));
    assert!(!html.contains("<form"), "a viewer gets no form");
}

#[test]
fn the_environment_page_offers_only_allowed_actions() {
    let html = environment_page(&environment(), &forms(&["heal"]));
    assert!(html.contains("/heal\""));
    assert!(!html.contains("/rollback\""));
    let html = environment_page(&environment(), &forms(&["heal", "rollback"]));
    assert!(html.contains("/rollback\"") && html.contains(">Roll back</button>"));
}

#[test]
fn the_diff_page_shows_fields_side_by_side() {
    let d = DiffView {
        environment: "e1".into(),
        site: "s1".into(),
        observed_ms: 0,
        resources: vec![
            ResourceDiffRow {
                resource: "web".into(),
                resource_type: "k8s.deployment".into(),
                desired_digest: "sha256:aa".into(),
                observed_digest: "sha256:bb".into(),
                state: "drifted".into(),
                fields: vec![
                    FieldDiffRow {
                        path: "/spec/replicas".into(),
                        desired_json: "3".into(),
                        observed_json: "1".into(),
                        kind: "changed".into(),
                        secret: false,
                    },
                    FieldDiffRow {
                        path: "/spec/image".into(),
                        desired_json: format!("\"{EVIL}\""),
                        observed_json: String::new(),
                        kind: "only_desired".into(),
                        secret: false,
                    },
                    FieldDiffRow {
                        path: "/spec/strategy".into(),
                        desired_json: String::new(),
                        observed_json: "\"RollingUpdate\"".into(),
                        kind: "only_at_site".into(),
                        secret: false,
                    },
                    FieldDiffRow {
                        path: "/spec/env/0/value".into(),
                        desired_json: "\"***\"".into(),
                        observed_json: "\"***\"".into(),
                        kind: "changed".into(),
                        secret: true,
                    },
                ],
            },
            ResourceDiffRow {
                resource: "gone".into(),
                state: "missing".into(),
                desired_digest: "sha256:cc".into(),
                ..ResourceDiffRow::default()
            },
            ResourceDiffRow {
                resource: "cfg".into(),
                state: "in_sync".into(),
                ..ResourceDiffRow::default()
            },
        ],
    };
    let html = diff_page(&d);
    assert_no_script(&html);
    assert!(html.contains("<tr class=\"differs\"><td><code>/spec/replicas</code></td><td class=\"desired\"><code>3</code></td><td class=\"observed\"><code>1</code></td><td>changed at the site</td>"), "{html}");
    // A field the blueprint does not set is greyed and said to be the site's own; a secret
    // that differs is listed and says so.
    assert!(
        html.contains("<tr class=\"site-only\"><td><code>/spec/strategy</code></td>"),
        "{html}"
    );
    assert!(html.contains("not set by the blueprint"), "{html}");
    assert!(
        html.contains("<tr class=\"differs\"><td><code>/spec/env/0/value</code></td>"),
        "{html}"
    );
    assert!(
        html.contains("a secret value differs (neither side is shown)"),
        "{html}"
    );
    assert!(html.contains("(absent)"));
    assert!(html.contains("missing"));
    assert!(html.contains("In sync (1)"));
    assert!(!html.contains("Every resource is as desired."));
    let clean = DiffView {
        resources: vec![],
        ..d
    };
    assert!(diff_page(&clean).contains("Every resource is as desired."));
}
