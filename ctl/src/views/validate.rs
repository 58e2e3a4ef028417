//! The view of `blueprint validate`: every problem a member's parser found in each file,
//! printed like the member's own refusals (`file:line:col: error: ...` and an indented
//! `hint:` line), so editors and CI logs can jump to them and `apply` and `validate` read
//! the same.

use moor_proto::workflow as pb;
use serde::Serialize;

use super::cells::escape_controls;
use super::View;

/// One problem, at a 1-based line and column.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemView {
    pub source: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    /// What to do about it, when the member has a suggestion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl From<&pb::BlueprintProblem> for ProblemView {
    fn from(p: &pb::BlueprintProblem) -> Self {
        ProblemView {
            source: p.source.clone(),
            line: p.line,
            column: p.column,
            message: p.message.clone(),
            hint: Some(p.hint.clone()).filter(|h| !h.is_empty()),
        }
    }
}

impl ProblemView {
    /// `source:line:col: error: message`, then `  hint: ...` when there is a hint.
    pub fn lines(&self) -> String {
        let mut text = format!(
            "{}:{}:{}: error: {}",
            escape_controls(&self.source),
            self.line,
            self.column,
            escape_controls(&self.message)
        );
        if let Some(hint) = &self.hint {
            text.push_str(&format!("\n  hint: {}", escape_controls(hint)));
        }
        text
    }
}

/// What a member found in one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    /// The file as named on the command line (`stdin` for `-`).
    pub file: String,
    pub valid: bool,
    /// The blueprint's name, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// In source order; a member lists at most about 100, the last then counting the rest.
    pub problems: Vec<ProblemView>,
}

impl FileCheck {
    /// The answer to a `validate_only` request for `file`.
    pub fn new(file: &str, r: &pb::ApplyBlueprintResponse) -> FileCheck {
        let valid = r.problems.is_empty();
        FileCheck {
            file: file.to_string(),
            valid,
            name: Some(r.name.clone()).filter(|n| valid && !n.is_empty()),
            problems: r.problems.iter().map(ProblemView::from).collect(),
        }
    }

    /// Every problem, then the file's summary line.
    pub fn block(&self) -> String {
        let file = escape_controls(&self.file);
        let mut lines: Vec<String> = self.problems.iter().map(ProblemView::lines).collect();
        lines.push(match (self.valid, &self.name) {
            (true, Some(name)) => format!("{file}: valid (blueprint {})", escape_controls(name)),
            (true, None) => format!("{file}: valid"),
            (false, _) => {
                let n = self.problems.len();
                let s = if n == 1 { "" } else { "s" };
                format!("{file}: not valid, {n} problem{s} listed")
            }
        });
        lines.join("\n")
    }
}

/// `blueprint validate`.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateView {
    pub files: Vec<FileCheck>,
}

impl View for ValidateView {
    fn table(&self) -> String {
        self.files
            .iter()
            .map(FileCheck::block)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::views::render;

    fn problem(line: u32, hint: &str) -> pb::BlueprintProblem {
        pb::BlueprintProblem {
            source: "bad.yaml".into(),
            line,
            column: 5,
            message: format!("unknown field `x{line}`"),
            hint: hint.into(),
        }
    }

    #[test]
    fn problems_read_like_compiler_errors() {
        let bad = pb::ApplyBlueprintResponse {
            problems: vec![problem(3, "did you mean `resources`?"), problem(7, "")],
            ..Default::default()
        };
        let good = pb::ApplyBlueprintResponse {
            name: "webshop".into(),
            ..Default::default()
        };
        let view = ValidateView {
            files: vec![
                FileCheck::new("bad.yaml", &bad),
                FileCheck::new("good.yaml", &good),
            ],
        };
        assert_eq!(
            view.table(),
            "bad.yaml:3:5: error: unknown field `x3`\n  \
             hint: did you mean `resources`?\n\
             bad.yaml:7:5: error: unknown field `x7`\n\
             bad.yaml: not valid, 2 problems listed\n\
             good.yaml: valid (blueprint webshop)"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&view, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(json["files"][0]["valid"], false);
        assert_eq!(json["files"][0]["problems"][0]["line"], 3);
        assert!(json["files"][0]["problems"][1].get("hint").is_none());
        assert_eq!(json["files"][1]["name"], "webshop");
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        let mut p = problem(1, "");
        p.message = "bad \u{1b}[2J".into();
        assert!(!ProblemView::from(&p).lines().contains('\u{1b}'));
    }
}
