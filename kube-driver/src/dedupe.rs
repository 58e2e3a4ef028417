//! Dedupe for a cluster Moor drives directly (site protocol rule 2).
//!
//! A cluster keeps no table of applied keys, so the object carries its own: every apply
//! writes `moor.dev/idempotency-key: <execution>/<step>` and `moor.dev/desired-digest` onto
//! the object in the same server-side apply as the manifest, so the key is there exactly
//! when the apply landed. Before applying, the driver reads the object: if it already
//! carries the call's key, the call was applied before (an attempt whose answer was lost, or
//! a re-dispatch after failover) and is answered DUPLICATE with the recorded digest, nothing
//! sent.
//!
//! Only the latest key per object is kept. That is enough because the steps that touch one
//! resource of one environment run one at a time: a later execution's apply comes only after
//! the earlier step's result was committed, so an earlier key is never dispatched again.

use serde_json::Value;

use crate::manifest::{DIGEST_ANNOTATION, KEY_ANNOTATION};

/// The digest recorded on `live` if it was applied under `key`.
pub(crate) fn recorded(live: &Value, key: &str) -> Option<String> {
    let annotations = &live["metadata"]["annotations"];
    (annotations[KEY_ANNOTATION].as_str() == Some(key)).then(|| {
        annotations[DIGEST_ANNOTATION]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_recorded_digest_is_returned_only_for_the_same_key() {
        let live = json!({"metadata": {"annotations": {
            KEY_ANNOTATION: "e1/2", DIGEST_ANNOTATION: "sha256:aa"}}});
        assert_eq!(recorded(&live, "e1/2").as_deref(), Some("sha256:aa"));
        assert_eq!(recorded(&live, "e1/3"), None);
        assert_eq!(recorded(&json!({"metadata": {}}), "e1/2"), None);
    }
}
