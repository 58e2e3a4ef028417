//! Blueprint text → [`BlueprintSpec`], or every problem found in it.
//!
//! This file reads the shape of the document (which fields exist, what kind of value each
//! holds) into a `Draft` that keeps the position of everything a later check may point at;
//! [`super::validate`] then checks meaning (names, types, dependencies, references) and
//! builds the spec. Structural problems do not stop the walk: a misspelt field in one
//! resource must not hide a missing type in the next.

use serde_json::{Map, Number, Value};

use super::draft::{
    closest, input_type_list, resource_type_list, Draft, DraftInput, DraftResource, Report,
    TemplateSite,
};
use super::spec::{BlueprintSpec, Diagnostic};
use super::validate::validate;
use super::yaml::{self, Node, NodeKind, Pos, Spanned};

/// Larger sources are refused before parsing: a blueprint is written by hand, and the API
/// must not spend a replicated state machine's time on megabytes of YAML.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// Most resources and inputs one blueprint may declare. Far above real blueprints (tens),
/// low enough that validation and planning stay cheap inside the state machine.
pub const MAX_RESOURCES: usize = 1000;
pub const MAX_INPUTS: usize = 200;

pub use super::draft::MAX_DIAGNOSTICS;

pub(crate) const TOP_FIELDS: &[&str] = &["name", "description", "inputs", "resources", "outputs"];
pub(crate) const INPUT_FIELDS: &[&str] = &["type", "default", "secret", "description"];
pub(crate) const RESOURCE_FIELDS: &[&str] = &["name", "type", "depends_on", "properties"];

/// Parses and validates a blueprint. `source_name` (usually the file name) prefixes every
/// diagnostic. On error, the diagnostics are sorted by position.
pub fn parse(source_name: &str, yaml_text: &str) -> Result<BlueprintSpec, Vec<Diagnostic>> {
    let mut report = Report::new(source_name);
    if yaml_text.len() > MAX_SOURCE_BYTES {
        report.error(
            Pos::new(1, 1),
            format!(
                "blueprint is {} bytes, more than the limit of {MAX_SOURCE_BYTES}",
                yaml_text.len()
            ),
            Some("split it into several blueprints".into()),
        );
        return Err(report.finish());
    }
    let (root, yaml_errors) = yaml::load(yaml_text);
    for e in yaml_errors {
        report.error(e.pos, e.message, e.hint);
    }
    let Some(root) = root else {
        return Err(report.finish());
    };
    let draft = read_draft(&root, &mut report);
    let spec = validate(draft, &mut report);
    match spec {
        Some(mut spec) if report.is_empty() => {
            spec.record_templates();
            Ok(spec)
        }
        _ => Err(report.finish()),
    }
}

fn read_draft(root: &Node, report: &mut Report) -> Draft {
    let mut draft = Draft {
        name: None,
        description: String::new(),
        inputs: Vec::new(),
        resources: Vec::new(),
        outputs: Vec::new(),
        templates: Vec::new(),
    };
    for (key, value) in fields(root, TOP_FIELDS, "blueprint", report) {
        match key.value.as_str() {
            "name" => draft.name = scalar(value, "name", report),
            "description" => {
                draft.description = scalar(value, "description", report)
                    .map(|s| s.value)
                    .unwrap_or_default()
            }
            "inputs" => read_inputs(value, &mut draft, report),
            "resources" => read_resources(key.pos, value, &mut draft, report),
            "outputs" => read_outputs(value, &mut draft, report),
            // fields() only yields the known fields matched above.
            _ => {}
        }
    }
    if draft.name.is_none() && !has_key(root, "name") {
        report.error(
            root.pos,
            "blueprint has no `name`",
            Some("add `name: my-app` (lower-case letters, digits and `-`)".into()),
        );
    }
    if !has_key(root, "resources") {
        report.error(
            root.pos,
            "blueprint has no `resources`",
            Some("add `resources:` with at least one `- name: ... type: ...`".into()),
        );
    }
    draft
}

fn read_inputs(node: &Node, draft: &mut Draft, report: &mut Report) {
    if node.is_null() {
        return;
    }
    let NodeKind::Mapping(entries) = &node.kind else {
        report.error(
            node.pos,
            format!("`inputs` must be a mapping, found {}", node.kind_name()),
            Some("write `inputs:` then one `name: { type: ... }` per line".into()),
        );
        return;
    };
    if let Some((name, _)) = entries.get(MAX_INPUTS) {
        report.error(
            name.pos,
            format!(
                "blueprint declares {} inputs, more than the limit of {MAX_INPUTS}",
                entries.len()
            ),
            Some("pass structured values as `list` or `map` inputs".into()),
        );
    }
    for (name, spec) in entries.iter().take(MAX_INPUTS) {
        let mut input = DraftInput {
            name: name.clone(),
            input_type: None,
            default: None,
            secret: false,
            description: String::new(),
        };
        if !matches!(spec.kind, NodeKind::Mapping(_)) {
            report.error(
                spec.pos,
                format!(
                    "input `{}` must be a mapping, found {}",
                    name.value,
                    spec.kind_name()
                ),
                Some("write e.g. `{ type: string, default: \"x\" }`".into()),
            );
            draft.inputs.push(input);
            continue;
        }
        let what = format!("input `{}`", name.value);
        for (key, value) in fields(spec, INPUT_FIELDS, &what, report) {
            match key.value.as_str() {
                "type" => input.input_type = scalar(value, "type", report),
                "default" => {
                    let json = to_json(value, Some(&name.value), &mut draft.templates);
                    input.default = Some(Spanned {
                        value: json,
                        pos: value.pos,
                    });
                }
                "secret" => input.secret = boolean(value, "secret", report),
                "description" => {
                    input.description = scalar(value, "description", report)
                        .map(|s| s.value)
                        .unwrap_or_default()
                }
                // fields() only yields the known fields matched above.
                _ => {}
            }
        }
        if !has_key(spec, "type") {
            report.error(
                name.pos,
                format!("input `{}` has no `type`", name.value),
                Some(format!("add `type:` with one of {}", input_type_list())),
            );
        }
        draft.inputs.push(input);
    }
}

fn read_resources(key_pos: Pos, node: &Node, draft: &mut Draft, report: &mut Report) {
    let add_one = "add at least one `- name: ...` with `type:` under `resources:`";
    if node.is_null() {
        report.error(
            key_pos,
            "blueprint declares no resources",
            Some(add_one.into()),
        );
        return;
    }
    let NodeKind::Sequence(items) = &node.kind else {
        report.error(
            node.pos,
            format!("`resources` must be a list, found {}", node.kind_name()),
            Some("write one `- name: ...` item per resource".into()),
        );
        return;
    };
    if items.is_empty() {
        report.error(
            key_pos,
            "blueprint declares no resources",
            Some(add_one.into()),
        );
    }
    if let Some(extra) = items.get(MAX_RESOURCES) {
        report.error(
            extra.pos,
            format!(
                "blueprint declares {} resources, more than the limit of {MAX_RESOURCES}",
                items.len()
            ),
            Some("split it into several blueprints".into()),
        );
    }
    for item in items.iter().take(MAX_RESOURCES) {
        read_resource(item, draft, report);
    }
}

/// Reads one item of `resources:` into `draft`, unless it is not a mapping at all.
fn read_resource(item: &Node, draft: &mut Draft, report: &mut Report) {
    if !matches!(item.kind, NodeKind::Mapping(_)) {
        report.error(
            item.pos,
            format!("a resource must be a mapping, found {}", item.kind_name()),
            Some("write `- name: ...` with `type:` and `properties:` below it".into()),
        );
        return;
    }
    let mut resource = DraftResource {
        pos: item.pos,
        name: None,
        resource_type: None,
        depends_on: Vec::new(),
        properties: Value::Object(Map::new()),
    };
    // Name the resource in messages once we know its name.
    let what = match field(item, "name").and_then(|n| as_text(n)) {
        Some(name) => format!("resource `{name}`"),
        None => "resource".to_string(),
    };
    for (key, value) in fields(item, RESOURCE_FIELDS, &what, report) {
        match key.value.as_str() {
            "name" => resource.name = scalar(value, "name", report),
            "type" => resource.resource_type = scalar(value, "type", report),
            "depends_on" => resource.depends_on = names_list(value, report),
            "properties" => {
                if let Some(properties) =
                    read_properties(value, &what, &mut draft.templates, report)
                {
                    resource.properties = properties;
                }
            }
            // fields() only yields the known fields matched above.
            _ => {}
        }
    }
    if !has_key(item, "name") {
        report.error(
            item.pos,
            "resource has no `name`",
            Some("add `name:` (lower-case letters, digits and `-`)".into()),
        );
    }
    if !has_key(item, "type") {
        report.error(
            item.pos,
            format!("{what} has no `type`"),
            Some(format!("add `type:` with one of {}", resource_type_list())),
        );
    }
    draft.resources.push(resource);
}

/// The `properties` of a resource as JSON; `None` when left empty (the resource keeps no
/// properties) or not a mapping (reported).
fn read_properties(
    value: &Node,
    what: &str,
    templates: &mut Vec<TemplateSite>,
    report: &mut Report,
) -> Option<Value> {
    if value.is_null() {
        return None;
    }
    if !matches!(value.kind, NodeKind::Mapping(_)) {
        report.error(
            value.pos,
            format!(
                "`properties` of {what} must be a mapping, found {}",
                value.kind_name()
            ),
            None,
        );
        return None;
    }
    Some(to_json(value, None, templates))
}

fn read_outputs(node: &Node, draft: &mut Draft, report: &mut Report) {
    if node.is_null() {
        return;
    }
    let NodeKind::Mapping(entries) = &node.kind else {
        report.error(
            node.pos,
            format!("`outputs` must be a mapping, found {}", node.kind_name()),
            Some("write one `name: value` per line".into()),
        );
        return;
    };
    for (name, value) in entries {
        let json = to_json(value, None, &mut draft.templates);
        draft.outputs.push((name.clone(), json));
    }
}

/// The entries of a mapping whose keys are in `allowed`; reports the others.
fn fields<'n>(
    node: &'n Node,
    allowed: &[&str],
    what: &str,
    report: &mut Report,
) -> Vec<(&'n Spanned<String>, &'n Node)> {
    let NodeKind::Mapping(entries) = &node.kind else {
        return Vec::new();
    };
    let mut known = Vec::new();
    for (key, value) in entries {
        if allowed.contains(&key.value.as_str()) {
            known.push((key, value));
            continue;
        }
        let valid = allowed.join(", ");
        let hint = match closest(&key.value, allowed.iter().copied()) {
            Some(guess) => format!("did you mean `{guess}`? valid fields: {valid}"),
            None => format!("valid fields: {valid}"),
        };
        report.error(
            key.pos,
            format!("unknown field `{}` in {what}", key.value),
            Some(hint),
        );
    }
    known
}

fn field<'n>(node: &'n Node, name: &str) -> Option<&'n Node> {
    match &node.kind {
        NodeKind::Mapping(entries) => entries
            .iter()
            .find(|(k, _)| k.value == name)
            .map(|(_, v)| v),
        _ => None,
    }
}

fn has_key(node: &Node, name: &str) -> bool {
    field(node, name).is_some()
}

fn as_text(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar { text, .. } => Some(text),
        _ => None,
    }
}

/// A scalar's text; a collection is reported.
fn scalar(node: &Node, field: &str, report: &mut Report) -> Option<Spanned<String>> {
    match &node.kind {
        NodeKind::Scalar { .. } if node.is_null() => Some(Spanned {
            value: String::new(),
            pos: node.pos,
        }),
        NodeKind::Scalar { text, .. } => Some(Spanned {
            value: text.clone(),
            pos: node.pos,
        }),
        _ => {
            report.error(
                node.pos,
                format!(
                    "`{field}` must be a single value, found {}",
                    node.kind_name()
                ),
                None,
            );
            None
        }
    }
}

fn boolean(node: &Node, field: &str, report: &mut Report) -> bool {
    match scalar_to_json(node) {
        Some(Value::Bool(b)) => b,
        _ => {
            report.error(node.pos, format!("`{field}` must be true or false"), None);
            false
        }
    }
}

fn names_list(node: &Node, report: &mut Report) -> Vec<Spanned<String>> {
    if node.is_null() {
        return Vec::new();
    }
    let NodeKind::Sequence(items) = &node.kind else {
        report.error(
            node.pos,
            format!("`depends_on` must be a list, found {}", node.kind_name()),
            Some("write `depends_on: [db, cache]`".into()),
        );
        return Vec::new();
    };
    if let Some(extra) = items.get(MAX_RESOURCES) {
        report.error(
            extra.pos,
            format!(
                "`depends_on` lists {} resources, more than a blueprint may declare",
                items.len()
            ),
            None,
        );
    }
    items
        .iter()
        .take(MAX_RESOURCES)
        .filter_map(|item| match &item.kind {
            NodeKind::Scalar { text, .. } => Some(Spanned {
                value: text.clone(),
                pos: item.pos,
            }),
            _ => {
                report.error(
                    item.pos,
                    format!(
                        "`depends_on` items must be resource names, found {}",
                        item.kind_name()
                    ),
                    None,
                );
                None
            }
        })
        .collect()
}

/// A YAML node as JSON, following the YAML 1.2 core schema for plain scalars (quoted ones
/// are always strings). Strings holding `${` are recorded for reference checks.
fn to_json(node: &Node, in_default_of: Option<&str>, templates: &mut Vec<TemplateSite>) -> Value {
    match &node.kind {
        NodeKind::Scalar { text, .. } => {
            let value = scalar_to_json(node).unwrap_or_else(|| Value::String(text.clone()));
            if let Value::String(s) = &value {
                if s.contains("${") {
                    templates.push(TemplateSite {
                        text: s.clone(),
                        pos: node.pos,
                        in_default_of: in_default_of.map(str::to_string),
                    });
                }
            }
            value
        }
        NodeKind::Sequence(items) => Value::Array(
            items
                .iter()
                .map(|item| to_json(item, in_default_of, templates))
                .collect(),
        ),
        NodeKind::Mapping(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.value.clone(), to_json(v, in_default_of, templates)))
                .collect(),
        ),
    }
}

/// A plain scalar's typed value (null, bool, integer, float); `None` for text.
fn scalar_to_json(node: &Node) -> Option<Value> {
    let NodeKind::Scalar { text, plain } = &node.kind else {
        return None;
    };
    if !plain {
        return Some(Value::String(text.clone()));
    }
    if node.is_null() {
        return Some(Value::Null);
    }
    match text.as_str() {
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Value::Number(u.into()));
    }
    // Rust also parses `inf` and `NaN`, which JSON cannot hold: those stay text.
    let looks_numeric = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'));
    if looks_numeric {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Some(Value::Number(n));
        }
    }
    Some(Value::String(text.clone()))
}

#[cfg(test)]
#[path = "tests/parse_unit.rs"]
mod tests;
