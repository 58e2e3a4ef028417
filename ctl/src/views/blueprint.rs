//! Views of blueprints: the list, one revision's source, and the revisions.

use moor_proto::workflow as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls, short_digest};
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

/// Where one revision came from: the Git source, commit and file that made it; empty
/// strings for a revision applied by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RevisionOriginView {
    pub revision: u64,
    pub source: String,
    pub commit: String,
    pub path: String,
}

/// `blueprint revisions`.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionsView {
    pub name: String,
    pub latest: u64,
    /// Oldest first.
    pub revisions: Vec<u64>,
    /// Where each revision came from, in the order of `revisions`.
    pub origins: Vec<RevisionOriginView>,
}

impl From<&pb::GetBlueprintResponse> for RevisionsView {
    /// The revisions of the answer for its latest revision, each with its origin (matched by
    /// revision number: a member that does not send origins leaves them empty).
    fn from(b: &pb::GetBlueprintResponse) -> Self {
        let origins = b
            .revisions
            .iter()
            .map(|&revision| {
                b.origins
                    .iter()
                    .find(|o| o.revision == revision)
                    .map_or_else(
                        || RevisionOriginView {
                            revision,
                            ..Default::default()
                        },
                        |o| RevisionOriginView {
                            revision,
                            source: o.source.clone(),
                            commit: o.commit.clone(),
                            path: o.path.clone(),
                        },
                    )
            })
            .collect();
        RevisionsView {
            name: b.name.clone(),
            latest: b.revision,
            revisions: b.revisions.clone(),
            origins,
        }
    }
}

impl View for RevisionsView {
    fn table(&self) -> String {
        grid(
            Some(&["REVISION", "SOURCE", "COMMIT", "PATH"]),
            self.origins
                .iter()
                .map(|o| {
                    let mark = if o.revision == self.latest {
                        "  (latest)"
                    } else {
                        ""
                    };
                    vec![
                        format!("{}@{}{mark}", escape_controls(&self.name), o.revision),
                        dash(&o.source),
                        escape_controls(&short_digest(&o.commit)),
                        dash(&o.path),
                    ]
                })
                .collect(),
            &[],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_show_where_they_came_from() {
        let b = pb::GetBlueprintResponse {
            name: "webshop".into(),
            revision: 3,
            revisions: vec![1, 2, 3],
            origins: vec![
                pb::RevisionOrigin {
                    revision: 1,
                    ..Default::default()
                },
                pb::RevisionOrigin {
                    revision: 3,
                    source: "shop".into(),
                    commit: "0123456789abcdef0123456789abcdef01234567".into(),
                    path: "blueprints/shop.yaml".into(),
                    created_ms: 1,
                },
            ],
            ..Default::default()
        };
        let view = RevisionsView::from(&b);
        let t = view.table();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("REVISION"), "{t}");
        let words = |i: usize| lines[i].split_whitespace().collect::<Vec<_>>();
        assert_eq!(words(1), ["webshop@1", "-", "-", "-"], "by hand: {t}");
        assert!(
            lines[3].contains("webshop@3  (latest)  shop    0123456789ab  blueprints/shop.yaml"),
            "{t}"
        );
        let json: serde_json::Value = serde_json::to_value(&view).unwrap();
        assert_eq!(json["revisions"], serde_json::json!([1, 2, 3]));
        assert_eq!(json["origins"][1]["source"], "");
        assert_eq!(json["origins"][2]["commit"].as_str().unwrap().len(), 40);
    }
}
