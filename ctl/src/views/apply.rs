//! The view of `apply`: what was done with each blueprint and site.

use serde::Serialize;

use super::View;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::views::render;

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
