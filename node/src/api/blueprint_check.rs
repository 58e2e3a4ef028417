//! A blueprint as it arrives: size-checked and parsed once, here, into the spec the
//! replicated command carries; or the problems found, as a bounded list a response can
//! carry in its body (`validate_only`), where a status message has room for only a few.

use moor_domain::blueprint::{BlueprintSpec, Diagnostic};
use moor_proto::workflow as pb;

use crate::errors::cut;

/// Largest blueprint source accepted, in bytes.
pub const MAX_BLUEPRINT_BYTES: usize = 256 * 1024;

/// Longest message of one problem in a response body, in bytes.
const MAX_PROBLEM_MESSAGE_BYTES: usize = 1024;

/// Parses `yaml` named `source_name`; a source over [`MAX_BLUEPRINT_BYTES`] is one problem.
pub fn parse_blueprint(source_name: &str, yaml: &str) -> Result<BlueprintSpec, Vec<Diagnostic>> {
    if yaml.len() > MAX_BLUEPRINT_BYTES {
        return Err(vec![Diagnostic {
            source: source_name.to_string(),
            line: 1,
            column: 1,
            message: format!(
                "the source is {} bytes; a blueprint may have at most {MAX_BLUEPRINT_BYTES}",
                yaml.len()
            ),
            hint: Some("split it into several blueprints".into()),
        }]);
    }
    moor_domain::blueprint::parse(source_name, yaml)
}

/// The answer to a `validate_only` request: the name when valid, else every problem (the
/// parser already stops at 100 and counts the rest), each message cut to 1 KiB.
pub fn validation_response(
    parsed: Result<BlueprintSpec, Vec<Diagnostic>>,
) -> pb::ApplyBlueprintResponse {
    match parsed {
        Ok(spec) => pb::ApplyBlueprintResponse {
            name: spec.name,
            ..Default::default()
        },
        Err(diags) => pb::ApplyBlueprintResponse {
            problems: diags.into_iter().map(problem_msg).collect(),
            ..Default::default()
        },
    }
}

/// One diagnostic as a wire message, every text bounded.
fn problem_msg(d: Diagnostic) -> pb::BlueprintProblem {
    pb::BlueprintProblem {
        source: cut(&d.source, 256),
        line: u32::try_from(d.line).unwrap_or(u32::MAX),
        column: u32::try_from(d.column).unwrap_or(u32::MAX),
        message: cut(&d.message, MAX_PROBLEM_MESSAGE_BYTES),
        hint: cut(
            d.hint.as_deref().unwrap_or_default(),
            MAX_PROBLEM_MESSAGE_BYTES,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn long_problems_are_cut_in_the_body() {
        let diags: Vec<Diagnostic> = (0..101)
            .map(|i| Diagnostic {
                source: "bp.yaml".into(),
                line: i + 1,
                column: 1,
                message: "x".repeat(100_000),
                hint: Some("é".repeat(5_000)),
            })
            .collect();
        let r = validation_response(Err(diags));
        assert_eq!(r.problems.len(), 101);
        for p in &r.problems {
            assert!(p.message.len() <= MAX_PROBLEM_MESSAGE_BYTES);
            assert!(p.hint.len() <= MAX_PROBLEM_MESSAGE_BYTES && p.hint.ends_with('…'));
        }
        assert!(r.encoded_len() < 256 * 1024, "{}", r.encoded_len());
    }

    #[test]
    fn a_valid_source_gives_its_name_and_no_problems() {
        let r = validation_response(parse_blueprint(
            "bp.yaml",
            "name: ok\nresources:\n  - name: a\n    type: sim.resource\n",
        ));
        assert_eq!(r.name, "ok");
        assert!(r.problems.is_empty());
        assert_eq!(r.revision, 0);
    }

    #[test]
    fn oversized_sources_are_one_problem() {
        let r = validation_response(parse_blueprint("bp.yaml", &"#".repeat(300 * 1024)));
        assert_eq!(r.problems.len(), 1);
        assert!(r.problems[0].message.contains("at most"));
    }
}
