//! Checks of the site protocol's request fields that every `SiteAgent` server makes before
//! any rule runs (the simulator's and `moor-agent`'s): names present and bounded, a target and
//! an idempotency key where a call needs them. A failed check is [`InvalidRequest`]
//! (INVALID_ARGUMENT on the wire): nothing is applied, fenced or recorded.

use moor_proto::site::{IdempotencyKey, ResourceRef};

use crate::MAX_NAME_BYTES;

/// A request field that cannot be served, with the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidRequest {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidRequest {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        InvalidRequest {
            field,
            reason: reason.into(),
        }
    }
}

/// A name: present and at most [`MAX_NAME_BYTES`].
pub fn name(field: &'static str, value: &str) -> Result<(), InvalidRequest> {
    if value.is_empty() {
        return Err(InvalidRequest::new(field, "must not be empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(InvalidRequest::new(
            field,
            format!("{} bytes, at most {MAX_NAME_BYTES}", value.len()),
        ));
    }
    Ok(())
}

/// The target of a mutating call: site, environment and resource all named.
pub fn target(target: Option<ResourceRef>) -> Result<ResourceRef, InvalidRequest> {
    let target = observe_target(target)?;
    name("target.resource", &target.resource)?;
    Ok(target)
}

/// The target of an Observe: site and environment named; an empty resource means every
/// resource of the environment.
pub fn observe_target(target: Option<ResourceRef>) -> Result<ResourceRef, InvalidRequest> {
    let target = target.ok_or_else(|| InvalidRequest::new("target", "missing"))?;
    name("target.site", &target.site)?;
    name("target.environment", &target.environment)?;
    Ok(target)
}

/// The idempotency key of a mutating call.
pub fn key(key: Option<IdempotencyKey>) -> Result<IdempotencyKey, InvalidRequest> {
    let key = key.ok_or_else(|| InvalidRequest::new("key", "missing"))?;
    name("key.execution_id", &key.execution_id)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_empty_and_long_names_are_named() {
        assert_eq!(target(None).unwrap_err().field, "target");
        let no_resource = ResourceRef {
            site: "s".into(),
            environment: "e".into(),
            ..ResourceRef::default()
        };
        assert!(observe_target(Some(no_resource.clone())).is_ok());
        assert_eq!(
            target(Some(no_resource)).unwrap_err().field,
            "target.resource"
        );
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let err = key(Some(IdempotencyKey {
            execution_id: long,
            step: 1,
        }))
        .unwrap_err();
        assert_eq!(err.field, "key.execution_id");
        assert!(err.reason.contains("at most 253"), "{err}");
    }
}
