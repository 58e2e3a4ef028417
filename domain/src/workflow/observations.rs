//! What sites report about environments (drift), and what the drift policy does about it:
//! recording an observation, discarding one that raced an execution, starting a heal within
//! the heal cap, and setting an environment's own policy.
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

use crate::atom::Atom;
use crate::drift::{self, DriftAction, DriftPolicy};
use crate::environment::{EnvStatus, ObservedResource};
use crate::execution::{ExecKind, RetryPolicy};
use crate::kv::KvState;
use crate::workflow::types::{ObserveBasis, Res, WorkflowError, WorkflowResult, WorkflowState};

impl WorkflowState {
    /// Records what a site reported for `environment`'s resources, unless an execution has
    /// touched the environment since the observer looked (`basis`); then, if the environment
    /// is idle and drifted, acts by its drift policy.
    pub(crate) fn observed(
        &mut self,
        kv: &KvState,
        environment: &str,
        resources: &BTreeMap<String, Option<String>>,
        basis: Option<&ObserveBasis>,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        let env = self
            .environments
            .get_mut(environment)
            .ok_or_else(|| WorkflowError::NotFound(format!("environment {environment}")))?;
        if let Some(basis) = basis {
            // The site may have answered before or after steps of an execution that started
            // after the observer looked (or is running now): what it said is stale for every
            // resource that execution records. The next check observes again.
            if env.current_execution.is_some() || env.latest_execution != basis.latest_execution {
                return Ok(WorkflowResult::Observation {
                    recorded: false,
                    heal: None,
                });
            }
        }
        for (name, digest) in resources {
            // Share the name and (when unchanged) the digest with the applied resource.
            let applied = env
                .applied
                .find_index(name.as_str())
                .ok()
                .and_then(|i| env.applied.get_indexed(i));
            let observed = ObservedResource {
                digest: digest.as_deref().map(|d| match applied {
                    Some((_, a)) => Atom::reuse(&a.digest, d),
                    None => Atom::from(d),
                }),
                observed_ms: now_ms,
            };
            if let Some(slot) = env.observed.get_mut(name.as_str()) {
                *slot = observed;
            } else {
                let key = applied.map_or_else(|| Atom::from(name), |(k, _)| k.clone());
                env.observed.insert(key, observed);
            }
        }
        let idle = env.current_execution.is_none()
            && matches!(env.status, EnvStatus::InSync | EnvStatus::Drifted);
        if !idle {
            return Ok(WorkflowResult::Observation {
                recorded: true,
                heal: None,
            });
        }
        if env.drift().is_empty() {
            env.status = EnvStatus::InSync;
            env.heal_suspended = None;
            return Ok(WorkflowResult::Observation {
                recorded: true,
                heal: None,
            });
        }
        env.status = EnvStatus::Drifted;
        let (policy, _) = drift::effective_policy(env, &self.sites, &self.rollouts.groups);
        let heal = match drift::decide(env, policy, now_ms) {
            DriftAction::Notify => None,
            DriftAction::Suspended(reason) => {
                env.heal_suspended = Some(reason);
                None
            }
            DriftAction::Heal => {
                env.heal_suspended = None;
                let revision = env.revision;
                drift::record_heal(env, now_ms);
                match self.enqueue(
                    kv,
                    environment,
                    ExecKind::Heal,
                    Some(revision),
                    None,
                    RetryPolicy::default(),
                    now_ms,
                )? {
                    WorkflowResult::Execution { id, .. } => Some(id),
                    _ => None,
                }
            }
        };
        Ok(WorkflowResult::Observation {
            recorded: true,
            heal,
        })
    }

    /// Sets or clears `environment`'s own drift policy.
    pub(crate) fn set_drift_policy(
        &mut self,
        environment: &str,
        policy: Option<DriftPolicy>,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        if let Some(policy) = &policy {
            policy.validate().map_err(WorkflowError::Invalid)?;
        }
        let env = self
            .environments
            .get_mut(environment)
            .ok_or_else(|| WorkflowError::NotFound(format!("environment {environment}")))?;
        env.drift = policy;
        // A new policy is a new decision: the cap's verdict under the old one no longer holds.
        env.heal_suspended = None;
        env.updated_ms = now_ms;
        Ok(WorkflowResult::Done)
    }
}
