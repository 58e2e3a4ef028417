//! Blueprint + inputs + variables → [`Rendered`]: the exact resources one environment
//! should have, each with a digest that drift detection and planning compare.
//!
//! Rules:
//! - every declared input gets the caller's value or its default; a missing required input,
//!   an input of the wrong type and an input the blueprint does not declare are errors;
//! - a string that is exactly one reference takes the referenced value with its type
//!   (`replicas: "${inputs.replicas}"` renders as the number 2); references inside longer
//!   strings are interpolated as text (lists and maps as compact JSON);
//! - `${var:KEY}` is looked up through the caller's closure, so this stays pure: the caller
//!   reads the key/value namespace at the revision it is applying. A default that is exactly
//!   one variable reference is parsed as JSON when the input is not a string
//!   (`"3"` → 3, `"true"` → true);
//! - values supplied by the caller are taken literally: references in them are not resolved;
//! - secret values never appear in an error, and every value that came from a secret input
//!   is listed ([`RenderedResource::secret_paths`], [`Rendered::secret_outputs`]) so callers
//!   can redact it.
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

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::draft::closest;
use super::spec::{BlueprintSpec, InputType, Rendered, RenderedResource};
use super::template::Segment;
use super::validate::value_kind;

/// Why a blueprint could not be rendered; each message names the input or variable and
/// what to do, and never holds a value (it may be a secret). [`render()`] returns them as
/// text, ready for an operator.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RenderError {
    #[error(
        "input `{input}` is required (type {input_type}) and has no default: pass a value for it"
    )]
    MissingInput {
        input: String,
        input_type: InputType,
    },
    #[error("unknown input `{input}`: {advice}")]
    UnknownInput { input: String, advice: String },
    #[error("input `{input}` must be a {expected}, got {found}: pass a {expected}")]
    WrongType {
        input: String,
        expected: InputType,
        found: &'static str,
    },
    #[error("variable `{key}` is not set (used by {used_by}): set it in the key/value namespace{or_else}")]
    MissingVariable {
        key: String,
        used_by: String,
        or_else: String,
    },
    #[error("variable `{key}` (default of input `{input}`) does not hold a {expected} written as JSON: set it to one, or pass input `{input}`")]
    BadVariable {
        key: String,
        input: String,
        expected: InputType,
    },
    /// Only for a spec that did not come from [`parse`](super::parse()): a bug upstream.
    #[error("malformed reference in {used_by}: {message}")]
    BadReference { used_by: String, message: String },
}

/// Renders `spec` for one environment. `inputs` are the caller's values by input name;
/// `lookup_var` reads a variable of the key/value namespace. On error, every problem found,
/// one message each (see [`RenderError`]).
pub fn render(
    spec: &BlueprintSpec,
    inputs: &BTreeMap<String, Value>,
    lookup_var: &dyn Fn(&str) -> Option<String>,
) -> Result<Rendered, Vec<String>> {
    render_checked(spec, inputs, lookup_var)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

fn render_checked(
    spec: &BlueprintSpec,
    inputs: &BTreeMap<String, Value>,
    lookup_var: &dyn Fn(&str) -> Option<String>,
) -> Result<Rendered, Vec<RenderError>> {
    let values = input_values(spec, inputs, lookup_var)?;
    let context = Context {
        spec,
        values: &values,
        lookup_var,
    };
    let mut errors = Errors::default();
    let mut rendered = Rendered::default();
    for resource in &spec.resources {
        let used_by = format!("resource `{}`", resource.name);
        let mut secret_paths = Vec::new();
        let properties = context.resolve(
            &resource.properties,
            &mut String::new(),
            &used_by,
            &mut secret_paths,
            &mut errors,
        );
        rendered.resources.insert(
            resource.name.clone(),
            RenderedResource {
                resource_type: resource.resource_type.clone(),
                digest: digest(&resource.resource_type, &properties),
                properties,
                depends_on: resource.depends_on.clone(),
                secret_paths,
            },
        );
    }
    for (name, value) in &spec.outputs {
        let used_by = format!("output `{name}`");
        let mut secret_paths = Vec::new();
        let value = context.resolve(
            value,
            &mut String::new(),
            &used_by,
            &mut secret_paths,
            &mut errors,
        );
        if !secret_paths.is_empty() {
            rendered.secret_outputs.push(name.clone());
        }
        rendered.outputs.insert(name.clone(), value);
    }
    if !errors.0.is_empty() {
        return Err(errors.0);
    }
    Ok(rendered)
}

/// The value of every declared input, by name: the caller's, else the default. Resources
/// are rendered only when all inputs are sound, so one bad input is reported once rather
/// than at every place it is used.
fn input_values<'a>(
    spec: &'a BlueprintSpec,
    inputs: &BTreeMap<String, Value>,
    lookup_var: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<&'a str, Value>, Vec<RenderError>> {
    let mut errors = Errors::default();
    for input in inputs.keys() {
        if !spec.inputs.contains_key(input) {
            errors.push(unknown_input(spec, input));
        }
    }
    let mut values: BTreeMap<&str, Value> = BTreeMap::new();
    for (name, input) in &spec.inputs {
        let value = match (inputs.get(name), &input.default) {
            (Some(value), _) => value.clone(),
            (None, Some(default)) => {
                match resolve_default(spec, name, input.input_type, default, lookup_var) {
                    Ok(value) => value,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
            (None, None) => {
                errors.push(RenderError::MissingInput {
                    input: name.clone(),
                    input_type: input.input_type,
                });
                continue;
            }
        };
        if !input.input_type.matches(&value) {
            errors.push(RenderError::WrongType {
                input: name.clone(),
                expected: input.input_type,
                found: value_kind(&value),
            });
            continue;
        }
        values.insert(name, value);
    }
    if !errors.0.is_empty() {
        return Err(errors.0);
    }
    Ok(values)
}

/// Errors without repeats: a variable used in ten places is reported once per user.
#[derive(Default)]
struct Errors(Vec<RenderError>);

impl Errors {
    fn push(&mut self, error: RenderError) {
        if !self.0.contains(&error) {
            self.0.push(error);
        }
    }
}

fn unknown_input(spec: &BlueprintSpec, input: &str) -> RenderError {
    let takes = if spec.inputs.is_empty() {
        format!("blueprint `{}` takes no inputs", spec.name)
    } else {
        let names: Vec<&str> = spec.inputs.keys().map(String::as_str).collect();
        format!("blueprint `{}` takes {}", spec.name, names.join(", "))
    };
    let advice = match closest(input, spec.inputs.keys().map(String::as_str)) {
        Some(guess) => format!("did you mean `{guess}`? {takes}"),
        None => format!("remove it; {takes}"),
    };
    RenderError::UnknownInput {
        input: input.to_string(),
        advice,
    }
}

/// A default with its variables resolved.
fn resolve_default(
    spec: &BlueprintSpec,
    input: &str,
    input_type: InputType,
    default: &Value,
    lookup_var: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, RenderError> {
    let used_by = format!("default of input `{input}`");
    let or_else = format!(", or pass input `{input}`");
    let missing = |key: &str| RenderError::MissingVariable {
        key: key.to_string(),
        used_by: used_by.clone(),
        or_else: or_else.clone(),
    };
    if let Value::String(text) = default {
        if let Ok([Segment::Var(key)]) = spec.segments(text).as_deref() {
            let raw = lookup_var(key).ok_or_else(|| missing(key))?;
            if input_type == InputType::String {
                return Ok(Value::String(raw));
            }
            return serde_json::from_str::<Value>(&raw)
                .ok()
                .filter(|v| input_type.matches(v))
                .ok_or_else(|| RenderError::BadVariable {
                    key: key.clone(),
                    input: input.to_string(),
                    expected: input_type,
                });
        }
    }
    // Variables inside longer strings (or inside lists and maps) are text.
    let mut first_error = None;
    let value = map_strings(default, &mut |text| {
        let segments = match spec.segments(text) {
            Ok(segments) => segments,
            Err(message) => {
                first_error.get_or_insert(RenderError::BadReference {
                    used_by: used_by.clone(),
                    message,
                });
                return Value::String(text.to_string());
            }
        };
        let mut out = String::new();
        for segment in segments {
            match segment {
                Segment::Text(t) => out.push_str(&t),
                Segment::Var(key) => match lookup_var(&key) {
                    Some(v) => out.push_str(&v),
                    None => {
                        first_error.get_or_insert(missing(&key));
                    }
                },
                Segment::Input(other) => {
                    first_error.get_or_insert(RenderError::BadReference {
                        used_by: used_by.clone(),
                        message: format!("defaults cannot refer to input `{other}`"),
                    });
                }
            }
        }
        Value::String(out)
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok(value),
    }
}

fn map_strings(value: &Value, f: &mut dyn FnMut(&str) -> Value) -> Value {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => Value::Array(items.iter().map(|v| map_strings(v, f)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), map_strings(v, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

struct Context<'a> {
    spec: &'a BlueprintSpec,
    values: &'a BTreeMap<&'a str, Value>,
    lookup_var: &'a dyn Fn(&str) -> Option<String>,
}

impl Context<'_> {
    /// `value` with references resolved. `path` is the JSON pointer of `value`; the paths
    /// of values taken from secret inputs are pushed to `secret_paths`.
    fn resolve(
        &self,
        value: &Value,
        path: &mut String,
        used_by: &str,
        secret_paths: &mut Vec<String>,
        errors: &mut Errors,
    ) -> Value {
        match value {
            Value::String(text) => self.resolve_string(text, path, used_by, secret_paths, errors),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let len = path.len();
                        let _ = write!(path, "/{i}");
                        let resolved = self.resolve(item, path, used_by, secret_paths, errors);
                        path.truncate(len);
                        resolved
                    })
                    .collect(),
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    let len = path.len();
                    path.push('/');
                    // RFC 6901: `~` and `/` inside a key are escaped.
                    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    let resolved = self.resolve(item, path, used_by, secret_paths, errors);
                    path.truncate(len);
                    out.insert(key.clone(), resolved);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    fn resolve_string(
        &self,
        text: &str,
        path: &str,
        used_by: &str,
        secret_paths: &mut Vec<String>,
        errors: &mut Errors,
    ) -> Value {
        if !text.contains("${") {
            return Value::String(text.to_string());
        }
        let segments = match self.spec.segments(text) {
            Ok(segments) => segments,
            Err(message) => {
                errors.push(RenderError::BadReference {
                    used_by: used_by.to_string(),
                    message,
                });
                return Value::Null;
            }
        };
        let mut secret = false;
        let mut resolved = Vec::with_capacity(segments.len());
        for segment in &segments {
            let value = match segment {
                Segment::Text(t) => Value::String(t.clone()),
                Segment::Input(name) => {
                    let Some(value) = self.values.get(name.as_str()) else {
                        errors.push(RenderError::BadReference {
                            used_by: used_by.to_string(),
                            message: format!("input `{name}` is not declared"),
                        });
                        return Value::Null;
                    };
                    secret |= self.spec.inputs.get(name).is_some_and(|i| i.secret);
                    value.clone()
                }
                Segment::Var(key) => match (self.lookup_var)(key) {
                    Some(v) => Value::String(v),
                    None => {
                        errors.push(RenderError::MissingVariable {
                            key: key.clone(),
                            used_by: used_by.to_string(),
                            or_else: String::new(),
                        });
                        return Value::Null;
                    }
                },
            };
            resolved.push(value);
        }
        if secret {
            secret_paths.push(path.to_string());
        }
        // Exactly one reference keeps the referenced value's type.
        if let [single] = segments.as_slice() {
            if !matches!(single, Segment::Text(_)) {
                if let Some(value) = resolved.pop() {
                    return value;
                }
            }
        }
        let mut out = String::new();
        for value in resolved {
            match value {
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            }
        }
        Value::String(out)
    }
}

/// Hex SHA-256 of the canonical JSON of `{"properties": ..., "type": ...}`: object keys
/// sorted, no spaces. The key order of the source does not change the digest, so the same
/// declaration always has the same digest on every member and across versions of
/// `serde_json` (whose map order depends on a cargo feature).
pub fn digest(resource_type: &str, properties: &Value) -> String {
    let mut canonical = String::new();
    canonical.push_str("{\"properties\":");
    write_canonical(properties, &mut canonical);
    canonical.push_str(",\"type\":");
    write_canonical(&Value::String(resource_type.to_string()), &mut canonical);
    canonical.push('}');
    let hash = Sha256::digest(canonical.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in hash {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Canonical JSON: keys sorted by their UTF-8 bytes, no whitespace, serde_json's escaping
/// and number formatting.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint::fixtures::WEBSHOP;
    use crate::blueprint::parse;
    use crate::blueprint::REDACTED;
    use serde_json::json;

    fn inputs(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn vars(key: &str) -> Option<String> {
        match key {
            "webshop/db_password" => Some("s3cret-from-kv".into()),
            "count" => Some("3".into()),
            "not-json" => Some("three".into()),
            "region" => Some("eu-west".into()),
            _ => None,
        }
    }

    fn messages(errors: Vec<String>) -> Vec<String> {
        errors
    }

    #[test]
    fn defaults_types_and_interpolation() {
        let spec = parse("webshop.yaml", WEBSHOP).unwrap();
        let rendered = render(&spec, &inputs(&[("image", json!("shop"))]), &vars).unwrap();
        let app = &rendered.resources["app"];
        // A whole reference keeps the input's type: 2 stays a number.
        assert_eq!(app.properties, json!({ "image": "shop", "replicas": 2 }));
        assert_eq!(app.resource_type, "kubernetes.manifest");
        assert_eq!(app.depends_on, vec!["db".to_string()]);
        assert_eq!(
            rendered.resources["db"].properties,
            json!({ "engine": "postgres", "password": "s3cret-from-kv" })
        );
        assert_eq!(rendered.outputs["url"], json!("https://shop.example"));
        assert_eq!(app.digest, digest("kubernetes.manifest", &app.properties));
        // A given value wins over the default.
        let rendered = render(
            &spec,
            &inputs(&[("image", json!("shop")), ("replicas", json!(5))]),
            &vars,
        )
        .unwrap();
        assert_eq!(rendered.resources["app"].properties["replicas"], json!(5));
    }

    #[test]
    fn non_text_values_interpolate_as_json_and_double_dollar_is_literal() {
        let spec = parse(
            "t.yaml",
            "name: t\ninputs:\n  n: { type: number, default: 3 }\n  b: { type: bool, default: true }\n  \
             l: { type: list, default: [1, \"a\"] }\n  m: { type: map, default: { k: v } }\n\
             resources:\n- name: r\n  type: agent.file\n  properties:\n    \
             text: \"n=${inputs.n} b=${inputs.b} l=${inputs.l} m=${inputs.m}\"\n    \
             script: \"echo $${HOME} ${var:region}\"\n    list: \"${inputs.l}\"\n    nested: [\"${inputs.m}\"]\n",
        )
        .unwrap();
        let r = render(&spec, &BTreeMap::new(), &vars).unwrap();
        assert_eq!(
            r.resources["r"].properties,
            json!({
                "text": "n=3 b=true l=[1,\"a\"] m={\"k\":\"v\"}",
                "script": "echo ${HOME} eu-west",
                "list": [1, "a"],
                "nested": [{ "k": "v" }],
            })
        );
    }

    #[test]
    fn missing_wrong_and_unknown_inputs_are_all_reported() {
        let spec = parse("webshop.yaml", WEBSHOP).unwrap();
        let errors = render(
            &spec,
            &inputs(&[
                ("replicas", json!("2")),
                ("imgae", json!("x")),
                ("zzz", json!(1)),
            ]),
            &vars,
        )
        .unwrap_err();
        assert_eq!(
            messages(errors),
            vec![
                "unknown input `imgae`: did you mean `image`? blueprint `webshop` takes \
                 db_password, image, replicas",
                "unknown input `zzz`: remove it; blueprint `webshop` takes db_password, image, \
                 replicas",
                "input `image` is required (type string) and has no default: pass a value for it",
                "input `replicas` must be a number, got a string: pass a number",
            ]
        );
    }

    #[test]
    fn secrets_never_appear_in_errors_and_are_listed_for_redaction() {
        let spec = parse("webshop.yaml", WEBSHOP).unwrap();
        let errors = render(
            &spec,
            &inputs(&[
                ("image", json!("shop")),
                ("db_password", json!(["hunter2"])),
            ]),
            &vars,
        )
        .unwrap_err();
        let text = messages(errors).join("\n");
        assert_eq!(
            text,
            "input `db_password` must be a string, got a list: pass a string"
        );
        assert!(!text.contains("hunter2"));

        let with_secret_output = WEBSHOP.replace(
            "outputs:\n",
            "outputs:\n  dsn: \"postgres://app:${inputs.db_password}@db\"\n",
        );
        let spec = parse("webshop.yaml", &with_secret_output).unwrap();
        let rendered = render(
            &spec,
            &inputs(&[("image", json!("shop")), ("db_password", json!("hunter2"))]),
            &vars,
        )
        .unwrap();
        assert_eq!(
            rendered.resources["db"].secret_paths,
            vec!["/password".to_string()]
        );
        assert_eq!(rendered.resources["app"].secret_paths, Vec::<String>::new());
        assert_eq!(rendered.secret_outputs, vec!["dsn".to_string()]);
        let shown = rendered.redacted();
        assert_eq!(
            shown.resources["db"].properties["password"],
            json!(REDACTED)
        );
        assert_eq!(shown.outputs["dsn"], json!(REDACTED));
        assert_eq!(shown.outputs["url"], json!("https://shop.example"));
        // Digests are of the real values: redaction must not look like drift.
        assert_eq!(
            shown.resources["db"].digest,
            rendered.resources["db"].digest
        );
        assert!(!format!("{shown:?}").contains("hunter2"));
    }

    #[test]
    fn variables_resolve_through_the_lookup() {
        let spec = parse(
            "t.yaml",
            "name: t\ninputs:\n  count: { type: number, default: \"${var:count}\" }\n  \
             bad: { type: number, default: \"${var:not-json}\" }\n  \
             host: { type: string, default: \"db.${var:region}.internal\" }\n\
             resources:\n- name: r\n  type: sim.resource\n  properties:\n    \
             count: \"${inputs.count}\"\n    host: \"${inputs.host}\"\n    direct: \"${var:region}\"\n",
        )
        .unwrap();
        let errors = render(&spec, &BTreeMap::new(), &vars).unwrap_err();
        assert_eq!(
            messages(errors),
            vec![
                "variable `not-json` (default of input `bad`) does not hold a number written as \
                  JSON: set it to one, or pass input `bad`"
            ]
        );
        let r = render(&spec, &inputs(&[("bad", json!(1))]), &vars).unwrap();
        assert_eq!(
            r.resources["r"].properties,
            json!({ "count": 3, "host": "db.eu-west.internal", "direct": "eu-west" })
        );
        // Unset variables name the variable, the user and what to do.
        let errors = render(&spec, &inputs(&[("bad", json!(1))]), &|_| None).unwrap_err();
        assert_eq!(
            messages(errors),
            vec![
                "variable `count` is not set (used by default of input `count`): set it in the \
                 key/value namespace, or pass input `count`",
                "variable `region` is not set (used by default of input `host`): set it in the \
                 key/value namespace, or pass input `host`",
            ]
        );
        let errors = render(
            &spec,
            &inputs(&[("bad", json!(1)), ("count", json!(1)), ("host", json!("h"))]),
            &|_| None,
        )
        .unwrap_err();
        assert_eq!(
            messages(errors),
            vec![
                "variable `region` is not set (used by resource `r`): set it in the key/value \
                  namespace"
            ]
        );
    }

    #[test]
    fn digest_is_canonical_and_pinned() {
        // Pinned: changing the canonical form changes every stored digest and would show
        // every environment as drifted.
        let properties = json!({ "b": [true, null, "x"], "a": 1 });
        assert_eq!(
            canonical_json(&properties),
            r#"{"a":1,"b":[true,null,"x"]}"#
        );
        assert_eq!(
            digest("sim.resource", &properties),
            "4fc2abbc3c08352155b7a508cc7abd44bcc66126507fe260a23dacf82daa42ce"
        );
        // The key order of the source does not matter; the type does.
        let one = parse(
            "a.yaml",
            "name: t\nresources:\n- { name: r, type: sim.resource, properties: { x: 1, y: { p: 1, q: 2 } } }\n",
        )
        .unwrap();
        let two = parse(
            "b.yaml",
            "name: t\nresources:\n- { properties: { y: { q: 2, p: 1 }, x: 1 }, type: sim.resource, name: r }\n",
        )
        .unwrap();
        let none = BTreeMap::new();
        let d1 = render(&one, &none, &|_| None).unwrap().resources["r"]
            .digest
            .clone();
        let d2 = render(&two, &none, &|_| None).unwrap().resources["r"]
            .digest
            .clone();
        assert_eq!(d1, d2);
        assert_eq!(d1.len(), 64);
        let props = json!({ "x": 1 });
        assert_ne!(digest("sim.resource", &props), digest("agent.file", &props));
        assert_ne!(
            digest("sim.resource", &json!({ "x": 1 })),
            digest("sim.resource", &json!({ "x": "1" }))
        );
    }
}
