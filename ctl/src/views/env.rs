//! Views of environments: one environment with its resources (applied and observed), and
//! the list. Digests are hex SHA-256: tables show their first
//! [`SHORT_DIGEST`](super::cells::SHORT_DIGEST) characters, machine formats the whole digest.

use std::collections::BTreeMap;

use moor_proto::names::{display, EnvStatus};
use moor_proto::workflow as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls, labels_cell, short_digest};
use super::drift::DriftStateView;
use super::paint::Paint;
use super::table::{fields, grid};
use super::time::utc;
use super::View;

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
    /// The drift policies and heals, as fields of the environment.
    #[serde(flatten)]
    pub drift: DriftStateView,
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
            drift: DriftStateView::from(e),
        }
    }
}

impl EnvView {
    fn drifted(&self) -> usize {
        self.resources.iter().filter(|r| r.drifted).count()
    }

    /// The status, marked when drift is no longer healed.
    fn status_cell(&self) -> String {
        let status = display::<EnvStatus>(&self.status);
        if self.drift.heal_suspended.is_empty() {
            status
        } else {
            format!("{status} (heal suspended)")
        }
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
        self.painted(Paint::Plain)
    }

    fn painted(&self, paint: Paint) -> String {
        let queued = if self.queued.is_empty() {
            "-".to_string()
        } else {
            self.queued.join(", ")
        };
        let mut rows = vec![
            ("name", escape_controls(&self.name)),
            ("site", escape_controls(&self.site)),
            (
                "blueprint",
                format!("{}@{}", escape_controls(&self.blueprint), self.revision),
            ),
            ("status", display::<EnvStatus>(&self.status)),
            ("inputs", escape_controls(&self.inputs.to_string())),
            ("labels", labels_cell(&self.labels)),
            ("current execution", dash(&self.current_execution)),
            ("latest execution", dash(&self.latest_execution)),
            ("queued", queued),
            ("created", utc(self.created_ms)),
            ("updated", utc(self.updated_ms)),
        ];
        rows.extend(self.drift.rows(paint));
        let head = fields(rows);
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

/// `env drift`: an environment's drift policies after a change.
#[derive(Debug, Clone, Serialize)]
pub struct EnvDriftView {
    pub name: String,
    #[serde(flatten)]
    pub drift: DriftStateView,
}

impl From<&pb::Environment> for EnvDriftView {
    fn from(e: &pb::Environment) -> Self {
        EnvDriftView {
            name: e.name.clone(),
            drift: DriftStateView::from(e),
        }
    }
}

impl View for EnvDriftView {
    fn table(&self) -> String {
        self.painted(Paint::Plain)
    }

    fn painted(&self, paint: Paint) -> String {
        let mut rows = vec![("environment", escape_controls(&self.name))];
        rows.extend(self.drift.rows(paint));
        fields(rows)
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
                        e.status_cell(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::views::render;

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
            ..Default::default()
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
    fn an_unknown_status_shows_as_unknown() {
        let env = pb::Environment {
            name: "web-1".into(),
            status: "hibernating".into(),
            ..Default::default()
        };
        let view = EnvView::from(&env);
        assert!(view
            .table()
            .contains("status             unknown(hibernating)\n"));
        let list = EnvListView {
            environments: vec![view],
        }
        .table();
        assert!(list.contains("unknown(hibernating)"), "{list}");
    }
}
