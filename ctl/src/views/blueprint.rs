//! Views of blueprints: the list, one revision's source, and the revisions.

use moor_proto::workflow as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls};
use super::table::grid;
use super::time::utc;
use super::View;

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
