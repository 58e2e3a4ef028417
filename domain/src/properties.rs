//! Rendered properties, shared: one allocation per distinct resource digest for the whole
//! state, however many steps and applied resources carry it.
//!
//! A rollout of one revision over 100,000 environments renders the same properties for
//! every environment (inputs aside), and each environment kept them twice: in its
//! execution's step and in its applied resource. That was a third of the decoded state
//! (docs/BENCHMARKS.md, "Memory at 100,000 environments"). [`Properties`] is a shared,
//! immutable handle whose encoding is the value's own, so snapshots and digests do not
//! change; [`PropertiesPool`] hands out one handle per digest. A resource digest is the
//! SHA-256 of its type and canonical properties (`blueprint::render::digest`), but not of
//! every byte: a sealed secret counts by its fingerprint, so a secret sealed again under a
//! new key or nonce keeps the digest with other bytes. The pool therefore shares a value
//! only with an equal one and leaves an unequal value of a known digest unshared: sharing
//! never changes what the state holds, byte for byte.
//!
//! The pool is derived data, like the execution index: never encoded, rebuilt after a
//! decode ([`PropertiesPool::adopt`]), and ignored by `==`. It changes no value apply
//! computes, only where equal values live, so members need not agree on it.
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
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A resource's rendered properties, immutable and cheap to clone. Encodes, compares and
/// prints as the JSON value it holds.
#[derive(Clone, PartialEq, Eq)]
pub struct Properties(Arc<Value>);

impl Properties {
    /// Properties of their own, shared with nothing yet.
    pub fn new(value: Value) -> Properties {
        Properties(Arc::new(value))
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// Whether `self` and `other` are one allocation (not merely equal).
    pub fn same(&self, other: &Properties) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for Properties {
    fn default() -> Properties {
        Properties::new(Value::Null)
    }
}

impl Deref for Properties {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0
    }
}

impl From<Value> for Properties {
    fn from(value: Value) -> Properties {
        Properties::new(value)
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Properties {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Properties, D::Error> {
        Value::deserialize(deserializer).map(Properties::new)
    }
}

/// One [`Properties`] per resource digest, for everything the state holds.
///
/// Entries nobody else holds any more are dropped once the pool has doubled since its last
/// sweep, so the pool stays within twice the number of digests in use (plus a small floor)
/// and a sweep costs amortised O(1) per insertion.
#[derive(Clone, Default)]
pub struct PropertiesPool {
    by_digest: BTreeMap<String, Properties>,
    /// The size at which the next sweep runs.
    sweep_at: usize,
}

/// The pool never shrinks below this many entries by sweeping.
const SWEEP_FLOOR: usize = 64;

impl PropertiesPool {
    /// The pooled properties of `digest` if they equal `value`; else `value`, pooled when
    /// the digest is new (or its pooled value is no longer used), left unshared when
    /// another value of that digest is in use.
    pub fn share(&mut self, digest: &str, value: Properties) -> Properties {
        if let Some(kept) = self.by_digest.get_mut(digest) {
            if kept.same(&value) || kept.value() == value.value() {
                return kept.clone();
            }
            if Arc::strong_count(&kept.0) == 1 {
                *kept = value.clone();
            }
            return value;
        }
        self.sweep_if_due();
        self.by_digest.insert(digest.to_string(), value.clone());
        value
    }

    /// Replaces `properties` by the pooled ones of `digest`, pooling them if new (after a
    /// decode every copy is its own allocation).
    pub fn adopt(&mut self, digest: &str, properties: &mut Properties) {
        let kept = self.share(digest, properties.clone());
        *properties = kept;
    }

    /// How many digests the pool holds.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether the pool holds nothing.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    fn sweep_if_due(&mut self) {
        if self.by_digest.len() < self.sweep_at.max(SWEEP_FLOOR) {
            return;
        }
        // Held by the pool alone: no step or applied resource uses it any more.
        self.by_digest
            .retain(|_, kept| Arc::strong_count(&kept.0) > 1);
        self.sweep_at = self.by_digest.len().saturating_mul(2);
    }
}

impl PartialEq for PropertiesPool {
    /// Derived data: two states are equal whatever their pools hold.
    fn eq(&self, _: &PropertiesPool) -> bool {
        true
    }
}

impl fmt::Debug for PropertiesPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PropertiesPool({} digests)", self.by_digest.len())
    }
}

#[cfg(test)]
#[path = "tests/properties_unit.rs"]
mod tests;
