//! [`AgentSite`]: the one site a `moor-agent` serves — its durable store, its root and
//! command limits — and how a call is answered: by the shared protocol rules
//! ([`crate::protocol::admit`], [`crate::protocol::settle`]) over the store's memory, with real
//! effects in between.
//!
//! For an apply or delete, under one lock (mutating calls are serialised: correctness first):
//! 1. rules 1 and 2 on the store's highest token and recorded keys; a raised token is made
//!    durable before anything else happens, so a token the agent acted on or answered with
//!    survives a crash;
//! 2. FENCED or DUPLICATE end the call: nothing runs again;
//! 3. otherwise the effect runs (a file written, a command run); a failure, or properties that
//!    cannot be read, is FAILED with nothing recorded, so a corrected attempt may apply;
//! 4. success records the key's digest and the resource's new state in one durable record,
//!    then answers APPLIED.
//!
//! Each call runs in a task of its own: a caller that gives up (deadline, cancel) does not
//! cut an effect off between doing it and recording it. Known limit: a crash between the
//! effect and its record (step 4) leaves the effect done and the key unrecorded, so the next
//! attempt runs it again; files are rewritten with the same content, commands must tolerate
//! a second run.
//!
//! Observe reads the kept resources under the lock, then looks at each without it (observe
//! commands may take a while).

use std::sync::Arc;

use moor_proto::site::ObservedResource;
use tokio::sync::Mutex;

use super::errors::AgentError;
use super::memory::{KeyRecord, ResourceRecord, ResourceState};
use super::resource::{supported, Kind, Site};
use super::store::Store;
use crate::protocol::{admit, settle, Answer, Failure, Safety};

/// One mutating call, validated (the site name already checked).
#[derive(Debug, Clone)]
pub struct Mutation {
    pub environment: String,
    pub resource: String,
    pub resource_type: String,
    pub execution_id: String,
    pub step: u32,
    pub fence_token: u64,
    /// `Some((properties_json, desired_digest))` for an apply, `None` for a delete.
    pub apply: Option<(String, String)>,
}

/// The site an agent serves. Cheap to clone.
#[derive(Clone)]
pub struct AgentSite {
    name: Arc<str>,
    site: Arc<Site>,
    store: Arc<Mutex<Store>>,
}

impl AgentSite {
    pub fn new(name: &str, site: Site, store: Store) -> AgentSite {
        AgentSite {
            name: name.into(),
            site: Arc::new(site),
            store: Arc::new(Mutex::new(store)),
        }
    }

    /// The site's name: every request must name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Answers an apply or delete (see the module docs).
    pub async fn mutate(&self, call: Mutation) -> Result<Answer, AgentError> {
        let this = self.clone();
        tokio::spawn(async move { this.mutate_now(call).await })
            .await
            .map_err(|e| AgentError::Lost(e.to_string()))?
    }

    async fn mutate_now(&self, call: Mutation) -> Result<Answer, AgentError> {
        let mut store = self.store.lock().await;
        let memory = store.memory();
        let admission = admit(
            Safety::Enforced,
            memory.highest_token(),
            call.fence_token,
            || {
                memory
                    .recorded(&call.execution_id, call.step)
                    .map(str::to_string)
            },
        );
        store.raise_token(admission.highest_token)?;
        if let Some(answered) = admission.answered {
            return Ok(answered);
        }
        let kept = store
            .memory()
            .resource(&call.environment, &call.resource)
            .cloned();
        let effect = self.effect(&call, kept.as_ref()).await;
        let (effect, state) = match effect {
            Ok((digest, state)) => (Ok(digest), state),
            Err(error) => {
                tracing::info!(environment = %call.environment, resource = %call.resource, execution = %call.execution_id, step = call.step, %error, "FAILED; nothing recorded");
                let observed_digest = kept.map(|k| k.desired_digest).unwrap_or_default();
                (
                    Err(Failure {
                        error,
                        observed_digest,
                    }),
                    None,
                )
            }
        };
        let (answer, record) = settle(admission.highest_token, effect);
        if let Some(digest) = record {
            store.record_applied(
                KeyRecord {
                    execution_id: call.execution_id,
                    step: call.step,
                    environment: call.environment.clone(),
                    digest,
                },
                ResourceRecord {
                    environment: call.environment,
                    resource: call.resource,
                    state,
                },
            )?;
        }
        Ok(answer)
    }

    /// Rules 3 and 4's effect: the digest to record and the resource's state afterwards
    /// (`None`: removed), or why nothing was done.
    async fn effect(
        &self,
        call: &Mutation,
        kept: Option<&ResourceState>,
    ) -> Result<(String, Option<ResourceState>), String> {
        match &call.apply {
            Some((properties_json, desired_digest)) => {
                let kind = Kind::parse(&call.resource_type, properties_json, &self.site.limits)?;
                let (digest, state) = self.site.apply(kind, desired_digest).await?;
                Ok((digest, Some(state)))
            }
            // What is removed is what the agent kept (its type, its path), whatever type the
            // request names; with nothing kept there is nothing to remove, unless the request
            // names a type this agent could never have applied.
            None => {
                match kept {
                    Some(kept) => self.site.delete(kept).await?,
                    None if call.resource_type.is_empty() => {}
                    None => supported(&call.resource_type)?,
                }
                Ok((String::new(), None))
            }
        }
    }

    /// The resources of `environment` (only `resource` when not empty) as they are now.
    pub async fn observe(&self, environment: &str, resource: &str) -> Vec<ObservedResource> {
        let kept = self
            .store
            .lock()
            .await
            .memory()
            .resources_of(environment, resource);
        let mut seen = Vec::with_capacity(kept.len());
        for (name, state) in kept {
            if let Some(observed) = self.site.observe(&name, &state).await {
                seen.push(observed);
            }
        }
        seen
    }
}
