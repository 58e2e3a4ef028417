//! The blueprint types: a validated spec ([`BlueprintSpec`] with its inputs and resources),
//! the diagnostics parsing and validation report, and rendered resources.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::template;

/// A validated blueprint: what a revision (`name@N`) holds. Produced only by [`super::parse()`], so
/// every value of this type has passed validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueprintSpec {
    pub name: String,
    pub description: String,
    /// By input name.
    pub inputs: BTreeMap<String, InputSpec>,
    /// In declaration order; names are unique and dependencies form a DAG.
    pub resources: Vec<ResourceSpec>,
    /// By output name; values may hold references, resolved by [`render()`](super::render()).
    pub outputs: BTreeMap<String, Value>,
    /// Every string of this spec that holds a reference, already split into segments by
    /// [`parse()`](super::parse()): rendering (which runs inside replicated apply) looks references up here
    /// and never parses text, so members whose parsers differ render alike.
    #[serde(default)]
    pub templates: BTreeMap<String, Vec<template::Segment>>,
}

impl BlueprintSpec {
    /// The segments of `text`, a string of this spec: plain text as one segment, references
    /// from [`BlueprintSpec::templates`]. An error for a string with a reference that
    /// [`parse()`](super::parse()) did not record (a spec that did not come from `parse`).
    pub fn segments(&self, text: &str) -> Result<Vec<template::Segment>, String> {
        if !text.contains("${") {
            return Ok(if text.is_empty() {
                Vec::new()
            } else {
                vec![template::Segment::Text(text.to_string())]
            });
        }
        self.templates.get(text).cloned().ok_or_else(|| {
            "a reference that was not parsed when the blueprint was pushed: push it again"
                .to_string()
        })
    }

    /// Records the segments of every string holding a reference (see `templates`).
    pub(crate) fn record_templates(&mut self) {
        let mut found = BTreeMap::new();
        let mut visit = |v: &Value| collect_templates(v, &mut found);
        self.inputs
            .values()
            .filter_map(|i| i.default.as_ref())
            .for_each(&mut visit);
        self.resources.iter().for_each(|r| visit(&r.properties));
        self.outputs.values().for_each(&mut visit);
        self.templates = found;
    }
    /// Names of the inputs declared `secret: true`, sorted: callers redact their values.
    pub fn secret_inputs(&self) -> Vec<String> {
        self.inputs
            .iter()
            .filter(|(_, input)| input.secret)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// One declared input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    #[serde(rename = "type")]
    pub input_type: InputType,
    /// `None` makes the input required. May hold `${var:KEY}` references.
    pub default: Option<Value>,
    /// The value is never shown: not in errors, and callers redact it through
    /// [`RenderedResource::secret_paths`].
    pub secret: bool,
    pub description: String,
}

/// The type of an input value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Number,
    Bool,
    List,
    Map,
}

impl InputType {
    pub const ALL: [InputType; 5] = [
        InputType::String,
        InputType::Number,
        InputType::Bool,
        InputType::List,
        InputType::Map,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Bool => "bool",
            InputType::List => "list",
            InputType::Map => "map",
        }
    }

    /// Whether `value` is of this type.
    pub fn matches(self, value: &Value) -> bool {
        match self {
            InputType::String => value.is_string(),
            InputType::Number => value.is_number(),
            InputType::Bool => value.is_boolean(),
            InputType::List => value.is_array(),
            InputType::Map => value.is_object(),
        }
    }
}

impl fmt::Display for InputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InputType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        InputType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

/// One declared resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSpec {
    pub name: String,
    /// One of [`ResourceType::ALL`], as its dotted name. Stored as text (here and in
    /// everything rendered and planned from it) so a member that does not know a newer type
    /// can still read the log.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Names of resources of the same blueprint, in declaration order, without repeats.
    pub depends_on: Vec<String>,
    /// A JSON object whose strings may hold references, resolved by [`render()`](super::render()).
    pub properties: Value,
}

/// The kinds of resource a driver knows how to manage: validation accepts only these, and
/// drivers can match on them (`"agent.file".parse::<ResourceType>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    SimResource,
    KubernetesManifest,
    AgentFile,
    AgentService,
    /// Commands run by `moor-agent` (apply / delete / observe).
    AgentCommand,
}

impl ResourceType {
    pub const ALL: [ResourceType; 5] = [
        ResourceType::SimResource,
        ResourceType::KubernetesManifest,
        ResourceType::AgentFile,
        ResourceType::AgentService,
        ResourceType::AgentCommand,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::SimResource => "sim.resource",
            ResourceType::KubernetesManifest => "kubernetes.manifest",
            ResourceType::AgentFile => "agent.file",
            ResourceType::AgentService => "agent.service",
            ResourceType::AgentCommand => "agent.command",
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        ResourceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

/// One problem in a blueprint's source, at a 1-based line and column, printed like a
/// compiler error so editors and CI logs can jump to it:
///
/// ```text
/// webshop.yaml:12:11: error: unknown resource type `k8s.manifest`
///   hint: did you mean `kubernetes.manifest`? known types: sim.resource, ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub source: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.source, self.line, self.column, self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// All diagnostics, one per paragraph, for printing or for a gRPC status message.
pub fn format_diagnostics(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A blueprint with its inputs applied: what one environment should look like.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Rendered {
    /// By resource name.
    pub resources: BTreeMap<String, RenderedResource>,
    /// By output name, references resolved.
    pub outputs: BTreeMap<String, Value>,
    /// Names of the outputs whose value came (wholly or partly) from a secret input.
    pub secret_outputs: Vec<String>,
}

impl Rendered {
    /// A state from `(name, resource_type, properties, digest, depends_on)` tuples, e.g.
    /// what an environment has applied, for planning against it. Nothing is marked secret.
    pub fn from_parts(
        resources: impl IntoIterator<Item = (String, String, Value, String, Vec<String>)>,
    ) -> Rendered {
        Rendered {
            resources: resources
                .into_iter()
                .map(|(name, resource_type, properties, digest, depends_on)| {
                    let resource = RenderedResource {
                        resource_type,
                        properties,
                        digest,
                        depends_on,
                        secret_paths: Vec::new(),
                    };
                    (name, resource)
                })
                .collect(),
            outputs: BTreeMap::new(),
            secret_outputs: Vec::new(),
        }
    }

    /// A copy safe to show: every value that came from a secret input is replaced by
    /// [`REDACTED`]. Digests are kept: they are what drift is compared on.
    pub fn redacted(&self) -> Rendered {
        let mut copy = self.clone();
        for resource in copy.resources.values_mut() {
            for path in &resource.secret_paths {
                if let Some(value) = resource.properties.pointer_mut(path) {
                    *value = Value::String(REDACTED.to_string());
                }
            }
        }
        for name in &copy.secret_outputs {
            if let Some(value) = copy.outputs.get_mut(name) {
                *value = Value::String(REDACTED.to_string());
            }
        }
        copy
    }
}

/// What [`Rendered::redacted`] puts in place of a secret.
pub const REDACTED: &str = "<redacted>";

/// One resource with every reference resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderedResource {
    /// A [`ResourceType`] name, e.g. `sim.resource`.
    pub resource_type: String,
    pub properties: Value,
    /// Hex SHA-256 of the canonical JSON of type and properties: see [`digest()`].
    pub digest: String,
    pub depends_on: Vec<String>,
    /// JSON pointers (RFC 6901) into `properties` of the values that came from a secret
    /// input, so callers can redact them.
    pub secret_paths: Vec<String>,
}
fn collect_templates(value: &Value, found: &mut BTreeMap<String, Vec<template::Segment>>) {
    match value {
        Value::String(text) if text.contains("${") => {
            if let Ok(segments) = template::parse_template(text) {
                found.insert(text.clone(), segments);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_templates(v, found)),
        Value::Object(map) => map.values().for_each(|v| collect_templates(v, found)),
        _ => {}
    }
}
