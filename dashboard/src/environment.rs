//! The environment pages: one environment (what it runs, its inputs with secrets redacted,
//! its resources' digests, its drift policy, its executions, and the actions the caller may
//! use) and its field-by-field diff against what the site holds now.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::execution::execution_href;
use crate::forms::{environment_action_href, push_form, Forms};
use crate::html::{
    environment_href, escape_html, executions, head, resources_table, site_href, status_badge, utc,
};
use crate::site::{ExecRow, ResourceRow};
use crate::status::Status;

/// The environment actions a page can offer, by their path word
/// (`/ui/environments/{name}/{word}`).
pub const ENVIRONMENT_ACTIONS: [&str; 2] = ["heal", "rollback"];

/// Everything the environment page shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentView {
    pub name: String,
    pub site: String,
    pub blueprint: String,
    pub revision: u64,
    /// Its status on the map's scale (the badge's colour).
    pub status: Status,
    /// The environment's own status word (`installing`, `rolling_back`, …).
    pub phase: String,
    /// Its inputs as JSON, secret inputs already replaced by `***` by the caller.
    pub inputs_json: String,
    pub labels: BTreeMap<String, String>,
    pub current_execution: String,
    /// Executions waiting for the current one to end.
    pub queued: Vec<String>,
    pub resources: Vec<ResourceRow>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The drift policy in force, in words, and where it comes from.
    pub drift_policy: String,
    /// Heals the drift policy started in the last hour (not those started by hand).
    pub heals_last_hour: u32,
    /// Why drift is not healed now (empty when it is).
    pub heal_suspended: String,
    /// Most recent first; the caller bounds the list.
    pub executions: Vec<ExecRow>,
    /// How many executions there are in all (more than listed when the list is bounded).
    pub executions_total: usize,
}

/// The diff page's data: desired against what the site holds now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffView {
    pub environment: String,
    pub site: String,
    /// When the site answered.
    pub observed_ms: u64,
    pub resources: Vec<ResourceDiffRow>,
}

/// One resource of the diff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceDiffRow {
    pub resource: String,
    pub resource_type: String,
    pub desired_digest: String,
    pub observed_digest: String,
    /// `in_sync`, `drifted`, `missing` (at the site) or `unexpected` (not desired).
    pub state: String,
    pub fields: Vec<FieldDiffRow>,
}

/// One field that differs: its JSON pointer and both sides as JSON (empty: absent there).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldDiffRow {
    pub path: String,
    pub desired_json: String,
    pub observed_json: String,
    /// `changed`, `only_desired` or `only_at_site` (empty from an older member).
    #[serde(default)]
    pub kind: String,
    /// A secret: it differs, both sides shown as `***`.
    #[serde(default)]
    pub secret: bool,
}

impl FieldDiffRow {
    /// What the row means, in words, for the page's last column.
    pub fn meaning(&self) -> &'static str {
        match (self.kind.as_str(), self.secret) {
            (_, true) => "a secret value differs (neither side is shown)",
            ("only_at_site", _) => {
                "not set by the blueprint: the site's own default or a value added there"
            }
            ("only_desired", _) => "the site does not have it",
            ("changed", _) => "changed at the site",
            _ => "",
        }
    }
}

/// The path of an environment's diff page.
pub fn diff_href(environment: &str) -> String {
    format!("{}/diff", environment_href(environment))
}

/// The environment's page, with the forms `forms` allows (`heal`, `rollback`).
pub fn environment_page(e: &EnvironmentView, forms: &Forms) -> String {
    let mut h = String::with_capacity(8192);
    head(&mut h, &format!("Environment {}", e.name));
    let _ = write!(
        h,
        "</head>\n<body class=\"site-page\">\n<header><a href=\"{}\">← Site {}</a> \
         <a href=\"{}\">Map</a> <h1>Environment {}</h1> ",
        escape_html(&site_href(&e.site)),
        escape_html(&e.site),
        crate::routes::MAP_PAGE,
        escape_html(&e.name),
    );
    status_badge(&mut h, e.status);
    if !e.phase.is_empty() && e.phase != e.status.as_str() {
        let _ = write!(h, " <span class=\"phase\">{}</span>", escape_html(&e.phase));
    }
    h.push_str("</header>\n<main class=\"page\">\n<div class=\"actions\">");
    for (action, label) in [("heal", "Heal"), ("rollback", "Roll back")] {
        if forms.allows(action) {
            push_form(
                &mut h,
                &environment_action_href(&e.name, action),
                label,
                &forms.csrf,
            );
        }
    }
    let _ = write!(
        h,
        "<a class=\"button\" href=\"{}\">Compare with the site now</a></div>\n<dl class=\"facts\">\n",
        escape_html(&diff_href(&e.name))
    );
    let mut fact = |name: &str, value: &str| {
        let _ = writeln!(h, "<dt>{name}</dt><dd>{}</dd>", escape_html(value));
    };
    fact("Blueprint", &format!("{}@{}", e.blueprint, e.revision));
    fact("Created (UTC)", &utc(e.created_ms));
    fact("Updated (UTC)", &utc(e.updated_ms));
    fact("Drift policy", &e.drift_policy);
    fact(
        "Drift heals in the last hour",
        &e.heals_last_hour.to_string(),
    );
    if !e.heal_suspended.is_empty() {
        fact("Not healing because", &e.heal_suspended);
    }
    h.push_str("<dt>Labels</dt><dd>");
    if e.labels.is_empty() {
        h.push_str("none");
    }
    for (k, v) in &e.labels {
        let _ = write!(
            h,
            "<span class=\"tag\">{}={}</span> ",
            escape_html(k),
            escape_html(v)
        );
    }
    h.push_str("</dd>\n");
    if !e.current_execution.is_empty() {
        let _ = writeln!(
            h,
            "<dt>Running</dt><dd><a href=\"{}\"><code>{}</code></a></dd>",
            escape_html(&execution_href(&e.current_execution)),
            escape_html(&e.current_execution)
        );
    }
    if !e.queued.is_empty() {
        h.push_str("<dt>Queued</dt><dd>");
        for id in &e.queued {
            let _ = write!(
                h,
                "<a href=\"{}\"><code>{}</code></a> ",
                escape_html(&execution_href(id)),
                escape_html(id)
            );
        }
        h.push_str("</dd>\n");
    }
    h.push_str("</dl>\n<h2>Inputs</h2>\n<pre class=\"inputs\">");
    h.push_str(&escape_html(&pretty_json(&e.inputs_json)));
    h.push_str("</pre>\n");

    let drifted = e.resources.iter().filter(|r| r.drifted).count();
    let _ = writeln!(
        h,
        "<h2>Resources ({}, {drifted} drifted)</h2>",
        e.resources.len()
    );
    if e.resources.is_empty() {
        h.push_str("<p>No resources applied yet.</p>\n");
    } else {
        resources_table(&mut h, &e.resources);
    }
    let _ = writeln!(
        h,
        "<h2>Executions ({} of {})</h2>",
        e.executions.len(),
        e.executions_total
    );
    if e.executions.is_empty() {
        h.push_str("<p>No executions.</p>\n");
    } else {
        executions(&mut h, &e.executions);
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// `s` indented when it is JSON, as it is otherwise.
fn pretty_json(s: &str) -> String {
    serde_json::from_str::<serde_json::Value>(s)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| s.to_string())
}

/// The diff page: one table per resource that differs, and the resources that do not.
pub fn diff_page(d: &DiffView) -> String {
    let mut h = String::with_capacity(4096);
    head(&mut h, &format!("Diff of {}", d.environment));
    let _ = write!(
        h,
        "</head>\n<body class=\"site-page\">\n<header><a href=\"{}\">← Environment {}</a> \
         <h1>Desired against site {} now</h1></header>\n<main class=\"page\">\n\
         <p>Asked of the site at {} UTC; secret values are shown as <code>***</code> \
         on both sides, also when they differ. Fields the blueprint does not set are listed \
         (greyed) when the site has them. Reload to ask again.</p>\n",
        escape_html(&environment_href(&d.environment)),
        escape_html(&d.environment),
        escape_html(&d.site),
        utc(d.observed_ms)
    );
    let (same, differ): (Vec<_>, Vec<_>) = d.resources.iter().partition(|r| r.state == "in_sync");
    if differ.is_empty() {
        h.push_str("<p class=\"ok-box\">Every resource is as desired.</p>\n");
    }
    for r in &differ {
        let _ = writeln!(
            h,
            "<h2><code>{}</code> ({}): {}</h2>",
            escape_html(&r.resource),
            escape_html(&r.resource_type),
            escape_html(&r.state)
        );
        if r.fields.is_empty() {
            let _ = writeln!(
                h,
                "<p>Desired digest <code>{}</code>, observed <code>{}</code>; the site reported \
                 no properties to compare field by field.</p>",
                escape_html(or_dash(&r.desired_digest)),
                escape_html(or_dash(&r.observed_digest))
            );
            continue;
        }
        h.push_str(
            "<table class=\"diff\">\n<thead><tr><th>Field</th><th>Desired</th><th>At the site</th>\
             <th>What it means</th></tr></thead>\n<tbody>\n",
        );
        for f in &r.fields {
            let _ = writeln!(
                h,
                "<tr class=\"{}\"><td><code>{}</code></td><td class=\"desired\"><code>{}</code></td>\
                 <td class=\"observed\"><code>{}</code></td><td>{}</td></tr>",
                if f.kind == "only_at_site" && !f.secret {
                    "site-only"
                } else {
                    "differs"
                },
                escape_html(if f.path.is_empty() {
                    "(whole value)"
                } else {
                    &f.path
                }),
                escape_html(or_absent(&f.desired_json)),
                escape_html(or_absent(&f.observed_json)),
                escape_html(f.meaning()),
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    if !same.is_empty() {
        let names: Vec<String> = same.iter().map(|r| escape_html(&r.resource)).collect();
        let _ = writeln!(
            h,
            "<h2>In sync ({})</h2>\n<p>{}</p>",
            same.len(),
            names.join(", ")
        );
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "—"
    } else {
        s
    }
}

fn or_absent(s: &str) -> &str {
    if s.is_empty() {
        "(absent)"
    } else {
        s
    }
}
