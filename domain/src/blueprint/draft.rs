//! What the parser hands the validator: the document's content with the position of
//! everything a later check may point at ([`Draft`]), the diagnostics collected so far
//! ([`Report`]), and the helpers both use to word a problem (`closest`, the type lists).
//! Parsing ([`super::parse`]) and validation ([`super::validate`]) both depend on this file
//! and never on each other's internals, except parse calling validate.

use serde_json::Value;

use super::spec::Diagnostic;
use super::yaml::{Pos, Spanned};

/// Most diagnostics returned; the rest are counted in a last one. Past this many, hints stop
/// computing "did you mean" suggestions, which is the costly part.
pub const MAX_DIAGNOSTICS: usize = 100;

/// Collects diagnostics for one source.
pub(crate) struct Report {
    source: String,
    diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub(crate) fn new(source: &str) -> Report {
        Report {
            source: source.to_string(),
            diagnostics: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        self.diagnostics.push(Diagnostic {
            source: self.source.clone(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
            hint,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// Whether hints should still look for a "did you mean" suggestion.
    pub(crate) fn wants_suggestions(&self) -> bool {
        self.diagnostics.len() < MAX_DIAGNOSTICS
    }

    /// Diagnostics in source order (the sort is stable, so problems at one position keep the
    /// order they were found in), at most [`MAX_DIAGNOSTICS`] of them and a count of the rest.
    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        if self.diagnostics.len() > MAX_DIAGNOSTICS {
            let hidden = self.diagnostics.len() - MAX_DIAGNOSTICS;
            let first_hidden = &self.diagnostics[MAX_DIAGNOSTICS];
            let summary = Diagnostic {
                source: self.source.clone(),
                line: first_hidden.line,
                column: first_hidden.column,
                message: format!("{hidden} more problems from here on are not shown"),
                hint: Some("fix the ones above and push again".into()),
            };
            self.diagnostics.truncate(MAX_DIAGNOSTICS);
            self.diagnostics.push(summary);
        }
        self.diagnostics
    }
}

/// The document's content with positions, before semantic checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    pub name: Option<Spanned<String>>,
    pub description: String,
    pub inputs: Vec<DraftInput>,
    pub resources: Vec<DraftResource>,
    pub outputs: Vec<(Spanned<String>, Value)>,
    /// Every string that contains `${`, for reference checks.
    pub templates: Vec<TemplateSite>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DraftInput {
    pub name: Spanned<String>,
    pub input_type: Option<Spanned<String>>,
    pub default: Option<Spanned<Value>>,
    pub secret: bool,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DraftResource {
    /// Where the resource's mapping starts: for problems with no better place.
    pub pos: Pos,
    pub name: Option<Spanned<String>>,
    pub resource_type: Option<Spanned<String>>,
    pub depends_on: Vec<Spanned<String>>,
    pub properties: Value,
}

/// A string holding `${`, and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TemplateSite {
    pub text: String,
    pub pos: Pos,
    /// `Some(input)` when the string is (part of) that input's default: defaults may use
    /// variables but not other inputs.
    pub in_default_of: Option<String>,
}

/// The candidate nearest to `word`, when it is near enough to be a likely typo; failing
/// that, one that shares a word part (`k8s.manifest` → `kubernetes.manifest`).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let by_spelling = candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(distance, c)| *distance <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c);
    let parts = |s: &'a str| s.split(['.', '-', '_']).filter(|p| p.len() >= 3);
    by_spelling.or_else(|| {
        candidates
            .iter()
            .copied()
            .find(|c| parts(c).any(|p| word.split(['.', '-', '_']).any(|w| w == p)))
    })
}

pub(crate) fn input_type_list() -> String {
    super::spec::InputType::ALL.map(|t| t.as_str()).join(", ")
}

pub(crate) fn resource_type_list() -> String {
    super::spec::ResourceType::ALL
        .map(|t| t.as_str())
        .join(", ")
}
