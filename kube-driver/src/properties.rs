//! A `kubernetes.manifest` resource as a blueprint gives it: its properties are the
//! Kubernetes object, except a top-level `force`, which is not part of the object but asks
//! server-side apply to take over fields other field managers own. Every caller of this
//! crate (moord's Kubernetes driver, `moor-agent`) reads the properties the same way, so the
//! reading lives here once.

use serde_json::Value;

/// The resource type whose properties are a Kubernetes manifest.
pub const MANIFEST_TYPE: &str = "kubernetes.manifest";

/// The manifest in a `kubernetes.manifest` resource's properties, and whether it asks for
/// `force` (a top-level `force: true`, taken out of the manifest). The error says what is
/// wrong; the manifest itself is checked when it is applied ([`crate::Manifest`]).
pub fn manifest_of(properties_json: &str) -> Result<(Value, bool), String> {
    let mut manifest: Value = serde_json::from_str(properties_json)
        .map_err(|e| format!("properties are not JSON: {e}"))?;
    let Some(object) = manifest.as_object_mut() else {
        return Err("properties must be a Kubernetes object (apiVersion, kind, metadata)".into());
    };
    let force = match object.remove("force") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(other) => return Err(format!("force must be true or false, not {other}")),
    };
    Ok((manifest, force))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_is_taken_out_of_the_manifest() {
        let (m, force) = manifest_of(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"force":true}"#,
        )
        .unwrap();
        assert!(force);
        assert!(m.get("force").is_none());
        let (_, force) = manifest_of(r#"{"apiVersion":"v1","kind":"ConfigMap"}"#).unwrap();
        assert!(!force);
        assert!(manifest_of("[1]")
            .unwrap_err()
            .contains("Kubernetes object"));
        assert!(manifest_of(r#"{"force":"yes"}"#)
            .unwrap_err()
            .contains("true or false"));
        assert!(manifest_of("nope").unwrap_err().contains("not JSON"));
    }
}
