//! The linearizable key/value namespace for variables: a pure map from key to value plus the
//! log indexes that created and last changed each key.
//!
//! Used for blueprint inputs and by the jepsen-like register workload. Applying is pure: the
//! log index comes from the entry, nothing from a clock.
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
use std::ops::Bound;

use serde::{Deserialize, Serialize};

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    /// Log index of the write that created the key (it resets if the key is deleted).
    pub create_index: u64,
    /// Log index of the write that last changed the key.
    pub mod_index: u64,
}

/// A change to the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Set `key` to `value`.
    Put { key: String, value: Vec<u8> },
    /// Remove `key` if present.
    Delete { key: String },
    /// Set `key` to `new_value` (or delete it when `None`) if its current value equals
    /// `expected` (`None`: the key must be absent).
    Cas {
        key: String,
        expected: Option<Vec<u8>>,
        new_value: Option<Vec<u8>>,
    },
}

/// The outcome of a [`KvCommand`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvResult {
    /// False only for a compare-and-swap whose comparison failed.
    pub succeeded: bool,
    /// The entry before the command was applied.
    pub prev: Option<KvEntry>,
}

/// The namespace itself.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvState {
    entries: BTreeMap<String, KvEntry>,
}

impl KvState {
    /// Applies `command`, committed at log `index`.
    pub fn apply(&mut self, index: u64, command: &KvCommand) -> KvResult {
        match command {
            KvCommand::Put { key, value } => KvResult {
                succeeded: true,
                prev: self.set(index, key, value.clone()),
            },
            KvCommand::Delete { key } => KvResult {
                succeeded: true,
                prev: self.entries.remove(key),
            },
            KvCommand::Cas {
                key,
                expected,
                new_value,
            } => {
                let current = self.entries.get(key).cloned();
                let matches = current.as_ref().map(|e| &e.value) == expected.as_ref();
                if matches {
                    match new_value {
                        Some(v) => {
                            self.set(index, key, v.clone());
                        }
                        None => {
                            self.entries.remove(key);
                        }
                    }
                }
                KvResult {
                    succeeded: matches,
                    prev: current,
                }
            }
        }
    }

    fn set(&mut self, index: u64, key: &str, value: Vec<u8>) -> Option<KvEntry> {
        let create_index = self
            .entries
            .get(key)
            .map(|e| e.create_index)
            .unwrap_or(index);
        self.entries.insert(
            key.to_string(),
            KvEntry {
                value,
                create_index,
                mod_index: index,
            },
        )
    }

    /// The entry stored under `key`.
    pub fn get(&self, key: &str) -> Option<&KvEntry> {
        self.entries.get(key)
    }

    /// Up to `limit` entries whose key starts with `prefix`, after `start_after` (exclusive,
    /// empty for the beginning), in key order; the flag says whether more remain.
    pub fn list(
        &self,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> (Vec<(String, KvEntry)>, bool) {
        let lower = if start_after.is_empty() || start_after < prefix {
            Bound::Included(prefix.to_string())
        } else {
            Bound::Excluded(start_after.to_string())
        };
        let mut iter = self
            .entries
            .range((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix));
        let page: Vec<_> = iter
            .by_ref()
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let more = iter.next().is_some();
        (page, more)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &KvEntry)> {
        self.entries.iter()
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[path = "tests/kv_unit.rs"]
mod tests;
