//! The state's pools of shared properties and strings, and how a decoded state is pointed
//! at them.
//!
//! Every environment of one revision holds the same rendered properties, resource names,
//! types and digests; the pools keep one copy of each (see `properties.rs`, `atom.rs`).
//! They are derived data, rebuilt after a decode. The two largest maps of the state,
//! executions and environments, are also shared *while* they are decoded, one entry at a
//! time: decoded plainly, every step and applied resource would first hold its own copy of
//! its properties and strings (at 100,000 environments several hundred MiB, all alive at
//! once until the whole state is decoded), and only then be shared.
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
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::atom::AtomPool;
use crate::environment::Environment;
use crate::execution::{Execution, Step, StepAction};
use crate::properties::PropertiesPool;

/// The state's pools, taken out of it while they are filled.
#[derive(Default)]
pub(crate) struct Pools {
    pub(crate) properties: PropertiesPool,
    pub(crate) atoms: AtomPool,
}

impl Pools {
    /// Points the properties and strings of `steps` at the pooled ones; deletes (null
    /// properties under the digest of what they remove) keep their own properties.
    pub(crate) fn share_steps(&mut self, steps: &mut [Step]) {
        for step in steps.iter_mut() {
            if step.action != StepAction::Delete {
                self.properties
                    .adopt(&step.desired_digest, &mut step.properties);
            }
            self.atoms.adopt(&mut step.resource);
            self.atoms.adopt(&mut step.resource_type);
            self.atoms.adopt(&mut step.desired_digest);
            if step.observed_digest == step.desired_digest {
                step.observed_digest = step.desired_digest.clone();
            } else {
                self.atoms.adopt(&mut step.observed_digest);
            }
        }
    }

    /// The same for an environment's applied and observed resources (their names, the map
    /// keys, are shared too: a map is rebuilt from its pooled entries in its own order).
    pub(crate) fn share_environment(&mut self, env: &mut Environment) {
        let applied = std::mem::take(&mut env.applied);
        env.applied = applied
            .into_iter()
            .map(|(mut name, mut a)| {
                self.atoms.adopt(&mut name);
                self.atoms.adopt(&mut a.resource_type);
                self.atoms.adopt(&mut a.digest);
                a.depends_on.iter_mut().for_each(|d| self.atoms.adopt(d));
                self.properties.adopt(&a.digest, &mut a.properties);
                (name, a)
            })
            .collect();
        let observed = std::mem::take(&mut env.observed);
        env.observed = observed
            .into_iter()
            .map(|(mut name, mut o)| {
                self.atoms.adopt(&mut name);
                self.atoms.adopt_opt(&mut o.digest);
                (name, o)
            })
            .collect();
    }
}

/// Decodes the executions map, sharing each execution's properties and strings as soon as
/// it is decoded (a pool of its own; [`crate::workflow::WorkflowState::reindex`] then
/// joins it with the environments').
pub(crate) fn decode_executions<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Execution>, D::Error> {
    deserializer.deserialize_map(SharingMap {
        share: |pools: &mut Pools, exec: &mut Execution| pools.share_steps(&mut exec.steps),
        what: "a map of executions by id",
        value: PhantomData,
    })
}

/// Decodes the environments map the same way.
pub(crate) fn decode_environments<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Environment>, D::Error> {
    deserializer.deserialize_map(SharingMap {
        share: Pools::share_environment,
        what: "a map of environments by name",
        value: PhantomData,
    })
}

/// A map visitor that points each decoded value at one pool before decoding the next.
/// Duplicate keys keep the last value, as serde's own map decoding does.
struct SharingMap<T, F> {
    share: F,
    what: &'static str,
    value: PhantomData<T>,
}

impl<'de, T, F> Visitor<'de> for SharingMap<T, F>
where
    T: Deserialize<'de>,
    F: Fn(&mut Pools, &mut T),
{
    type Value = BTreeMap<String, T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pools = Pools::default();
        let mut decoded = BTreeMap::new();
        while let Some((key, mut value)) = map.next_entry::<String, T>()? {
            (self.share)(&mut pools, &mut value);
            decoded.insert(key, value);
        }
        Ok(decoded)
    }
}
