//! Views of the workflow API's answers: blueprints, sites, environments and executions, each
//! as a table for people and as JSON / YAML for programs (see `output.rs` for the rules).
//!
//! Times travel as milliseconds since the Unix epoch; machine formats keep those numbers
//! (`created_ms`, ...), tables show them as UTC times. Digests are hex SHA-256; tables show
//! their first [`SHORT_DIGEST`] characters, machine formats the whole digest.

use std::collections::BTreeMap;

use moor_proto::workflow as pb;
use serde::Serialize;

use crate::output::{escape_controls, fields, grid, View};

/// How many hex characters of a digest a table shows.
pub const SHORT_DIGEST: usize = 12;

/// `ms` since the Unix epoch as an RFC 3339 UTC time to the second; 0 (never) as `-`.
pub fn utc(ms: u64) -> String {
    if ms == 0 {
        return "-".to_string();
    }
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A duration in milliseconds for people: `850 ms`, `12.4 s`, `3 min 5 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// The first [`SHORT_DIGEST`] characters of a digest; empty as `-`.
pub fn short_digest(digest: &str) -> String {
    if digest.is_empty() {
        "-".to_string()
    } else {
        digest.chars().take(SHORT_DIGEST).collect()
    }
}

/// `k=v,k2=v2` in key order; none as `-`.
fn labels_cell(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "-".to_string();
    }
    escape_controls(
        &labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        escape_controls(s)
    }
}

// ---- apply ----

/// What `apply` did with one blueprint or site.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The file it came from (`-` for standard input).
    pub file: String,
    /// `blueprint` or `site`.
    pub kind: &'static str,
    pub name: String,
    /// Blueprints: the revision now latest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// `created`, `unchanged` (blueprints) or `updated` (sites).
    pub result: &'static str,
}

impl Applied {
    /// One line: `blueprint webshop@3 created`, `site edge-1 updated`.
    pub fn line(&self) -> String {
        match self.revision {
            Some(r) => format!("{} {}@{r} {}", self.kind, self.name, self.result),
            None => format!("{} {} {}", self.kind, self.name, self.result),
        }
    }
}

/// `apply`.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyView {
    pub applied: Vec<Applied>,
}

impl View for ApplyView {
    fn table(&self) -> String {
        self.applied
            .iter()
            .map(Applied::line)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

// ---- blueprints ----

/// One blueprint in `blueprint list`.
#[derive(Debug, Clone, Serialize)]
pub struct BlueprintSummaryView {
    pub name: String,
    pub latest_revision: u64,
    pub description: String,
    pub created_ms: u64,
    pub resources: Vec<String>,
}

impl From<&pb::BlueprintSummary> for BlueprintSummaryView {
    fn from(b: &pb::BlueprintSummary) -> Self {
        BlueprintSummaryView {
            name: b.name.clone(),
            latest_revision: b.latest_revision,
            description: b.description.clone(),
            created_ms: b.created_ms,
            resources: b.resources.clone(),
        }
    }
}

/// `blueprint list`.
#[derive(Debug, Clone, Serialize)]
pub struct BlueprintListView {
    pub blueprints: Vec<BlueprintSummaryView>,
}

impl View for BlueprintListView {
    fn table(&self) -> String {
        grid(
            Some(&["NAME", "LATEST", "RESOURCES", "CREATED", "DESCRIPTION"]),
            self.blueprints
                .iter()
                .map(|b| {
                    vec![
                        escape_controls(&b.name),
                        b.latest_revision.to_string(),
                        b.resources.len().to_string(),
                        utc(b.created_ms),
                        dash(&b.description),
                    ]
                })
                .collect(),
            &[1, 2],
        )
    }
}

/// `blueprint show`: the source of one revision.
#[derive(Debug, Clone, Serialize)]
pub struct BlueprintView {
    pub name: String,
    pub revision: u64,
    pub created_ms: u64,
    /// Every revision of the blueprint, oldest first.
    pub revisions: Vec<u64>,
    pub source: String,
}

impl From<&pb::GetBlueprintResponse> for BlueprintView {
    fn from(b: &pb::GetBlueprintResponse) -> Self {
        BlueprintView {
            name: b.name.clone(),
            revision: b.revision,
            created_ms: b.created_ms,
            revisions: b.revisions.clone(),
            source: b.source.clone(),
        }
    }
}

impl View for BlueprintView {
    /// The source exactly as it was applied, so `blueprint show x > x.yaml` gives it back.
    fn table(&self) -> String {
        self.source.clone()
    }
}

/// `blueprint revisions`.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionsView {
    pub name: String,
    pub latest: u64,
    /// Oldest first.
    pub revisions: Vec<u64>,
}

impl View for RevisionsView {
    fn table(&self) -> String {
        self.revisions
            .iter()
            .map(|r| {
                let mark = if *r == self.latest { "  (latest)" } else { "" };
                format!("{}@{r}{mark}", escape_controls(&self.name))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

// ---- sites ----

/// One site.
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    pub name: String,
    pub region: String,
    pub latitude: f64,
    pub longitude: f64,
    pub labels: BTreeMap<String, String>,
    pub agent_endpoint: String,
}

impl From<&pb::Site> for SiteView {
    fn from(s: &pb::Site) -> Self {
        SiteView {
            name: s.name.clone(),
            region: s.region.clone(),
            latitude: s.latitude,
            longitude: s.longitude,
            labels: s.labels.clone().into_iter().collect(),
            agent_endpoint: s.agent_endpoint.clone(),
        }
    }
}

impl View for SiteView {
    fn table(&self) -> String {
        fields(vec![
            ("name", escape_controls(&self.name)),
            ("region", escape_controls(&self.region)),
            ("latitude", self.latitude.to_string()),
            ("longitude", self.longitude.to_string()),
            ("labels", labels_cell(&self.labels)),
            ("agent endpoint", dash(&self.agent_endpoint)),
        ])
    }
}

/// `site list`.
#[derive(Debug, Clone, Serialize)]
pub struct SiteListView {
    pub sites: Vec<SiteView>,
}

impl View for SiteListView {
    fn table(&self) -> String {
        grid(
            Some(&["NAME", "REGION", "LATITUDE", "LONGITUDE", "AGENT", "LABELS"]),
            self.sites
                .iter()
                .map(|s| {
                    vec![
                        escape_controls(&s.name),
                        escape_controls(&s.region),
                        s.latitude.to_string(),
                        s.longitude.to_string(),
                        dash(&s.agent_endpoint),
                        labels_cell(&s.labels),
                    ]
                })
                .collect(),
            &[2, 3],
        )
    }
}

// ---- environments ----

/// One resource of an environment: what was applied and what the site reports.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceView {
    pub name: String,
    pub resource_type: String,
    pub applied_digest: String,
    /// Empty when the site reported the resource missing or never reported it.
    pub observed_digest: String,
    pub drifted: bool,
}

impl From<&pb::ResourceStatus> for ResourceView {
    fn from(r: &pb::ResourceStatus) -> Self {
        ResourceView {
            name: r.name.clone(),
            resource_type: r.resource_type.clone(),
            applied_digest: r.applied_digest.clone(),
            observed_digest: r.observed_digest.clone(),
            drifted: r.drifted,
        }
    }
}

/// One environment.
#[derive(Debug, Clone, Serialize)]
pub struct EnvView {
    pub name: String,
    pub site: String,
    pub blueprint: String,
    pub revision: u64,
    pub status: String,
    /// The input values (secret ones as `"***"`).
    pub inputs: serde_json::Value,
    pub labels: BTreeMap<String, String>,
    /// The execution running now (none: empty).
    pub current_execution: String,
    /// The execution that ran last or runs now.
    pub latest_execution: String,
    /// Executions waiting for the current one.
    pub queued: Vec<String>,
    pub resources: Vec<ResourceView>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl From<&pb::Environment> for EnvView {
    fn from(e: &pb::Environment) -> Self {
        EnvView {
            name: e.name.clone(),
            site: e.site.clone(),
            blueprint: e.blueprint.clone(),
            revision: e.revision,
            status: e.status.clone(),
            // The server sends valid JSON; anything else is kept as text rather than lost.
            inputs: serde_json::from_str(&e.inputs_json)
                .unwrap_or_else(|_| serde_json::Value::String(e.inputs_json.clone())),
            labels: e.labels.clone().into_iter().collect(),
            current_execution: e.current_execution.clone(),
            latest_execution: e.latest_execution.clone(),
            queued: e.queued.clone(),
            resources: e.resources.iter().map(ResourceView::from).collect(),
            created_ms: e.created_ms,
            updated_ms: e.updated_ms,
        }
    }
}

impl EnvView {
    fn drifted(&self) -> usize {
        self.resources.iter().filter(|r| r.drifted).count()
    }

    /// The execution to look at: the running one, else the latest.
    fn execution(&self) -> &str {
        if self.current_execution.is_empty() {
            &self.latest_execution
        } else {
            &self.current_execution
        }
    }
}

impl View for EnvView {
    fn table(&self) -> String {
        let queued = if self.queued.is_empty() {
            "-".to_string()
        } else {
            self.queued.join(", ")
        };
        let head = fields(vec![
            ("name", escape_controls(&self.name)),
            ("site", escape_controls(&self.site)),
            (
                "blueprint",
                format!("{}@{}", escape_controls(&self.blueprint), self.revision),
            ),
            ("status", self.status.clone()),
            ("inputs", escape_controls(&self.inputs.to_string())),
            ("labels", labels_cell(&self.labels)),
            ("current execution", dash(&self.current_execution)),
            ("latest execution", dash(&self.latest_execution)),
            ("queued", queued),
            ("created", utc(self.created_ms)),
            ("updated", utc(self.updated_ms)),
        ]);
        if self.resources.is_empty() {
            return format!("{head}\n\nno resources applied yet");
        }
        let rows = self
            .resources
            .iter()
            .map(|r| {
                vec![
                    escape_controls(&r.name),
                    escape_controls(&r.resource_type),
                    short_digest(&r.applied_digest),
                    short_digest(&r.observed_digest),
                    if r.drifted { "yes" } else { "no" }.to_string(),
                ]
            })
            .collect();
        format!(
            "{head}\n\n{}",
            grid(
                Some(&["RESOURCE", "TYPE", "APPLIED", "OBSERVED", "DRIFTED"]),
                rows,
                &[]
            )
        )
    }
}

/// `env list`.
#[derive(Debug, Clone, Serialize)]
pub struct EnvListView {
    pub environments: Vec<EnvView>,
}

impl View for EnvListView {
    fn table(&self) -> String {
        grid(
            Some(&[
                "NAME",
                "SITE",
                "BLUEPRINT",
                "STATUS",
                "DRIFTED",
                "EXECUTION",
                "UPDATED",
            ]),
            self.environments
                .iter()
                .map(|e| {
                    vec![
                        escape_controls(&e.name),
                        escape_controls(&e.site),
                        format!("{}@{}", escape_controls(&e.blueprint), e.revision),
                        e.status.clone(),
                        e.drifted().to_string(),
                        dash(e.execution()),
                        utc(e.updated_ms),
                    ]
                })
                .collect(),
            &[4],
        )
    }
}

// ---- executions ----

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
                    s.action.clone(),
                    s.state.clone(),
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
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
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
            ("kind", self.kind.clone()),
            ("state", self.state.clone()),
            ("target revision", revision),
            ("created", utc(self.created_ms)),
            ("started", utc(self.started_ms)),
            ("finished", self.finished()),
            ("steps", self.progress()),
            ("error", dash(&self.error)),
        ]);
        if self.steps.is_empty() {
            let why = if crate::watch::is_terminal(&self.state) {
                "no steps: there was nothing to change"
            } else {
                "no steps planned yet"
            };
            return format!("{head}\n\n{why}");
        }
        format!("{head}\n\n{}", steps_table(&self.steps))
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
                        e.kind.clone(),
                        e.state.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::output::render;

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
    fn times_and_digests() {
        assert_eq!(utc(0), "-");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1), "1970-01-01T00:00:00Z");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_400), "12.4 s");
        assert_eq!(duration(185_000), "3 min 5 s");
        assert_eq!(short_digest(&"ab".repeat(32)), "abababababab");
        assert_eq!(short_digest(""), "-");
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
    fn environment_table_shortens_digests() {
        let env = pb::Environment {
            name: "web-1".into(),
            site: "edge-1".into(),
            blueprint: "hello".into(),
            revision: 2,
            status: "drifted".into(),
            inputs_json: r#"{"message":"hi","token":"***"}"#.into(),
            labels: [("tier".to_string(), "edge".to_string())].into(),
            latest_execution: "x3".into(),
            current_execution: String::new(),
            queued: vec![],
            resources: vec![
                pb::ResourceStatus {
                    name: "network".into(),
                    resource_type: "sim.resource".into(),
                    applied_digest: "0123456789abcdef".repeat(4),
                    observed_digest: "0123456789abcdef".repeat(4),
                    drifted: false,
                },
                pb::ResourceStatus {
                    name: "app".into(),
                    resource_type: "sim.resource".into(),
                    applied_digest: "fedcba9876543210".repeat(4),
                    observed_digest: String::new(),
                    drifted: true,
                },
            ],
            created_ms: 1_700_000_000_000,
            updated_ms: 1_700_000_000_000,
        };
        let view = EnvView::from(&env);
        let text = view.table();
        assert!(
            text.ends_with(
                "RESOURCE  TYPE          APPLIED       OBSERVED      DRIFTED\n\
                 network   sim.resource  0123456789ab  0123456789ab  no\n\
                 app       sim.resource  fedcba987654  -             yes"
            ),
            "\n{text}"
        );
        assert!(text.contains("blueprint          hello@2\n"), "\n{text}");
        let list = EnvListView {
            environments: vec![view.clone()],
        }
        .table();
        assert!(list.contains("hello@2    drifted        1  x3"), "\n{list}");
        let json = render(&view, OutputFormat::Json).unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["inputs"]["message"], "hi");
        assert_eq!(json["resources"][1]["observed_digest"], "");
    }

    #[test]
    fn apply_lines() {
        let view = ApplyView {
            applied: vec![
                Applied {
                    file: "webshop.yaml".into(),
                    kind: "blueprint",
                    name: "webshop".into(),
                    revision: Some(3),
                    result: "created",
                },
                Applied {
                    file: "sites.yaml".into(),
                    kind: "site",
                    name: "edge-1".into(),
                    revision: None,
                    result: "updated",
                },
            ],
        };
        assert_eq!(
            view.table(),
            "blueprint webshop@3 created\nsite edge-1 updated"
        );
        let json = render(&view, OutputFormat::Json).unwrap();
        assert!(!json.contains("\"revision\": null"), "{json}");
    }
}
