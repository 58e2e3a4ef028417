//! Field-by-field comparison of two Kubernetes objects, for drift: which fields a
//! server-side apply of the desired manifest would change in the live object.
//!
//! Both sides come from the API server (the live object, and the dry-run result of applying
//! the recorded manifest to it), so defaults and canonical forms (`1000m` vs `1`) are the
//! server's on both sides and compare equal. Fields the server changes on every write
//! (resourceVersion, generation, managedFields' timestamps) and `status` are not compared.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The prefix of the digest of a drifted object.
pub const DRIFT_DIGEST_PREFIX: &str = "k8s-drift-sha256:";

const NOT_COMPARED: &[&str] = &[
    "/status",
    "/metadata/resourceVersion",
    "/metadata/generation",
    "/metadata/managedFields",
    "/metadata/creationTimestamp",
    "/metadata/uid",
    "/metadata/selfLink",
];

/// One field that differs, as a JSON pointer (RFC 6901) with both values; `None` where a
/// side does not have the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    pub pointer: String,
    pub desired: Option<Value>,
    pub live: Option<Value>,
}

/// The fields of `live` that `desired` would change, in pointer order. Lists of different
/// lengths differ as a whole.
pub(crate) fn diff(desired: &Value, live: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    walk(String::new(), Some(desired), Some(live), &mut out);
    out
}

fn walk(pointer: String, desired: Option<&Value>, live: Option<&Value>, out: &mut Vec<FieldDiff>) {
    if NOT_COMPARED.contains(&pointer.as_str()) {
        return;
    }
    match (desired, live) {
        (Some(Value::Object(d)), Some(Value::Object(l))) => {
            let mut keys: Vec<&String> = d.keys().chain(l.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = format!("{pointer}/{}", escape(key));
                walk(child, d.get(key), l.get(key), out);
            }
        }
        (Some(Value::Array(d)), Some(Value::Array(l))) if d.len() == l.len() => {
            for (i, (d, l)) in d.iter().zip(l).enumerate() {
                walk(format!("{pointer}/{i}"), Some(d), Some(l), out);
            }
        }
        (d, l) if d == l => {}
        (d, l) => out.push(FieldDiff {
            pointer,
            desired: d.cloned(),
            live: l.cloned(),
        }),
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The parts of `live` at the fields `shape` has (recursively; a list is taken element by
/// element when both have the same length, else whole): the live object in the shape of the
/// manifest, so it can be compared with the manifest field by field.
pub(crate) fn project(shape: &Value, live: &Value) -> Value {
    match (shape, live) {
        (Value::Object(s), Value::Object(l)) => Value::Object(
            s.iter()
                .filter_map(|(key, sub)| l.get(key).map(|l| (key.clone(), project(sub, l))))
                .collect(),
        ),
        (Value::Array(s), Value::Array(l)) if s.len() == l.len() => {
            Value::Array(s.iter().zip(l).map(|(s, l)| project(s, l)).collect())
        }
        _ => live.clone(),
    }
}

/// `k8s-drift-sha256:<hex>` over what differs: the same drift gives the same digest, so a
/// drift that has not changed is not reported as new.
pub(crate) fn drift_digest<T: Serialize + ?Sized>(what: &T) -> String {
    let bytes = serde_json::to_vec(what).unwrap_or_default();
    let hash = Sha256::digest(&bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("{DRIFT_DIGEST_PREFIX}{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identical_objects_do_not_differ_whatever_the_server_bookkeeping() {
        let live = json!({"metadata": {"name": "web", "resourceVersion": "7", "generation": 2,
                                       "managedFields": [{"time": "t1"}]},
                          "spec": {"replicas": 2}, "status": {"ready": 1}});
        let dry = json!({"metadata": {"name": "web", "resourceVersion": "8", "generation": 3,
                                      "managedFields": [{"time": "t2"}]},
                         "spec": {"replicas": 2}, "status": {"ready": 0}});
        assert_eq!(diff(&dry, &live), vec![]);
    }

    #[test]
    fn differing_fields_are_reported_by_pointer() {
        let live = json!({"metadata": {"labels": {"a/b": "x"}},
                          "spec": {"replicas": 5, "template": {"containers": [{"image": "web:1"}]}}});
        let dry = json!({"metadata": {"labels": {"a/b": "y", "new": "z"}},
                         "spec": {"replicas": 2, "template": {"containers": [{"image": "web:2"}]}}});
        let d = diff(&dry, &live);
        let pointers: Vec<&str> = d.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/metadata/labels/a~1b",
                "/metadata/labels/new",
                "/spec/replicas",
                "/spec/template/containers/0/image"
            ]
        );
        assert_eq!(d[1].live, None);
        assert_eq!(d[2].desired, Some(json!(2)));
        assert_eq!(d[2].live, Some(json!(5)));
    }

    #[test]
    fn the_live_object_is_projected_onto_the_manifest_shape() {
        let manifest = json!({"metadata": {"name": "web"},
                              "spec": {"replicas": 2, "containers": [{"image": "web:2"}]}});
        let live = json!({"metadata": {"name": "web", "uid": "u"},
                          "spec": {"replicas": 5, "paused": false,
                                   "containers": [{"image": "web:1", "imagePullPolicy": "Always"}]},
                          "status": {}});
        assert_eq!(
            project(&manifest, &live),
            json!({"metadata": {"name": "web"},
                   "spec": {"replicas": 5, "containers": [{"image": "web:1"}]}})
        );
    }

    #[test]
    fn the_drift_digest_depends_only_on_the_drift() {
        let a = diff(&json!({"x": 1}), &json!({"x": 2}));
        let b = diff(&json!({"x": 1}), &json!({"x": 3}));
        assert_eq!(drift_digest(&a), drift_digest(&a.clone()));
        assert_ne!(drift_digest(&a), drift_digest(&b));
        assert!(drift_digest(&a).starts_with(DRIFT_DIGEST_PREFIX));
    }
}
