//! Views of Git sources: one source with its last fetch and its blueprint files, and the
//! list. A fetch that failed is highlighted on a terminal: nothing of that commit was
//! applied.

use moor_proto::hooks as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls, short_digest};
use super::paint::Paint;
use super::table::{fields, grid};
use super::time::{one_unit, utc};
use super::View;

/// One blueprint file of a source and the revision its content made.
#[derive(Debug, Clone, Serialize)]
pub struct SourceBlueprintView {
    pub path: String,
    pub blueprint: String,
    pub revision: u64,
}

/// One source.
#[derive(Debug, Clone, Serialize)]
pub struct SourceView {
    pub name: String,
    pub url: String,
    pub branch: String,
    /// The folder of the blueprint files ("": the repository's root).
    pub path: String,
    /// The file on every member holding the credentials ("": none).
    pub credentials_file: String,
    /// 0: fetched only on webhooks and `source sync`.
    pub poll_interval_ms: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The commit whose blueprints are applied.
    pub commit: String,
    pub fetched_ms: u64,
    /// Why the latest fetch failed ("": it did not).
    pub error: String,
    pub error_commit: String,
    pub error_ms: u64,
    /// A fetch was asked for and has not finished.
    pub fetch_pending: bool,
    pub blueprints: Vec<SourceBlueprintView>,
}

impl From<&pb::Source> for SourceView {
    fn from(s: &pb::Source) -> Self {
        SourceView {
            name: s.name.clone(),
            url: s.url.clone(),
            branch: s.branch.clone(),
            path: s.path.clone(),
            credentials_file: s.credentials_file.clone(),
            poll_interval_ms: s.poll_interval_ms,
            created_ms: s.created_ms,
            updated_ms: s.updated_ms,
            commit: s.commit.clone(),
            fetched_ms: s.fetched_ms,
            error: s.error.clone(),
            error_commit: s.error_commit.clone(),
            error_ms: s.error_ms,
            fetch_pending: s.fetch_pending,
            blueprints: s
                .blueprints
                .iter()
                .map(|b| SourceBlueprintView {
                    path: b.path.clone(),
                    blueprint: b.blueprint.clone(),
                    revision: b.revision,
                })
                .collect(),
        }
    }
}

impl SourceView {
    /// How often it is fetched, for people.
    fn poll(&self) -> String {
        match self.poll_interval_ms {
            0 => "only on webhooks and `moorctl source sync`".to_string(),
            ms => format!("every {}", one_unit(ms)),
        }
    }

    /// The last fetch in one cell: when it failed, why, at which commit and when.
    fn error_cell(&self) -> String {
        if self.error.is_empty() {
            return "-".to_string();
        }
        let at = match self.error_commit.as_str() {
            "" => String::new(),
            c => format!(" at {}", escape_controls(&short_digest(c))),
        };
        format!(
            "{}{at} ({})",
            escape_controls(&self.error),
            utc(self.error_ms)
        )
    }

    /// The list's state column: `error`, `pending` or `ok`.
    fn state(&self) -> &'static str {
        if self.fetch_pending {
            "pending"
        } else if !self.error.is_empty() {
            "error"
        } else if self.fetched_ms == 0 {
            "not fetched"
        } else {
            "ok"
        }
    }
}

impl View for SourceView {
    fn table(&self) -> String {
        self.painted(Paint::Plain)
    }

    fn painted(&self, paint: Paint) -> String {
        let path = match self.path.as_str() {
            "" => "(the repository's root)".to_string(),
            p => escape_controls(p),
        };
        let error = match self.error_cell() {
            e if self.error.is_empty() => e,
            e => paint.bad(&e),
        };
        let mut out = fields(vec![
            ("name", escape_controls(&self.name)),
            ("url", escape_controls(&self.url)),
            ("branch", escape_controls(&self.branch)),
            ("path", path),
            ("credentials file", dash(&self.credentials_file)),
            ("poll", self.poll()),
            ("commit", dash(&self.commit)),
            ("fetched", utc(self.fetched_ms)),
            (
                "fetch pending",
                if self.fetch_pending { "yes" } else { "no" }.into(),
            ),
            ("last error", error),
            ("created", utc(self.created_ms)),
            ("updated", utc(self.updated_ms)),
        ]);
        out.push_str("\n\n");
        if self.blueprints.is_empty() {
            out.push_str("no blueprint files applied yet");
            return out;
        }
        out.push_str(&grid(
            Some(&["FILE", "BLUEPRINT"]),
            self.blueprints
                .iter()
                .map(|b| {
                    vec![
                        escape_controls(&b.path),
                        format!("{}@{}", escape_controls(&b.blueprint), b.revision),
                    ]
                })
                .collect(),
            &[],
        ));
        out
    }
}

/// `source list`.
#[derive(Debug, Clone, Serialize)]
pub struct SourceListView {
    pub sources: Vec<SourceView>,
}

impl View for SourceListView {
    fn table(&self) -> String {
        grid(
            Some(&[
                "NAME",
                "URL",
                "BRANCH",
                "PATH",
                "COMMIT",
                "FETCHED",
                "STATE",
                "BLUEPRINTS",
            ]),
            self.sources
                .iter()
                .map(|s| {
                    vec![
                        escape_controls(&s.name),
                        escape_controls(&s.url),
                        escape_controls(&s.branch),
                        dash(&s.path),
                        escape_controls(&short_digest(&s.commit)),
                        utc(s.fetched_ms),
                        s.state().to_string(),
                        s.blueprints.len().to_string(),
                    ]
                })
                .collect(),
            &[7],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> pb::Source {
        pb::Source {
            name: "shop".into(),
            url: "https://git.example/shop.git".into(),
            branch: "main".into(),
            path: "blueprints/".into(),
            poll_interval_ms: 60_000,
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            fetched_ms: 1_700_000_000_000,
            blueprints: vec![pb::SourceBlueprint {
                path: "blueprints/shop.yaml".into(),
                blueprint: "webshop".into(),
                revision: 3,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_source_shows_its_files_and_its_last_error() {
        let t = SourceView::from(&source()).table();
        assert!(t.contains("poll              every 1m"), "{t}");
        assert!(t.contains("last error        -"), "{t}");
        assert!(
            t.contains("blueprints/shop.yaml  webshop@3"),
            "file table: {t}"
        );
        let failed = pb::Source {
            error: "blueprints/bad.yaml:3:5: unknown field".into(),
            error_commit: "fedcba9876543210fedc".into(),
            error_ms: 1_700_000_000_000,
            poll_interval_ms: 0,
            blueprints: vec![],
            ..source()
        };
        let v = SourceView::from(&failed);
        let t = v.table();
        assert!(
            t.contains("unknown field at fedcba987654 (2023-11-14T22:13:20Z)"),
            "{t}"
        );
        assert!(t.contains("only on webhooks"), "{t}");
        assert!(t.contains("no blueprint files applied yet"), "{t}");
        assert!(v.painted(Paint::Ansi).contains("\x1b[31m"), "error in red");
        let list = SourceListView {
            sources: vec![SourceView::from(&source()), v],
        }
        .table();
        assert!(list.contains("0123456789ab"), "{list}");
        assert!(list.lines().nth(2).unwrap().contains("error"), "{list}");
    }
}
