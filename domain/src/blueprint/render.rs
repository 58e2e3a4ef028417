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
use crate::sealed;

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
        // A sealed value's type was checked by the member that sealed it.
        if !input.input_type.matches(&value) && !is_sealed(&value) {
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

/// Whether `value` is one sealed secret (see [`crate::sealed`]).
fn is_sealed(value: &Value) -> bool {
    value.as_str().and_then(sealed::whole).is_some()
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
            if input_type == InputType::String || sealed::whole(&raw).is_some() {
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
                    secret |= sealed::in_value(value);
                    value.clone()
                }
                Segment::Var(key) => match (self.lookup_var)(key) {
                    Some(v) => {
                        secret |= sealed::contains(&v);
                        Value::String(v)
                    }
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
/// `serde_json` (whose map order depends on a cargo feature). A sealed secret counts by its
/// fingerprint only ([`sealed::for_digest`]): re-sealing it under a new key or nonce leaves
/// the digest as it was, and strings without a token hash as they always did.
pub fn digest(resource_type: &str, properties: &Value) -> String {
    let mut canonical = String::new();
    canonical.push_str("{\"properties\":");
    write_canonical_as(properties, &mut canonical, Strings::SealedByFingerprint);
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

/// How [`write_canonical_as`] writes strings.
#[derive(Clone, Copy)]
enum Strings {
    AsTheyAre,
    SealedByFingerprint,
}

fn write_canonical(value: &Value, out: &mut String) {
    write_canonical_as(value, out, Strings::AsTheyAre)
}

fn write_canonical_as(value: &Value, out: &mut String, strings: Strings) {
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
                write_canonical_as(item, out, strings);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical_as(item, out, strings);
            }
            out.push(']');
        }
        Value::String(text) => match strings {
            Strings::SealedByFingerprint if text.contains(sealed::PREFIX) => {
                out.push_str(&Value::String(sealed::for_digest(text).into_owned()).to_string())
            }
            _ => out.push_str(&value.to_string()),
        },
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
#[path = "tests/render_unit.rs"]
mod tests;
