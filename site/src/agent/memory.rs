//! [`Memory`]: what `moor-agent` remembers, as the records of its store rebuild it — the
//! highest accepted fence token, the resources it manages, and the recorded digest of every
//! idempotency key it applied — with the bound on the keys. Pure: the store (`store.rs`)
//! writes a record durably, then applies it here; replay at start applies the same records in
//! the same order, so memory after a restart is memory before it.
//!
//! Pruning (the bound on keys): a key can only be re-dispatched while its execution may still
//! be retried, and an environment runs one execution at a time, so a correct leader never
//! retries an execution of an environment once newer ones have started there. The agent keeps
//! the keys of each environment's latest [`KEEP_EXECUTIONS_PER_ENVIRONMENT`] executions (in
//! the order their first key was applied here), and at most [`MAX_KEYS`] keys in all: past
//! that, the oldest execution's keys go first (never the execution being recorded). A key
//! pruned and then re-sent would apply again, which is why the per-environment margin is 16
//! executions rather than 1.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Executions per environment whose keys are kept.
pub const KEEP_EXECUTIONS_PER_ENVIRONMENT: usize = 16;

/// Most keys kept in all (about 100 bytes each in memory).
pub const MAX_KEYS: usize = 100_000;

/// A resource the agent manages, as it was left by the last applied call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceState {
    /// `agent.file` or `agent.command`.
    pub resource_type: String,
    /// The digest Moor expects back while the resource is as desired.
    pub desired_digest: String,
    /// The sha256 (hex) of what the agent left: a file's content, a command's observe stdout.
    /// `None` when there is nothing to compare with (a command without observe, or whose
    /// observe failed right after the apply).
    pub applied_sha256: Option<String>,
    /// What observe and delete need later: a file's path and mode (not its content), a
    /// command's properties.
    pub properties: serde_json::Value,
}

/// The recorded result of one idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub execution_id: String,
    pub step: u32,
    /// The environment of the call (keys are pruned per environment).
    pub environment: String,
    /// The observed digest answered when the key was applied, answered again as DUPLICATE.
    pub digest: String,
}

/// A resource's state after a call: `Some` present, `None` removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRecord {
    pub environment: String,
    pub resource: String,
    pub state: Option<ResourceState>,
}

/// One record of the store. Lines of the store file are these, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    /// The first record of every store file: its format version.
    Header { format: u32 },
    /// A fence token accepted; the highest is the largest of these.
    Token { token: u64 },
    /// One applied call: the resource's new state and the key's digest, in one record so a
    /// crash keeps both or neither.
    Applied {
        key: KeyRecord,
        resource: ResourceRecord,
    },
    /// A resource on its own (written by compaction).
    Resource(ResourceRecord),
    /// A key on its own (written by compaction, oldest execution first).
    Key(KeyRecord),
}

/// The keys of one execution.
#[derive(Debug, Clone)]
struct Execution {
    environment: String,
    /// step → recorded digest.
    steps: BTreeMap<u32, String>,
}

/// Everything the agent remembers. See the module docs.
#[derive(Debug, Default)]
pub struct Memory {
    highest_token: u64,
    /// (environment, resource) → state. Ordered, so Observe answers in a stable order.
    resources: BTreeMap<(String, String), ResourceState>,
    executions: HashMap<String, Execution>,
    /// order → execution id, oldest first: the global cap drops from the front.
    by_age: BTreeMap<u64, String>,
    /// environment → its executions' order numbers, oldest first.
    per_environment: HashMap<String, VecDeque<u64>>,
    next_order: u64,
    keys: usize,
}

impl Memory {
    pub fn highest_token(&self) -> u64 {
        self.highest_token
    }

    /// The digest recorded for a key, if it is (still) recorded.
    pub fn recorded(&self, execution_id: &str, step: u32) -> Option<&str> {
        self.executions
            .get(execution_id)?
            .steps
            .get(&step)
            .map(String::as_str)
    }

    pub fn resource(&self, environment: &str, resource: &str) -> Option<&ResourceState> {
        self.resources
            .get(&(environment.to_string(), resource.to_string()))
    }

    /// The resources of `environment` (only `resource` when it is not empty), in name order.
    pub fn resources_of(&self, environment: &str, resource: &str) -> Vec<(String, ResourceState)> {
        self.resources
            .iter()
            .filter(|((env, res), _)| {
                env == environment && (resource.is_empty() || res == resource)
            })
            .map(|((_, res), state)| (res.clone(), state.clone()))
            .collect()
    }

    /// How many keys are recorded.
    pub fn key_count(&self) -> usize {
        self.keys
    }

    /// Applies one record (written durably before, or replayed at start).
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Header { .. } => {}
            Record::Token { token } => self.highest_token = self.highest_token.max(*token),
            Record::Applied { key, resource } => {
                self.set_resource(resource);
                self.insert_key(key);
            }
            Record::Resource(resource) => self.set_resource(resource),
            Record::Key(key) => self.insert_key(key),
        }
    }

    /// The records that rebuild this memory (compaction): the header, the highest token,
    /// every resource, then every key, oldest execution first.
    pub fn snapshot(&self, format: u32) -> Vec<Record> {
        let mut records = vec![
            Record::Header { format },
            Record::Token {
                token: self.highest_token,
            },
        ];
        records.extend(self.resources.iter().map(|((env, res), state)| {
            Record::Resource(ResourceRecord {
                environment: env.clone(),
                resource: res.clone(),
                state: Some(state.clone()),
            })
        }));
        for id in self.by_age.values() {
            let Some(execution) = self.executions.get(id) else {
                continue;
            };
            records.extend(execution.steps.iter().map(|(step, digest)| {
                Record::Key(KeyRecord {
                    execution_id: id.clone(),
                    step: *step,
                    environment: execution.environment.clone(),
                    digest: digest.clone(),
                })
            }));
        }
        records
    }

    fn set_resource(&mut self, record: &ResourceRecord) {
        let at = (record.environment.clone(), record.resource.clone());
        match &record.state {
            Some(state) => {
                self.resources.insert(at, state.clone());
            }
            None => {
                self.resources.remove(&at);
            }
        }
    }

    fn insert_key(&mut self, key: &KeyRecord) {
        if let Some(execution) = self.executions.get_mut(&key.execution_id) {
            if execution
                .steps
                .insert(key.step, key.digest.clone())
                .is_none()
            {
                self.keys += 1;
            }
        } else {
            let order = self.next_order;
            self.next_order += 1;
            self.executions.insert(
                key.execution_id.clone(),
                Execution {
                    environment: key.environment.clone(),
                    steps: BTreeMap::from([(key.step, key.digest.clone())]),
                },
            );
            self.keys += 1;
            self.by_age.insert(order, key.execution_id.clone());
            let recent = self
                .per_environment
                .entry(key.environment.clone())
                .or_default();
            recent.push_back(order);
            if recent.len() > KEEP_EXECUTIONS_PER_ENVIRONMENT {
                if let Some(oldest) = recent.pop_front() {
                    self.forget(oldest);
                }
            }
        }
        while self.keys > MAX_KEYS {
            let Some((&oldest, id)) = self.by_age.first_key_value() else {
                break;
            };
            if *id == key.execution_id {
                // The execution being recorded holds every key left: keep it whole.
                break;
            }
            self.forget(oldest);
        }
    }

    /// Drops the keys of the execution with order number `order`.
    fn forget(&mut self, order: u64) {
        let Some(id) = self.by_age.remove(&order) else {
            return;
        };
        let Some(execution) = self.executions.remove(&id) else {
            return;
        };
        self.keys -= execution.steps.len();
        if let Some(recent) = self.per_environment.get_mut(&execution.environment) {
            recent.retain(|o| *o != order);
            if recent.is_empty() {
                self.per_environment.remove(&execution.environment);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(exec: &str, step: u32, env: &str) -> Record {
        Record::Key(KeyRecord {
            execution_id: exec.into(),
            step,
            environment: env.into(),
            digest: format!("{exec}/{step}"),
        })
    }

    #[test]
    fn each_environment_keeps_the_keys_of_its_latest_executions() {
        let mut m = Memory::default();
        let total = KEEP_EXECUTIONS_PER_ENVIRONMENT + 3;
        for i in 0..total {
            m.apply(&key(&format!("a{i}"), 1, "env-a"));
            m.apply(&key(&format!("a{i}"), 2, "env-a"));
        }
        m.apply(&key("b0", 1, "env-b"));
        for i in 0..3 {
            assert_eq!(m.recorded(&format!("a{i}"), 1), None, "a{i} pruned");
        }
        for i in 3..total {
            assert_eq!(m.recorded(&format!("a{i}"), 2), Some(&*format!("a{i}/2")));
        }
        assert_eq!(
            m.recorded("b0", 1),
            Some("b0/1"),
            "other environments untouched"
        );
        assert_eq!(m.key_count(), KEEP_EXECUTIONS_PER_ENVIRONMENT * 2 + 1);
    }

    #[test]
    fn the_global_cap_drops_the_oldest_execution_first() {
        let mut m = Memory::default();
        // One execution per environment, so only the global cap prunes.
        for i in 0..=MAX_KEYS {
            m.apply(&key(&format!("e{i}"), 1, &format!("env{i}")));
        }
        assert_eq!(m.key_count(), MAX_KEYS);
        assert_eq!(m.recorded("e0", 1), None);
        assert_eq!(m.recorded("e1", 1), Some("e1/1"));
        assert_eq!(
            m.recorded(&format!("e{MAX_KEYS}"), 1),
            Some(&*format!("e{MAX_KEYS}/1"))
        );
    }

    #[test]
    fn a_snapshot_rebuilds_the_same_memory_and_order() {
        let mut m = Memory::default();
        m.apply(&Record::Token { token: 7 });
        let state = ResourceState {
            resource_type: "agent.file".into(),
            desired_digest: "d".into(),
            applied_sha256: Some("ab".into()),
            properties: serde_json::json!({"path": "x"}),
        };
        m.apply(&Record::Applied {
            key: KeyRecord {
                execution_id: "x1".into(),
                step: 1,
                environment: "env".into(),
                digest: "d".into(),
            },
            resource: ResourceRecord {
                environment: "env".into(),
                resource: "web".into(),
                state: Some(state.clone()),
            },
        });
        // x1 and these fill env's window exactly.
        for i in 1..KEEP_EXECUTIONS_PER_ENVIRONMENT {
            m.apply(&key(&format!("y{i}"), 1, "env"));
        }
        let mut rebuilt = Memory::default();
        for r in m.snapshot(1) {
            rebuilt.apply(&r);
        }
        assert_eq!(rebuilt.highest_token(), 7);
        assert_eq!(rebuilt.resource("env", "web"), Some(&state));
        assert_eq!(rebuilt.recorded("x1", 1), Some("d"));
        // The order survived: one more execution prunes x1 in both.
        m.apply(&key("z", 1, "env"));
        rebuilt.apply(&key("z", 1, "env"));
        assert_eq!(m.recorded("x1", 1), None);
        assert_eq!(rebuilt.recorded("x1", 1), None);
        assert_eq!(rebuilt.key_count(), m.key_count());
    }
}
