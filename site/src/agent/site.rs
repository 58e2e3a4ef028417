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
//!    then answers APPLIED;
//! 5. with a journal configured, every answer (APPLIED, DUPLICATE, FENCED, FAILED) is appended
//!    to it as one line before it goes out, still under the lock, so the journal's order is
//!    the order calls were decided in (the checkers' WF2/WF3/WF5 evidence, as for the
//!    simulator).
//!
//! Each call runs in a task of its own: a caller that gives up (deadline, cancel) does not
//! cut an effect off between doing it and recording it. Known limit: a crash between the
//! effect and its record (step 4) leaves the effect done and the key unrecorded, so the next
//! attempt runs it again; files are rewritten with the same content, commands must tolerate
//! a second run. A Kubernetes object carries the key that applied it, so there the next
//! attempt finds it, sends nothing, records it and answers DUPLICATE.
//!
//! Observe reads the kept resources under the lock, then looks at each without it (observe
//! commands may take a while); an environment's manifests are observed in one go, and a
//! cluster that cannot be observed fails the whole Observe.

use std::sync::Arc;

use moor_proto::site::{ObservedResource, Outcome};
use tokio::sync::Mutex;

use super::errors::AgentError;
use super::kube::MANIFEST_TYPE;
use super::memory::{KeyRecord, ResourceRecord, ResourceState};
use super::resource::{supported, Done, Site};
use super::store::Store;
use crate::journal::{
    AppendJournal, JournalOp, JournalOutcome, JournalRecord, JOURNAL_FORMAT_VERSION,
};
use crate::protocol::{admit, settle, Answer, Failure, Safety};

/// One mutating call, validated (the site name already checked).
#[derive(Debug, Clone)]
pub struct Mutation {
    pub environment: String,
    pub resource: String,
    pub resource_type: String,
    pub execution_id: String,
    pub step: u32,
    pub attempt: u32,
    pub fence_token: u64,
    /// `Some((properties_json, desired_digest))` for an apply, `None` for a delete.
    pub apply: Option<(String, String)>,
}

impl Mutation {
    /// What a command run for this call finds in its environment (see `command.rs`).
    pub fn command_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MOOR_ENVIRONMENT", self.environment.clone()),
            ("MOOR_RESOURCE", self.resource.clone()),
            ("MOOR_EXECUTION_ID", self.execution_id.clone()),
            ("MOOR_STEP", self.step.to_string()),
            ("MOOR_ATTEMPT", self.attempt.to_string()),
            ("MOOR_FENCE_TOKEN", self.fence_token.to_string()),
        ]
    }

    /// The journal line of this call at `site`, answered with `answer`.
    fn journal_record(&self, site: &str, answer: &Answer) -> Option<JournalRecord> {
        Some(JournalRecord {
            v: JOURNAL_FORMAT_VERSION,
            ts_ms: now_ms(),
            site: site.to_string(),
            environment: self.environment.clone(),
            resource: self.resource.clone(),
            execution_id: self.execution_id.clone(),
            step: self.step,
            attempt: self.attempt,
            fence_token: self.fence_token,
            op: if self.apply.is_some() {
                JournalOp::Apply
            } else {
                JournalOp::Delete
            },
            outcome: JournalOutcome::of(answer.outcome)?,
            highest_token: answer.highest_token,
            observed_digest: answer.observed_digest.clone(),
            error: answer.error.clone(),
        })
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What an admitted call's effect left: the digest to record, the resource's state
/// (`None`: removed), and whether it was done by an earlier, unrecorded attempt.
struct Effect {
    digest: String,
    state: Option<ResourceState>,
    earlier: bool,
}

/// The site an agent serves. Cheap to clone.
#[derive(Clone)]
pub struct AgentSite {
    name: Arc<str>,
    site: Arc<Site>,
    store: Arc<Mutex<Store>>,
    /// Where every answered apply and delete is journaled, if configured.
    journal: Option<Arc<AppendJournal>>,
}

impl AgentSite {
    pub fn new(name: &str, site: Site, store: Store, journal: Option<AppendJournal>) -> AgentSite {
        AgentSite {
            name: name.into(),
            site: Arc::new(site),
            store: Arc::new(Mutex::new(store)),
            journal: journal.map(Arc::new),
        }
    }

    /// Journals `call`'s answer (under the store lock, after the store, before the answer
    /// goes out). A journal that cannot be written withholds the answer: the call's effect
    /// and record stand, so the caller's retry is answered DUPLICATE from the store.
    fn journal(&self, call: &Mutation, answer: Answer) -> Result<Answer, AgentError> {
        if let (Some(journal), Some(record)) =
            (&self.journal, call.journal_record(&self.name, &answer))
        {
            journal.append(&record)?;
        }
        Ok(answer)
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
            return self.journal(&call, answered);
        }
        let kept = store
            .memory()
            .resource(&call.environment, &call.resource)
            .cloned();
        let effect = self.effect(&call, kept.as_ref()).await;
        let mut earlier = false;
        let (effect, state) = match effect {
            Ok(done) => {
                earlier = done.earlier;
                (Ok(done.digest), done.state)
            }
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
        let (mut answer, record) = settle(admission.highest_token, effect);
        if let Some(digest) = record {
            store.record_applied(
                KeyRecord {
                    execution_id: call.execution_id.clone(),
                    step: call.step,
                    environment: call.environment.clone(),
                    digest,
                },
                ResourceRecord {
                    environment: call.environment.clone(),
                    resource: call.resource.clone(),
                    state,
                },
            )?;
            if earlier {
                // Done by an attempt whose record a crash lost: recorded now, and answered
                // as what it is.
                answer.outcome = Outcome::Duplicate;
            }
        }
        self.journal(&call, answer)
    }

    /// Rules 3 and 4's effect: the digest to record and the resource's state afterwards
    /// (`None`: removed), or why nothing was done.
    async fn effect(
        &self,
        call: &Mutation,
        kept: Option<&ResourceState>,
    ) -> Result<Effect, String> {
        match &call.apply {
            Some((properties_json, desired_digest)) => {
                let kind = self.site.kind(&call.resource_type, properties_json)?;
                let done: Done = self.site.apply(call, kind, desired_digest).await?;
                Ok(Effect {
                    digest: done.digest,
                    state: Some(done.state),
                    earlier: done.earlier,
                })
            }
            // What is removed is what the agent kept (its type, its path), whatever type the
            // request names; with nothing kept there is nothing to remove, unless the request
            // names a type this agent could never have applied.
            None => {
                match kept {
                    Some(kept) => self.site.delete(call, kept).await?,
                    None if call.resource_type.is_empty() => {}
                    None => supported(&call.resource_type)?,
                }
                Ok(Effect {
                    digest: String::new(),
                    state: None,
                    earlier: false,
                })
            }
        }
    }

    /// The resources of `environment` (only `resource` when not empty) as they are now, in
    /// name order. Fails only when the site's cluster cannot be observed.
    pub async fn observe(
        &self,
        environment: &str,
        resource: &str,
    ) -> Result<Vec<ObservedResource>, AgentError> {
        let kept = self
            .store
            .lock()
            .await
            .memory()
            .resources_of(environment, resource);
        let (manifests, local): (Vec<_>, Vec<_>) = kept
            .into_iter()
            .partition(|(_, state)| state.resource_type == MANIFEST_TYPE);
        let mut seen = Vec::with_capacity(local.len() + manifests.len());
        for (name, state) in local {
            if let Some(observed) = self.site.observe(&name, &state).await {
                seen.push(observed);
            }
        }
        if !manifests.is_empty() {
            let cluster = self.site.cluster().map_err(AgentError::Observe)?;
            let found = cluster
                .observe(environment, &manifests)
                .await
                .map_err(AgentError::Observe)?;
            seen.extend(found);
            seen.sort_by(|a, b| a.resource.cmp(&b.resource));
        }
        Ok(seen)
    }
}
