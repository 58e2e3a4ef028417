//! The reference syntax inside blueprint strings.
//!
//! - `${inputs.NAME}` is the value of an input;
//! - `${var:KEY}` is a variable of Moor's key/value namespace;
//! - `$${` is a literal `${` (shell scripts in `agent.file` contents need it);
//! - any other `${...}` is an error, so a typo such as `${input.x}` is caught when the
//!   blueprint is pushed instead of reaching a site as text.
//!
//! Parsing is shared by validation (to report bad references with a position) and rendering
//! (to resolve them), so both agree on what a reference is.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One piece of a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Segment {
    Text(String),
    Input(String),
    Var(String),
}

/// A malformed reference; `offset` is the byte offset of its `${` in the string.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
    pub hint: String,
}

const SYNTAX_HINT: &str =
    "references are `${inputs.NAME}` and `${var:KEY}`; write `$${` for a literal `${`";

/// Splits `text` into literal text and references. Adjacent text is merged, so a string
/// without references is one `Text` segment (or none when empty).
pub fn parse_template(text: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(at) = rest.find("${") {
        // `$${` escapes: the `$` before `${` is dropped and `${` kept as text.
        if rest[..at].ends_with('$') {
            literal.push_str(&rest[..at - 1]);
            literal.push_str("${");
            rest = &rest[at + 2..];
            offset += at + 2;
            continue;
        }
        literal.push_str(&rest[..at]);
        let start = offset + at;
        let body_and_rest = &rest[at + 2..];
        let Some(end) = body_and_rest.find('}') else {
            return Err(TemplateError {
                offset: start,
                message: format!("unterminated reference `{}`", truncate(&rest[at..], 40)),
                hint: "close it with `}`".into(),
            });
        };
        let body = &body_and_rest[..end];
        let reference = if let Some(name) = body.strip_prefix("inputs.") {
            if !is_identifier(name) {
                return Err(TemplateError {
                    offset: start,
                    message: format!("malformed input reference `${{{body}}}`"),
                    hint:
                        "input names are lower-case letters, digits and `_`, starting with a letter"
                            .into(),
                });
            }
            Segment::Input(name.to_string())
        } else if let Some(key) = body.strip_prefix("var:") {
            if key.is_empty() || key.chars().any(char::is_whitespace) {
                return Err(TemplateError {
                    offset: start,
                    message: format!("malformed variable reference `${{{body}}}`"),
                    hint: "a variable key is not empty and has no spaces, e.g. `${var:webshop/db_password}`".into(),
                });
            }
            Segment::Var(key.to_string())
        } else {
            return Err(TemplateError {
                offset: start,
                message: format!("unknown reference `${{{body}}}`"),
                hint: SYNTAX_HINT.into(),
            });
        };
        if !literal.is_empty() {
            segments.push(Segment::Text(std::mem::take(&mut literal)));
        }
        segments.push(reference);
        rest = &body_and_rest[end + 1..];
        offset = start + 2 + end + 1;
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        segments.push(Segment::Text(literal));
    }
    Ok(segments)
}

/// `[a-z][a-z0-9_]*`: the names of inputs and outputs, which appear inside references.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
#[path = "tests/template_unit.rs"]
mod tests;
