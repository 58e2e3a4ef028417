//! Semantic checks of a blueprint draft, and the [`BlueprintSpec`] built from a sound one.
//!
//! Names, input types and defaults, resource types, duplicate and missing resources,
//! dependency cycles and references are all checked in one pass over the draft, and every
//! problem is reported with the position of the text to change and a hint saying how.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::dag::DependencyGraph;
use super::draft::{closest, input_type_list, resource_type_list, Draft, DraftResource, Report};
use super::spec::{BlueprintSpec, InputSpec, InputType, ResourceSpec, ResourceType};
use super::template::{is_identifier, parse_template, Segment};
use super::yaml::{Pos, Spanned};

/// Longest blueprint or resource name: a DNS label, since resources become Kubernetes
/// object names and site-side identifiers.
pub const MAX_NAME_LEN: usize = 63;

/// `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most [`MAX_NAME_LEN`] characters.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

/// Checks `draft`, reporting into `report`; returns the spec when nothing at all (including
/// problems reported earlier) is wrong.
pub(crate) fn validate(draft: Draft, report: &mut Report) -> Option<BlueprintSpec> {
    check_blueprint_name(&draft, report);
    let inputs = check_inputs(&draft, report);
    let resources = check_resources(&draft, report);
    check_outputs(&draft, report);
    check_references(&draft, &inputs, report);
    if !report.is_empty() {
        return None;
    }
    Some(BlueprintSpec {
        templates: BTreeMap::new(),
        name: draft.name.map(|n| n.value).unwrap_or_default(),
        description: draft.description,
        inputs,
        resources,
        outputs: draft
            .outputs
            .into_iter()
            .map(|(name, value)| (name.value, value))
            .collect(),
    })
}

fn check_blueprint_name(draft: &Draft, report: &mut Report) {
    if let Some(name) = &draft.name {
        check_name(name, "blueprint", report);
    }
}

/// Reports an empty or malformed blueprint or resource name.
fn check_name(name: &Spanned<String>, what: &str, report: &mut Report) -> bool {
    if name.value.is_empty() {
        report.error(
            name.pos,
            format!("{what} name is empty"),
            Some("give it a name of lower-case letters, digits and `-`".into()),
        );
        return false;
    }
    if !is_valid_name(&name.value) {
        let suggestion = suggest_name(&name.value);
        let example = if suggestion.is_empty() {
            String::new()
        } else {
            format!(", e.g. `{suggestion}`")
        };
        report.error(
            name.pos,
            format!("{what} name `{}` is not valid", name.value),
            Some(format!(
                "use lower-case letters, digits and `-`, starting and ending with a letter or \
                 digit, at most {MAX_NAME_LEN} characters{example}"
            )),
        );
        return false;
    }
    true
}

/// A valid name close to `name`, for hints: `Web_Shop` becomes `web-shop`.
fn suggest_name(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let trimmed: String = mapped
        .trim_matches('-')
        .chars()
        .take(MAX_NAME_LEN)
        .collect();
    trimmed.trim_end_matches('-').to_string()
}

fn check_inputs(draft: &Draft, report: &mut Report) -> BTreeMap<String, InputSpec> {
    let mut inputs = BTreeMap::new();
    for input in &draft.inputs {
        let name = &input.name;
        if !is_identifier(&name.value) {
            report.error(
                name.pos,
                format!("input name `{}` is not valid", name.value),
                Some(
                    "use lower-case letters, digits and `_`, starting with a letter, \
                     e.g. `db_password`"
                        .into(),
                ),
            );
        }
        let input_type = input
            .input_type
            .as_ref()
            .and_then(|t| check_input_type(t, &name.value, report));
        if let (Some(input_type), Some(default)) = (input_type, &input.default) {
            check_default(&name.value, input_type, default, report);
        }
        if let Some(input_type) = input_type {
            inputs.insert(
                name.value.clone(),
                InputSpec {
                    input_type,
                    default: input.default.as_ref().map(|d| d.value.clone()),
                    secret: input.secret,
                    description: input.description.clone(),
                },
            );
        }
    }
    inputs
}

fn check_input_type(t: &Spanned<String>, input: &str, report: &mut Report) -> Option<InputType> {
    if let Ok(input_type) = t.value.parse::<InputType>() {
        return Some(input_type);
    }
    let types = input_type_list();
    let hint = match closest(&t.value, InputType::ALL.map(InputType::as_str)) {
        Some(guess) => format!("did you mean `{guess}`? types: {types}"),
        None => format!("types: {types}"),
    };
    report.error(
        t.pos,
        format!("unknown type `{}` for input `{input}`", t.value),
        Some(hint),
    );
    None
}

/// A default must have the input's type, unless it is exactly one `${var:KEY}`: variables
/// are text, converted to the input's type when rendering.
fn check_default(
    input: &str,
    input_type: InputType,
    default: &Spanned<Value>,
    report: &mut Report,
) {
    if let Value::String(text) = &default.value {
        if matches!(parse_template(text).as_deref(), Ok([Segment::Var(_)])) {
            return;
        }
    }
    if input_type.matches(&default.value) {
        return;
    }
    let found = value_kind(&default.value);
    let hint = match (input_type, &default.value) {
        (InputType::String, Value::Number(_) | Value::Bool(_)) => {
            "quote it to make it a string".to_string()
        }
        (InputType::Number, Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
            "write it without quotes to make it a number".to_string()
        }
        (InputType::Bool, Value::String(s)) if matches!(s.as_str(), "true" | "false") => {
            "write it without quotes to make it true or false".to_string()
        }
        _ => format!(
            "give a {} default, or remove `default` to make the input required",
            input_type
        ),
    };
    report.error(
        default.pos,
        format!("default of input `{input}` is {found}, but its type is {input_type}"),
        Some(hint),
    );
}

/// What a JSON value is, for messages (never the value itself: it may be a secret).
pub(crate) fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn check_resources(draft: &Draft, report: &mut Report) -> Vec<ResourceSpec> {
    let first_at = first_declarations(draft, report);
    let known_names: Vec<&str> = first_at.keys().copied().collect();

    let mut specs = Vec::new();
    // (name, valid dependencies) of first declarations, for the cycle check.
    let mut edges: Vec<(&str, Vec<&str>)> = Vec::new();
    // Where each edge was written, to point a cycle at its first edge.
    let mut edge_pos: BTreeMap<(&str, &str), Pos> = BTreeMap::new();
    for resource in &draft.resources {
        let resource_type = resource
            .resource_type
            .as_ref()
            .and_then(|t| check_resource_type(t, report));
        let name = resource.name.as_ref().map(|n| n.value.as_str());
        let is_first = resource
            .name
            .as_ref()
            .is_some_and(|n| first_at.get(n.value.as_str()) == Some(&n.pos));
        let what = name.map_or("resource".to_string(), |n| format!("`{n}`"));
        let depends_on = check_dependencies(resource, &what, &first_at, &known_names, report);
        if let Some(name) = name.filter(|_| is_first) {
            for (target, pos) in &depends_on {
                edge_pos.entry((name, *target)).or_insert(*pos);
            }
            edges.push((name, depends_on.iter().map(|(d, _)| *d).collect()));
        }
        if let (Some(name), Some(resource_type)) = (name, resource_type) {
            specs.push(ResourceSpec {
                name: name.to_string(),
                resource_type: resource_type.as_str().to_string(),
                depends_on: depends_on.iter().map(|(d, _)| d.to_string()).collect(),
                properties: resource.properties.clone(),
            });
        }
    }
    report_cycles(&edges, &edge_pos, report);
    specs
}

/// Where each valid resource name is first declared; later declarations are reported as
/// duplicates.
fn first_declarations<'a>(draft: &'a Draft, report: &mut Report) -> BTreeMap<&'a str, Pos> {
    let mut first_at: BTreeMap<&str, Pos> = BTreeMap::new();
    for resource in &draft.resources {
        let Some(name) = &resource.name else { continue };
        if !check_name(name, "resource", report) {
            continue;
        }
        if let Some(first) = first_at.get(name.value.as_str()) {
            report.error(
                name.pos,
                format!(
                    "duplicate resource name `{}` (first declared at {first})",
                    name.value
                ),
                Some("resource names are unique within a blueprint: rename one of them".into()),
            );
        } else {
            first_at.insert(&name.value, name.pos);
        }
    }
    first_at
}

/// The dependencies of `resource` (called `what` in messages) that name a declared
/// resource, once each, with where they were written; the others are reported.
fn check_dependencies<'a>(
    resource: &'a DraftResource,
    what: &str,
    first_at: &BTreeMap<&str, Pos>,
    known_names: &[&str],
    report: &mut Report,
) -> Vec<(&'a str, Pos)> {
    let mut depends_on = Vec::new();
    let mut listed: BTreeSet<&str> = BTreeSet::new();
    for dependency in &resource.depends_on {
        let target = dependency.value.as_str();
        if !listed.insert(target) {
            report.error(
                dependency.pos,
                format!("`{target}` is listed twice in `depends_on` of {what}"),
                Some("remove one of them".into()),
            );
            continue;
        }
        if !first_at.contains_key(target) {
            let resources = known_names.join(", ");
            let guess = report
                .wants_suggestions()
                .then(|| closest(target, known_names.iter().copied()))
                .flatten();
            let hint = match guess {
                Some(guess) => format!("did you mean `{guess}`? resources: {resources}"),
                None => format!("resources: {resources}"),
            };
            report.error(
                dependency.pos,
                format!("{what} depends on `{target}`, which is not a resource of this blueprint"),
                Some(hint),
            );
            continue;
        }
        depends_on.push((target, dependency.pos));
    }
    depends_on
}

/// Reports each dependency cycle once, at the first edge of it written in the blueprint.
fn report_cycles(
    edges: &[(&str, Vec<&str>)],
    edge_pos: &BTreeMap<(&str, &str), Pos>,
    report: &mut Report,
) {
    // Duplicates and unknown dependencies were reported and filtered out above, so the graph
    // builds; should it not, those diagnostics already stand.
    let Ok(graph) = DependencyGraph::new(edges.iter().map(|(n, d)| (*n, d.iter().copied()))) else {
        return;
    };
    for cycle in graph.cycles() {
        let (Some(from), Some(to)) = (cycle.first(), cycle.get(1)) else {
            continue;
        };
        let pos = edge_pos
            .get(&(from.as_str(), to.as_str()))
            .copied()
            .unwrap_or(Pos::new(1, 1));
        report.error(
            pos,
            format!("dependency cycle: {}", cycle.join(" -> ")),
            Some(
                "resources cannot depend on each other in a loop: remove one of these dependencies"
                    .into(),
            ),
        );
    }
}

fn check_resource_type(t: &Spanned<String>, report: &mut Report) -> Option<ResourceType> {
    if let Ok(resource_type) = t.value.parse::<ResourceType>() {
        return Some(resource_type);
    }
    let types = resource_type_list();
    let hint = match closest(&t.value, ResourceType::ALL.map(ResourceType::as_str)) {
        Some(guess) => format!("did you mean `{guess}`? known types: {types}"),
        None => format!("known types: {types}"),
    };
    report.error(
        t.pos,
        format!("unknown resource type `{}`", t.value),
        Some(hint),
    );
    None
}

fn check_outputs(draft: &Draft, report: &mut Report) {
    for (name, _) in &draft.outputs {
        if !is_identifier(&name.value) {
            report.error(
                name.pos,
                format!("output name `{}` is not valid", name.value),
                Some("use lower-case letters, digits and `_`, starting with a letter".into()),
            );
        }
    }
}

fn check_references(draft: &Draft, inputs: &BTreeMap<String, InputSpec>, report: &mut Report) {
    // Inputs whose declaration had problems still count as declared: one mistake should
    // not produce a second diagnostic at every use.
    let declared: BTreeSet<&str> = draft.inputs.iter().map(|i| i.name.value.as_str()).collect();
    debug_assert!(inputs.keys().all(|k| declared.contains(k.as_str())));
    for site in &draft.templates {
        let segments = match parse_template(&site.text) {
            Ok(segments) => segments,
            Err(e) => {
                report.error(site.pos, e.message, Some(e.hint));
                continue;
            }
        };
        for segment in segments {
            let Segment::Input(input) = segment else {
                continue;
            };
            if let Some(owner) = &site.in_default_of {
                report.error(
                    site.pos,
                    format!("default of input `{owner}` refers to input `{input}`"),
                    Some("defaults may use `${var:KEY}` but not other inputs".into()),
                );
            } else if !declared.contains(input.as_str()) {
                let names = declared.iter().copied().collect::<Vec<_>>().join(", ");
                let guess = report
                    .wants_suggestions()
                    .then(|| closest(&input, declared.iter().copied()))
                    .flatten();
                let hint = match guess {
                    Some(guess) => format!("did you mean `{guess}`? declared inputs: {names}"),
                    None if declared.is_empty() => {
                        format!("declare it under `inputs:`, e.g. `{input}: {{ type: string }}`")
                    }
                    None => format!("declare it under `inputs:`; declared inputs: {names}"),
                };
                report.error(
                    site.pos,
                    format!("reference to undeclared input `{input}`"),
                    Some(hint),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint::fixtures::{problems, WEBSHOP};
    use crate::blueprint::parse;

    #[test]
    fn name_pattern() {
        for good in ["a", "web-shop", "a1", "0", &"x".repeat(63)] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "Web", "a_b", "a.b", "é", &"x".repeat(64)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert_eq!(suggest_name("Web_Shop!"), "web-shop");
    }

    #[test]
    fn unknown_resource_type_lists_the_known_ones() {
        let text = WEBSHOP.replace("type: kubernetes.manifest", "type: k8s.manifest");
        assert_eq!(
            problems(&text),
            vec![
                "bp.yaml:12:11: error: unknown resource type `k8s.manifest`\n  \
                  hint: did you mean `kubernetes.manifest`? known types: sim.resource, \
                  kubernetes.manifest, agent.file, agent.service, agent.command"
            ]
        );
        let text = WEBSHOP.replace("type: sim.resource", "type: terraform");
        assert_eq!(
            problems(&text),
            vec![
                "bp.yaml:9:11: error: unknown resource type `terraform`\n  \
                  hint: known types: sim.resource, kubernetes.manifest, agent.file, agent.service, \
                  agent.command"
            ]
        );
    }

    #[test]
    fn duplicate_resource_name_points_at_both() {
        let text = WEBSHOP.replace("  - name: app", "  - name: db");
        assert_eq!(
            problems(&text),
            // Only the duplicate: the second `db`'s `depends_on: [db]` is not also called a
            // cycle, since duplicates are left out of the graph.
            vec![
                "bp.yaml:11:11: error: duplicate resource name `db` (first declared at 8:11)\n  \
                  hint: resource names are unique within a blueprint: rename one of them"
            ]
        );
    }

    #[test]
    fn missing_dependency_suggests_the_closest_name() {
        let text = WEBSHOP.replace("depends_on: [db]", "depends_on: [dbb, cache]");
        assert_eq!(
            problems(&text),
            vec![
                "bp.yaml:13:18: error: `app` depends on `dbb`, which is not a resource of this \
                 blueprint\n  hint: did you mean `db`? resources: app, db",
                "bp.yaml:13:23: error: `app` depends on `cache`, which is not a resource of this \
                 blueprint\n  hint: resources: app, db",
            ]
        );
        let text = WEBSHOP.replace("depends_on: [db]", "depends_on: [db, db]");
        assert_eq!(
            problems(&text),
            vec![
                "bp.yaml:13:22: error: `db` is listed twice in `depends_on` of `app`\n  \
                  hint: remove one of them"
            ]
        );
    }

    #[test]
    fn cycles_are_spelt_out_at_their_first_edge() {
        let text = "name: loop\nresources:\n\
                    - { name: a, type: sim.resource, depends_on: [b] }\n\
                    - { name: b, type: sim.resource, depends_on: [c] }\n\
                    - { name: c, type: sim.resource, depends_on: [a] }\n\
                    - { name: d, type: sim.resource, depends_on: [d] }\n";
        assert_eq!(
            problems(text),
            vec![
                "bp.yaml:3:47: error: dependency cycle: a -> b -> c -> a\n  \
                 hint: resources cannot depend on each other in a loop: remove one of these \
                 dependencies",
                "bp.yaml:6:47: error: dependency cycle: d -> d\n  \
                 hint: resources cannot depend on each other in a loop: remove one of these \
                 dependencies",
            ]
        );
    }

    #[test]
    fn references_to_undeclared_inputs_are_caught() {
        let text = WEBSHOP.replace("${inputs.image}\",", "${inputs.imag}\",");
        assert_eq!(
            problems(&text),
            vec![
                "bp.yaml:14:26: error: reference to undeclared input `imag`\n  \
                  hint: did you mean `image`? declared inputs: db_password, image, replicas"
            ]
        );
        let text = WEBSHOP.replace(
            "url: \"https://${inputs.image}",
            "url: \"https://${inputs.host}",
        );
        assert_eq!(
            problems(&text),
            vec![
                "bp.yaml:16:8: error: reference to undeclared input `host`\n  \
                  hint: declare it under `inputs:`; declared inputs: db_password, image, replicas"
            ]
        );
    }

    #[test]
    fn malformed_references_and_input_references_in_defaults() {
        let text = WEBSHOP
            .replace("${inputs.replicas}", "${input.replicas}")
            .replace("${var:webshop/db_password}", "${inputs.image}");
        assert_eq!(
            problems(&text),
            vec![
                "bp.yaml:6:55: error: default of input `db_password` refers to input `image`\n  \
                 hint: defaults may use `${var:KEY}` but not other inputs",
                "bp.yaml:14:55: error: unknown reference `${input.replicas}`\n  \
                 hint: references are `${inputs.NAME}` and `${var:KEY}`; write `$${` for a \
                 literal `${`",
            ]
        );
    }

    #[test]
    fn input_types_and_defaults_are_checked() {
        let text = "name: x\ninputs:\n\
                    \x20 a: { type: strng }\n\
                    \x20 b: { type: number, default: \"2\" }\n\
                    \x20 c: { type: string, default: 1.2 }\n\
                    \x20 d: { type: list, default: { k: v } }\n\
                    \x20 e: { type: bool, default: \"true\" }\n\
                    \x20 f: { type: map, default: }\n\
                    \x20 g: { type: number, default: \"${var:count}\" }\n\
                    \x20 h: { type: list, default: [\"${var:x}\", 2] }\n\
                    \x20 Bad-Name: { type: string }\n\
                    resources:\n- { name: r, type: sim.resource }\n";
        assert_eq!(
            problems(text),
            vec![
                "bp.yaml:3:14: error: unknown type `strng` for input `a`\n  \
                 hint: did you mean `string`? types: string, number, bool, list, map",
                "bp.yaml:4:31: error: default of input `b` is a string, but its type is number\n  \
                 hint: write it without quotes to make it a number",
                "bp.yaml:5:31: error: default of input `c` is a number, but its type is string\n  \
                 hint: quote it to make it a string",
                "bp.yaml:6:29: error: default of input `d` is a map, but its type is list\n  \
                 hint: give a list default, or remove `default` to make the input required",
                "bp.yaml:7:29: error: default of input `e` is a string, but its type is bool\n  \
                 hint: write it without quotes to make it true or false",
                "bp.yaml:8:19: error: default of input `f` is empty, but its type is map\n  \
                 hint: give a map default, or remove `default` to make the input required",
                "bp.yaml:11:3: error: input name `Bad-Name` is not valid\n  \
                 hint: use lower-case letters, digits and `_`, starting with a letter, e.g. \
                 `db_password`",
            ]
        );
    }

    #[test]
    fn empty_and_malformed_names() {
        let text = "name: Web_Shop\nresources:\n- { name: \"\", type: sim.resource }\n\
                    - { name: My.DB, type: sim.resource }\noutputs:\n  Url: x\n";
        assert_eq!(
            problems(text),
            vec![
                "bp.yaml:1:7: error: blueprint name `Web_Shop` is not valid\n  \
                 hint: use lower-case letters, digits and `-`, starting and ending with a letter \
                 or digit, at most 63 characters, e.g. `web-shop`",
                "bp.yaml:3:11: error: resource name is empty\n  \
                 hint: give it a name of lower-case letters, digits and `-`",
                "bp.yaml:4:11: error: resource name `My.DB` is not valid\n  \
                 hint: use lower-case letters, digits and `-`, starting and ending with a letter \
                 or digit, at most 63 characters, e.g. `my-db`",
                "bp.yaml:6:3: error: output name `Url` is not valid\n  \
                 hint: use lower-case letters, digits and `_`, starting with a letter",
            ]
        );
        assert_eq!(
            problems("name:\nresources:\n- { name: r, type: sim.resource }\n"),
            vec![
                "bp.yaml:1:1: error: blueprint name is empty\n  \
                  hint: give it a name of lower-case letters, digits and `-`"
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_in_source_order() {
        let text = "name: shop\nbogus: 1\nresources:\n\
                    - { name: a, type: nope, depends_on: [b] }\n\
                    - { name: b, type: sim.resource, depends_on: [a, zz] }\n\
                    - { name: a, type: sim.resource, properties: { x: \"${inputs.q}\" } }\n";
        let all = parse("bp.yaml", text).unwrap_err();
        let at: Vec<(usize, usize, &str)> = all
            .iter()
            .map(|d| (d.line, d.column, d.message.as_str()))
            .collect();
        assert_eq!(
            at,
            vec![
                (2, 1, "unknown field `bogus` in blueprint"),
                (4, 20, "unknown resource type `nope`"),
                (4, 39, "dependency cycle: a -> b -> a"),
                (
                    5,
                    50,
                    "`b` depends on `zz`, which is not a resource of this blueprint"
                ),
                (
                    6,
                    11,
                    "duplicate resource name `a` (first declared at 4:11)"
                ),
                (6, 51, "reference to undeclared input `q`"),
            ]
        );
    }

    #[test]
    fn variable_defaults_skip_the_type_check_until_rendering() {
        let text = "name: x\ninputs:\n  n: { type: number, default: \"${var:n}\" }\n\
                    resources:\n- { name: r, type: sim.resource, properties: { n: \"${inputs.n}\" } }\n";
        assert!(parse::parse("bp.yaml", text).is_ok());
    }
}
