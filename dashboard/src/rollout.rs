//! The rollout pages: one rollout (state, counts, a progress bar per wave, failures grouped
//! by error, and the action buttons the caller may use) and the list of rollouts. Plain data
//! in, HTML out, every data string escaped as on the other pages.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::execution::human_ms;
use crate::forms::{
    parallel_settable, push_form, push_parallel_form, rollout_action_href, rollout_actions_in,
    rollout_href, Forms, ROLLOUT_PARALLEL,
};
use crate::html::{escape_html, head, utc};
use crate::routes;

/// Everything the rollout page shows about one rollout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutView {
    pub id: String,
    pub group: String,
    /// `install`, `update`, `heal`, … (the wire name).
    pub action: String,
    pub blueprint: String,
    pub revision: u64,
    /// `running`, `paused`, `waiting_approval`, … (the wire name).
    pub state: String,
    pub pause_reason: String,
    pub max_parallel: u32,
    pub waves_spec: String,
    pub current_wave: u32,
    /// All targets: `size` is how many.
    pub totals: Counts,
    pub waves: Vec<Counts>,
    pub failures: Vec<FailureRow>,
    pub created_ms: u64,
    /// 0 while it runs.
    pub finished_ms: u64,
    /// When the page was made (milliseconds since the Unix epoch): the rate and the ETA
    /// are measured up to it. 0: neither is shown.
    #[serde(default)]
    pub now_ms: u64,
}

/// How fast a rollout goes and when it should end, from its counts and clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Targets ended (succeeded, failed or skipped) per minute since it was created.
    pub per_minute: f64,
    /// Milliseconds until the remaining targets end at that rate; None when nothing ended
    /// yet, or when it does not run (paused, waiting for approval, ended).
    pub eta_ms: Option<u64>,
}

/// The rollout's pace, or None when it cannot be told (no clock, no time elapsed).
pub fn pace(r: &RolloutView) -> Option<Pace> {
    let until = if r.finished_ms != 0 {
        r.finished_ms
    } else {
        r.now_ms
    };
    let elapsed = until.checked_sub(r.created_ms).filter(|e| *e > 0)?;
    if r.now_ms == 0 {
        return None;
    }
    let t = &r.totals;
    let done = u64::from(t.succeeded + t.failed + t.skipped);
    let per_ms = done as f64 / elapsed as f64;
    let remaining = u64::from(t.size).saturating_sub(done);
    let eta_ms = (r.state == "running" && done > 0 && remaining > 0)
        .then(|| (remaining as f64 / per_ms).round() as u64);
    Some(Pace {
        per_minute: per_ms * 60_000.0,
        eta_ms,
    })
}

/// Targets by state, of one wave or of the whole rollout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub size: u32,
    pub queued: u32,
    pub running: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub skipped: u32,
}

/// Failed targets that share one error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureRow {
    pub error: String,
    pub count: u32,
    /// A few of the environments that failed so.
    pub examples: Vec<String>,
}

/// One line of the rollout list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutRow {
    pub id: String,
    pub group: String,
    pub action: String,
    pub state: String,
    pub total: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub created_ms: u64,
}

/// A rollout's page, with the forms `forms` allows (a POST per action, see
/// [`crate::forms`]).
pub fn rollout_page(r: &RolloutView, forms: &Forms) -> String {
    let mut h = String::with_capacity(8192);
    head(&mut h, &format!("Rollout {}", r.id));
    let _ = write!(
        h,
        "</head>\n<body class=\"site-page\">\n<header><a href=\"{}\">← Rollouts</a> \
         <a href=\"{}\">Map</a> <h1>Rollout {}</h1> <span class=\"badge state state-{}\">{}</span></header>\n\
         <main class=\"page\">\n",
        routes::ROLLOUT_LIST,
        routes::MAP_PAGE,
        escape_html(&r.id),
        escape_html(&r.state),
        escape_html(&r.state),
    );
    h.push_str("<div class=\"actions\">");
    for action in rollout_actions_in(&r.state) {
        if forms.allows(action) {
            let label = capitalised(action);
            push_form(
                &mut h,
                &rollout_action_href(&r.id, action),
                &label,
                &forms.csrf,
            );
        }
    }
    h.push_str("</div>\n<dl class=\"facts\">\n");
    fact(&mut h, "Group", &r.group);
    let what = if r.blueprint.is_empty() {
        r.action.clone()
    } else {
        format!("{} {}@{}", r.action, r.blueprint, r.revision)
    };
    fact(&mut h, "Action", &what);
    if !r.pause_reason.is_empty() {
        fact(&mut h, "Paused because", &r.pause_reason);
    }
    if parallel_settable(&r.state) && forms.allows(ROLLOUT_PARALLEL) {
        h.push_str("<dt>Parallelism</dt><dd>");
        push_parallel_form(
            &mut h,
            &rollout_action_href(&r.id, ROLLOUT_PARALLEL),
            r.max_parallel,
            &forms.csrf,
        );
        h.push_str("</dd>\n");
    } else {
        let _ = writeln!(h, "<dt>Parallelism</dt><dd>{}</dd>", r.max_parallel);
    }
    if !r.waves_spec.is_empty() {
        fact(
            &mut h,
            "Waves",
            &format!("{} (now wave {})", r.waves_spec, r.current_wave + 1),
        );
    }
    fact(&mut h, "Created (UTC)", &utc(r.created_ms));
    if r.finished_ms != 0 {
        fact(&mut h, "Finished (UTC)", &utc(r.finished_ms));
    }
    let t = &r.totals;
    fact(
        &mut h,
        "Targets",
        &format!(
            "{} total: {} queued, {} running, {} succeeded, {} failed, {} skipped",
            t.size, t.queued, t.running, t.succeeded, t.failed, t.skipped
        ),
    );
    if let Some(p) = pace(r) {
        let mut rate = format!("{:.1} targets a minute", p.per_minute);
        if let Some(eta) = p.eta_ms {
            let _ = write!(
                rate,
                "; the rest in about {} (at {} UTC)",
                human_ms(eta),
                utc(r.now_ms.saturating_add(eta))
            );
        } else if r.finished_ms == 0 && r.state != "running" {
            rate.push_str(&format!("; no estimate while {}", r.state));
        }
        fact(&mut h, "Pace", &rate);
    }
    h.push_str("</dl>\n");
    waves(&mut h, &r.waves);
    failures(&mut h, &r.failures);
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// One fact of the list: its name and its value, escaped.
fn fact(h: &mut String, name: &str, value: &str) {
    let _ = writeln!(h, "<dt>{name}</dt><dd>{}</dd>", escape_html(value));
}

fn capitalised(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn waves(h: &mut String, waves: &[Counts]) {
    let _ = writeln!(h, "<h2>Waves ({})</h2>", waves.len());
    h.push_str(
        "<table>\n<thead><tr><th>Wave</th><th>Progress</th><th>Size</th><th>Queued</th>\
         <th>Running</th><th>Succeeded</th><th>Failed</th><th>Skipped</th></tr></thead>\n<tbody>\n",
    );
    for (i, w) in waves.iter().enumerate() {
        let done = w.succeeded + w.failed + w.skipped;
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><progress max=\"{}\" value=\"{done}\">{done}/{}</progress></td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            w.size.max(1),
            w.size,
            w.size,
            w.queued,
            w.running,
            w.succeeded,
            w.failed,
            w.skipped
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

fn failures(h: &mut String, failures: &[FailureRow]) {
    let _ = writeln!(h, "<h2>Failures ({})</h2>", failures.len());
    if failures.is_empty() {
        h.push_str("<p>No failed targets.</p>\n");
        return;
    }
    h.push_str(
        "<table>\n<thead><tr><th>Error</th><th>Targets</th><th>For example</th></tr></thead>\n<tbody>\n",
    );
    for f in failures {
        let examples: Vec<String> = f.examples.iter().map(|e| escape_html(e)).collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&f.error),
            f.count,
            examples.join(", ")
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

/// What the start form offers one caller: the groups and blueprints to choose from, and the
/// caller's CSRF token. The default (no token) renders no form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOffer {
    pub csrf: String,
    pub groups: Vec<String>,
    pub blueprints: Vec<String>,
}

/// The actions a rollout can run on its targets, as the start form offers them.
pub const START_ACTIONS: [&str; 5] = ["install", "update", "uninstall", "heal", "rollback"];

/// The list of rollouts, most recent first as the caller orders them.
pub fn rollouts_page(rows: &[RolloutRow]) -> String {
    rollouts_page_with(rows, &StartOffer::default())
}

/// The start form: a POST to [`routes::ROLLOUT_LIST`] with `RolloutApi::StartRollout`'s
/// fields (the server validates them and answers a refusal with a page that names the
/// field).
fn start_form(h: &mut String, offer: &StartOffer) {
    h.push_str("<details class=\"start\"><summary>Start a rollout</summary>\n");
    if offer.groups.is_empty() {
        h.push_str(
            "<p>No groups yet: make one with <code>moorctl group put NAME --selector key=value</code>.</p></details>\n",
        );
        return;
    }
    let _ = write!(
        h,
        "<form class=\"start\" method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"{}\" value=\"{}\">\n<dl class=\"facts\">\n\
         <dt><label for=\"start-group\">Group</label></dt><dd><select id=\"start-group\" name=\"group\" required>",
        routes::ROLLOUT_LIST,
        crate::forms::CSRF_FIELD,
        escape_html(&offer.csrf)
    );
    for g in &offer.groups {
        let g = escape_html(g);
        let _ = write!(h, "<option value=\"{g}\">{g}</option>");
    }
    h.push_str(
        "</select></dd>\n<dt><label for=\"start-action\">Action</label></dt><dd><select id=\"start-action\" name=\"action\">",
    );
    for a in START_ACTIONS {
        let _ = write!(h, "<option value=\"{a}\">{a}</option>");
    }
    h.push_str(
        "</select></dd>\n<dt><label for=\"start-blueprint\">Blueprint</label></dt><dd><select id=\"start-blueprint\" name=\"blueprint\">\
         <option value=\"\">(install only)</option>",
    );
    for b in &offer.blueprints {
        let b = escape_html(b);
        let _ = write!(h, "<option value=\"{b}\">{b}</option>");
    }
    h.push_str(
        "</select> revision <input name=\"revision\" type=\"number\" min=\"0\" value=\"0\" size=\"5\"> (0: latest)</dd>\n\
         <dt><label for=\"start-parallel\">At most in parallel</label></dt><dd><input id=\"start-parallel\" name=\"max_parallel\" type=\"number\" min=\"1\" value=\"10\" required></dd>\n\
         <dt><label for=\"start-waves\">Waves</label></dt><dd><input id=\"start-waves\" name=\"waves\" placeholder=\"1,10%,100%\" size=\"20\"> (empty: one wave)</dd>\n\
         <dt><label for=\"start-budget\">Pause past failed</label></dt><dd><input id=\"start-budget\" name=\"max_failed_percent\" type=\"number\" min=\"0\" max=\"100\" size=\"5\"> % of targets (empty: the server's default)</dd>\n\
         <dt>Approval</dt><dd><label><input name=\"require_approval\" type=\"checkbox\" value=\"1\"> wait for approval after the first wave</label></dd>\n\
         <dt><label for=\"start-inputs\">Inputs (JSON)</label></dt><dd><textarea id=\"start-inputs\" name=\"inputs_json\" rows=\"3\" cols=\"50\" placeholder=\"{}\"></textarea><br>\
         <span class=\"note\">install: every new environment's inputs; update: new inputs (empty keeps each one's). Larger forms: <code>moorctl rollout start</code>.</span></dd>\n\
         </dl><p><button type=\"submit\">Start</button></p></form></details>\n",
    );
}

/// The list of rollouts with the start form `offer` allows.
pub fn rollouts_page_with(rows: &[RolloutRow], offer: &StartOffer) -> String {
    let mut h = String::with_capacity(4096 + rows.len() * 200);
    head(&mut h, "Rollouts");
    let _ = write!(
        h,
        "</head>\n<body class=\"site-page\">\n<header><a href=\"{}\">← Map</a> <h1>Rollouts ({})</h1></header>\n<main class=\"page\">\n",
        routes::MAP_PAGE,
        rows.len()
    );
    if !offer.csrf.is_empty() {
        start_form(&mut h, offer);
    }
    if rows.is_empty() {
        h.push_str("<p>No rollouts.</p>\n");
    } else {
        h.push_str(
            "<table>\n<thead><tr><th>Rollout</th><th>Group</th><th>Action</th><th>State</th>\
             <th>Succeeded</th><th>Failed</th><th>Created (UTC)</th></tr></thead>\n<tbody>\n",
        );
        for r in rows {
            let _ = writeln!(
                h,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
                escape_html(&rollout_href(&r.id)),
                escape_html(&r.id),
                escape_html(&r.group),
                escape_html(&r.action),
                escape_html(&r.state),
                r.succeeded,
                r.total,
                r.failed,
                utc(r.created_ms)
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// A page that says what went wrong with an action, and links back to where it came from.
pub fn problem_page(title: &str, message: &str, back: &str) -> String {
    let mut h = String::with_capacity(2048);
    head(&mut h, title);
    let _ = write!(
        h,
        "</head>\n<body class=\"site-page\">\n<header><h1>{}</h1></header>\n<main class=\"page\">\n\
         <p class=\"error-box\">{}</p>\n<p><a href=\"{}\">Back</a></p>\n</main>\n</body>\n</html>\n",
        escape_html(title),
        escape_html(message),
        escape_html(back)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> RolloutView {
        let wave = Counts {
            size: 4,
            queued: 2,
            running: 1,
            succeeded: 1,
            ..Counts::default()
        };
        RolloutView {
            id: "r<1>".into(),
            group: "edge".into(),
            action: "install".into(),
            blueprint: "web".into(),
            revision: 3,
            state: "running".into(),
            max_parallel: 2,
            totals: wave,
            waves: vec![wave],
            failures: vec![FailureRow {
                error: "<boom>".into(),
                count: 2,
                examples: vec!["e<1>".into()],
            }],
            ..RolloutView::default()
        }
    }

    #[test]
    fn buttons_only_for_allowed_actions_that_fit_the_state() {
        let forms = Forms {
            csrf: "tok".into(),
            allowed: vec!["pause".into(), "resume".into()],
        };
        let html = rollout_page(&running(), &forms);
        assert!(html.contains("/ui/rollouts/r%3C1%3E/pause"), "{html}");
        assert!(!html.contains("/resume\""), "resume does not fit running");
        assert!(!html.contains("/cancel\""), "cancel is not allowed");
        assert!(html.contains("value=\"tok\""));
        let viewer = rollout_page(&running(), &Forms::default());
        assert!(!viewer.contains("<form"), "a viewer gets no form");
    }

    #[test]
    fn the_page_escapes_and_shows_progress_and_failures() {
        let html = rollout_page(&running(), &Forms::default());
        assert!(!html.contains("<boom>") && html.contains("&lt;boom&gt;"));
        assert!(html.contains("e&lt;1&gt;"));
        assert!(html.contains("<progress max=\"4\" value=\"1\">"));
        assert!(html.contains("install web@3"));
    }

    #[test]
    fn pace_and_eta_come_from_the_counts_and_the_clock() {
        let mut r = running();
        r.created_ms = 1_000_000;
        r.now_ms = r.created_ms + 60_000;
        // 1 of 4 ended in a minute: 1 a minute, 3 left, 3 minutes to go.
        let p = pace(&r).unwrap();
        assert!((p.per_minute - 1.0).abs() < 1e-9, "{p:?}");
        assert_eq!(p.eta_ms, Some(180_000));
        let html = rollout_page(&r, &Forms::default());
        assert!(
            html.contains("1.0 targets a minute; the rest in about 3 min 00 s"),
            "{html}"
        );
        r.state = "paused".into();
        assert_eq!(pace(&r).unwrap().eta_ms, None);
        assert!(rollout_page(&r, &Forms::default()).contains("no estimate while paused"));
        r.now_ms = 0;
        assert!(pace(&r).is_none(), "no clock, no pace");
        assert!(!rollout_page(&r, &Forms::default()).contains("Pace"));
    }

    #[test]
    fn the_start_form_is_offered_only_with_a_token() {
        assert!(!rollouts_page(&[]).contains("<form"));
        let offer = StartOffer {
            csrf: "tok".into(),
            groups: vec!["edge<1>".into()],
            blueprints: vec!["web".into()],
        };
        let html = rollouts_page_with(&[], &offer);
        assert!(
            html.contains("method=\"post\" action=\"/ui/rollouts\""),
            "{html}"
        );
        assert!(html.contains("value=\"tok\""));
        assert!(html.contains("<option value=\"edge&lt;1&gt;\">"));
        assert!(html.contains("<option value=\"web\">"));
        for a in START_ACTIONS {
            assert!(html.contains(&format!("<option value=\"{a}\">")));
        }
        let no_groups = rollouts_page_with(
            &[],
            &StartOffer {
                groups: vec![],
                ..offer
            },
        );
        assert!(no_groups.contains("No groups yet") && !no_groups.contains("<form"));
    }

    #[test]
    fn the_list_links_each_rollout() {
        let html = rollouts_page(&[RolloutRow {
            id: "r 1".into(),
            state: "paused".into(),
            ..RolloutRow::default()
        }]);
        assert!(html.contains("href=\"/ui/rollouts/r%201\""), "{html}");
        assert!(rollouts_page(&[]).contains("No rollouts."));
    }
}
