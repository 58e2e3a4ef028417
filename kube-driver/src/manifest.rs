//! The manifest of a `kubernetes.manifest` resource: checked before any request is sent, then
//! stamped with what Moor needs to find the object again (labels) and to recognise a
//! re-dispatch (annotations).
//!
//! Everything that ends up in a URL path (names, namespaces, apiVersion, kind) is checked
//! here against a conservative character set, so a manifest can never steer a request to
//! another path than its own object's.

use serde_json::{Map, Value};
use thiserror::Error;

/// `app.kubernetes.io/managed-by: moor` marks every object Moor applied.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "moor";
/// The environment an object belongs to (what `observe` lists by).
pub const ENVIRONMENT_LABEL: &str = "moor.dev/environment";
/// The blueprint resource an object is (what `observe` reports it as).
pub const RESOURCE_LABEL: &str = "moor.dev/resource";
/// `<execution>/<step>` of the call that last applied the object.
pub const KEY_ANNOTATION: &str = "moor.dev/idempotency-key";
/// The desired digest of the call that last applied the object.
pub const DIGEST_ANNOTATION: &str = "moor.dev/desired-digest";
/// The fence token of the call that last applied the object (for people; not checked).
pub const FENCE_ANNOTATION: &str = "moor.dev/fence-token";
/// The manifest as last applied (compact JSON, before Moor's labels and annotations), which
/// `observe` dry-runs again to see what differs.
pub const APPLIED_ANNOTATION: &str = "moor.dev/applied";
/// The largest manifest Moor applies, in bytes of compact JSON: it is recorded in
/// [`APPLIED_ANNOTATION`], and Kubernetes caps all of an object's annotations together at
/// 256 KiB, so half of that is left for everyone else's.
pub const APPLIED_MAX_BYTES: usize = 128 * 1024;

/// Why a manifest (or a name that goes into a label or a path) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestError {
    #[error("manifest is not valid YAML or JSON: {0}")]
    Syntax(String),
    #[error("manifest must be a Kubernetes object (a mapping), found {0}")]
    NotAnObject(&'static str),
    #[error("manifest has no {0} (a non-empty string is required)")]
    Missing(&'static str),
    #[error("manifest {field} {value:?} is not valid: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(
        "manifest is {bytes} bytes as compact JSON; Moor records the applied manifest in the \
         {APPLIED_ANNOTATION} annotation and accepts at most {APPLIED_MAX_BYTES} bytes"
    )]
    TooLarge { bytes: usize },
    #[error("{what} {value:?} cannot be a Kubernetes label value: {reason}")]
    Label {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// An object's type as a manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeRef {
    /// `v1` for the core group, `<group>/<version>` otherwise.
    pub api_version: String,
    pub kind: String,
}

impl TypeRef {
    pub fn new(api_version: &str, kind: &str) -> TypeRef {
        TypeRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.api_version, self.kind)
    }
}

/// A checked manifest: a mapping with apiVersion, kind and metadata.name that are safe to
/// put in a URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    object: Map<String, Value>,
    type_ref: TypeRef,
    name: String,
    namespace: Option<String>,
}

/// What Moor writes onto an object besides the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub environment: String,
    pub resource: String,
    pub key: String,
    pub desired_digest: String,
    pub fence_token: String,
}

impl Manifest {
    /// Parses a manifest from YAML or JSON text (one document).
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let value: Value =
            serde_yaml_ng::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        Manifest::from_value(value)
    }

    /// Checks a manifest given as a JSON value.
    pub fn from_value(value: Value) -> Result<Manifest, ManifestError> {
        let object = match value {
            Value::Object(object) => object,
            other => return Err(ManifestError::NotAnObject(json_type(&other))),
        };
        let api_version = required(&object, "apiVersion", "apiVersion")?;
        check_api_version(&api_version)?;
        let kind = required(&object, "kind", "kind")?;
        if !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid("kind", &kind, "only letters and digits"));
        }
        let metadata = match object.get("metadata") {
            Some(Value::Object(metadata)) => metadata,
            _ => return Err(ManifestError::Missing("metadata.name")),
        };
        let name = required(metadata, "name", "metadata.name")?;
        check_path_segment("metadata.name", &name)?;
        let namespace = match metadata.get("namespace") {
            None | Some(Value::Null) => None,
            Some(Value::String(ns)) => {
                check_namespace("metadata.namespace", ns)?;
                Some(ns.clone())
            }
            Some(other) => {
                return Err(invalid(
                    "metadata.namespace",
                    &other.to_string(),
                    "must be a string",
                ))
            }
        };
        let manifest = Manifest {
            type_ref: TypeRef { api_version, kind },
            name,
            namespace,
            object,
        };
        let bytes = manifest.recorded_json().len();
        if bytes > APPLIED_MAX_BYTES {
            return Err(ManifestError::TooLarge { bytes });
        }
        Ok(manifest)
    }

    pub fn type_ref(&self) -> &TypeRef {
        &self.type_ref
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace the manifest sets, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The same manifest placed in `namespace` (or made cluster-scoped with `None`).
    pub(crate) fn placed(&self, namespace: Option<&str>) -> Manifest {
        let mut placed = self.clone();
        if let Some(Value::Object(metadata)) = placed.object.get_mut("metadata") {
            match namespace {
                Some(ns) => {
                    metadata.insert("namespace".into(), Value::String(ns.to_string()));
                }
                None => {
                    metadata.remove("namespace");
                }
            }
        }
        placed.namespace = namespace.map(str::to_string);
        placed
    }

    /// The manifest as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.object.clone())
    }

    /// Compact JSON of the manifest, as recorded in [`APPLIED_ANNOTATION`].
    pub(crate) fn recorded_json(&self) -> String {
        self.to_value().to_string()
    }

    /// The object Moor applies: the manifest with Moor's labels and annotations.
    pub(crate) fn stamped(&self, stamp: &Stamp) -> Value {
        let applied = self.recorded_json();
        let mut object = self.object.clone();
        let metadata = object
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(metadata) = metadata {
            let labels = [
                (MANAGED_BY_LABEL, MANAGED_BY_VALUE.to_string()),
                (ENVIRONMENT_LABEL, stamp.environment.clone()),
                (RESOURCE_LABEL, stamp.resource.clone()),
            ];
            insert_strings(metadata, "labels", labels);
            let annotations = [
                (KEY_ANNOTATION, stamp.key.clone()),
                (DIGEST_ANNOTATION, stamp.desired_digest.clone()),
                (FENCE_ANNOTATION, stamp.fence_token.clone()),
                (APPLIED_ANNOTATION, applied),
            ];
            insert_strings(metadata, "annotations", annotations);
        }
        Value::Object(object)
    }
}

fn insert_strings<const N: usize>(
    metadata: &mut Map<String, Value>,
    field: &str,
    entries: [(&str, String); N],
) {
    let map = metadata
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if !map.is_object() {
        *map = Value::Object(Map::new());
    }
    if let Value::Object(map) = map {
        for (key, value) in entries {
            map.insert(key.to_string(), Value::String(value));
        }
    }
}

fn required(
    object: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<String, ManifestError> {
    match object.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ManifestError::Missing(field)),
    }
}

fn invalid(field: &'static str, value: &str, reason: &'static str) -> ManifestError {
    ManifestError::Invalid {
        field,
        value: value.to_string(),
        reason,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn check_api_version(value: &str) -> Result<(), ManifestError> {
    let parts: Vec<&str> = value.split('/').collect();
    let well_formed = parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        });
    if well_formed {
        Ok(())
    } else {
        Err(invalid(
            "apiVersion",
            value,
            "expected `v1` or `<group>/<version>`",
        ))
    }
}

/// A name that goes into a URL path: Kubernetes' object names (DNS subdomains, plus `:`
/// which RBAC names use), never `.` or `..`.
pub(crate) fn check_path_segment(field: &'static str, value: &str) -> Result<(), ManifestError> {
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if value.is_empty() || value.len() > 253 || !allowed || value == "." || value == ".." {
        return Err(invalid(
            field,
            value,
            "at most 253 letters, digits, `-`, `.`, `_` or `:`",
        ));
    }
    Ok(())
}

/// A namespace name: a DNS label (lower-case letters, digits and `-`, at most 63).
pub(crate) fn check_namespace(field: &'static str, value: &str) -> Result<(), ManifestError> {
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if value.is_empty() || value.len() > 63 || !allowed || value.starts_with('-') {
        return Err(invalid(
            field,
            value,
            "a namespace is at most 63 lower-case letters, digits or `-`, not starting with `-`",
        ));
    }
    Ok(())
}

/// A label value: at most 63 characters, letters, digits, `-`, `_`, `.`, starting and
/// ending with a letter or digit.
pub(crate) fn check_label_value(what: &'static str, value: &str) -> Result<(), ManifestError> {
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if value.is_empty()
        || value.len() > 63
        || !allowed
        || !ends_ok(value.chars().next())
        || !ends_ok(value.chars().last())
    {
        return Err(ManifestError::Label {
            what,
            value: value.to_string(),
            reason: "at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a \
                     letter or digit",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"replicas": 2}})
    }

    #[test]
    fn a_well_formed_manifest_is_accepted_from_yaml_or_json() {
        let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  replicas: 2\n";
        let from_yaml = Manifest::parse(yaml).unwrap();
        let from_value = Manifest::from_value(deployment()).unwrap();
        assert_eq!(from_yaml, from_value);
        assert_eq!(from_yaml.type_ref(), &TypeRef::new("apps/v1", "Deployment"));
        assert_eq!(from_yaml.name(), "web");
        assert_eq!(from_yaml.namespace(), None);
    }

    #[test]
    fn malformed_manifests_are_refused_with_the_reason() {
        let cases = [
            (
                json!([1, 2]),
                "must be a Kubernetes object (a mapping), found a list",
            ),
            (
                json!({"kind": "Deployment", "metadata": {"name": "w"}}),
                "no apiVersion",
            ),
            (
                json!({"apiVersion": "v1", "metadata": {"name": "w"}}),
                "no kind",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap"}),
                "no metadata.name",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ""}}),
                "no metadata.name",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "../x"}}),
                "metadata.name \"../x\" is not valid",
            ),
            (
                json!({"apiVersion": "a/b/c", "kind": "X", "metadata": {"name": "x"}}),
                "apiVersion \"a/b/c\" is not valid",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "x", "namespace": "Bad_NS"}}),
                "metadata.namespace \"Bad_NS\" is not valid",
            ),
        ];
        for (value, expected) in cases {
            let err = Manifest::from_value(value.clone()).unwrap_err().to_string();
            assert!(err.contains(expected), "{value}: {err}");
        }
        let err = Manifest::parse("kind: [unclosed").unwrap_err().to_string();
        assert!(
            err.starts_with("manifest is not valid YAML or JSON"),
            "{err}"
        );
    }

    #[test]
    fn a_manifest_too_big_for_its_annotation_is_refused() {
        let mut big = deployment();
        big["data"] = json!("x".repeat(APPLIED_MAX_BYTES));
        let err = Manifest::from_value(big).unwrap_err();
        assert!(matches!(err, ManifestError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn stamping_adds_labels_and_annotations_and_records_the_unstamped_manifest() {
        let manifest = Manifest::from_value(deployment())
            .unwrap()
            .placed(Some("moor-prod"));
        let stamp = Stamp {
            environment: "prod".into(),
            resource: "web".into(),
            key: "e1/3".into(),
            desired_digest: "sha256:abc".into(),
            fence_token: "7".into(),
        };
        let object = manifest.stamped(&stamp);
        let meta = &object["metadata"];
        assert_eq!(meta["namespace"], "moor-prod");
        assert_eq!(meta["labels"]["app"], "web");
        assert_eq!(meta["labels"][MANAGED_BY_LABEL], "moor");
        assert_eq!(meta["labels"][ENVIRONMENT_LABEL], "prod");
        assert_eq!(meta["labels"][RESOURCE_LABEL], "web");
        assert_eq!(meta["annotations"][KEY_ANNOTATION], "e1/3");
        assert_eq!(meta["annotations"][DIGEST_ANNOTATION], "sha256:abc");
        assert_eq!(meta["annotations"][FENCE_ANNOTATION], "7");
        let recorded: Value =
            serde_json::from_str(meta["annotations"][APPLIED_ANNOTATION].as_str().unwrap())
                .unwrap();
        assert_eq!(recorded["metadata"]["namespace"], "moor-prod");
        assert!(recorded["metadata"].get("annotations").is_none());
    }

    #[test]
    fn label_values_are_checked() {
        assert!(check_label_value("environment", "prod-eu.1").is_ok());
        assert!(check_label_value("environment", "-prod").is_err());
        assert!(check_label_value("environment", &"a".repeat(64)).is_err());
        assert!(check_label_value("environment", "a/b").is_err());
    }
}
