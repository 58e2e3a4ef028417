//! Routes a [`HooksCommand`] to its transition. Webhook deliveries, fetches and firings
//! change blueprints and start rollouts, so apply here takes the workflow registry and the
//! audit trail as well as the hooks' own state.
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

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::auth::{AuditEvent, AuditState};
use crate::kv::KvState;
use crate::rollout::{RolloutAction, RolloutOp};
use crate::site::validate_name;
use crate::workflow::{Origin, WorkflowError, WorkflowResult, WorkflowState};

use super::receiver::{
    bounded, branch_of, repo_key, Delivery, DeliveryIn, DeliveryVerdict, Payload, Receiver,
    ReceiverSpec, MAX_DETAIL, MAX_FIELD,
};
use super::source::{FetchBasis, FetchedFile, Source, SourceError, SourceSpec};
use super::trigger::{Firing, FiringOutcome, Trigger, TriggerPolicy, TriggerSpec};
use super::types::{AuditNote, HooksCommand, HooksResult, HooksState};

type Res<T> = Result<T, WorkflowError>;

/// What apply needs besides the hooks' own state.
pub struct Registry<'a> {
    pub workflow: &'a mut WorkflowState,
    pub kv: &'a KvState,
    pub audit: &'a mut AuditState,
}

impl HooksState {
    /// Applies one committed command. A refusal changes nothing.
    pub fn apply(&mut self, reg: Registry<'_>, command: &HooksCommand) -> HooksResult {
        let r = match command {
            HooksCommand::PutReceiver { spec, now_ms } => self.put_receiver(spec, *now_ms),
            HooksCommand::DeleteReceiver { name } => Ok(HooksResult::Deleted {
                deleted: self.receivers.remove(name).is_some(),
            }),
            HooksCommand::RecordDelivery {
                receiver,
                delivery,
                note,
                now_ms,
            } => self.record_delivery(reg, receiver, delivery, note, *now_ms),
            HooksCommand::PutSource { spec, now_ms } => self.put_source(spec, *now_ms),
            HooksCommand::DeleteSource { name } => self.delete_source(name),
            HooksCommand::SyncSource { name, now_ms } => self.sync_source(name, *now_ms),
            HooksCommand::SourceFetched {
                source,
                basis,
                commit,
                files,
                note,
                now_ms,
            } => self.source_fetched(reg, source, *basis, commit, files, note, *now_ms),
            HooksCommand::SourceFailed {
                source,
                basis,
                commit,
                error,
                note,
                now_ms,
            } => self.source_failed(reg, source, *basis, commit.as_deref(), error, note, *now_ms),
            HooksCommand::PutTrigger { spec, now_ms } => self.put_trigger(reg, spec, *now_ms),
            HooksCommand::DeleteTrigger { name } => Ok(HooksResult::Deleted {
                deleted: self.triggers.remove(name).is_some(),
            }),
            HooksCommand::AdvanceTrigger { name, note, now_ms } => {
                self.advance_trigger(reg, name, note, *now_ms)
            }
        };
        r.unwrap_or_else(HooksResult::Rejected)
    }

    // ---- receivers ----

    fn put_receiver(&mut self, spec: &ReceiverSpec, now_ms: u64) -> Res<HooksResult> {
        let problems = spec.problems();
        if !problems.is_empty() {
            return Err(WorkflowError::Invalid(problems.join("; ")));
        }
        Ok(upsert(
            &mut self.receivers,
            &spec.name,
            |r| {
                r.spec = spec.clone();
                r.updated_ms = now_ms;
            },
            || Receiver {
                spec: spec.clone(),
                created_ms: now_ms,
                updated_ms: now_ms,
                deliveries: VecDeque::new(),
                recorded: 0,
            },
        ))
    }

    fn record_delivery(
        &mut self,
        reg: Registry<'_>,
        receiver: &str,
        input: &DeliveryIn,
        note: &AuditNote,
        now_ms: u64,
    ) -> Res<HooksResult> {
        let r = self
            .receivers
            .get(receiver)
            .ok_or_else(|| WorkflowError::NotFound(format!("receiver {receiver}")))?;
        if input.id.is_empty() {
            return Err(WorkflowError::Invalid("a delivery needs an id".into()));
        }
        if let Some(earlier) = r.delivery(&input.id) {
            return Ok(HooksResult::Delivery {
                delivery: Box::new(earlier.clone()),
                duplicate: true,
            });
        }
        let mut delivery = Delivery {
            id: bounded(&input.id, MAX_FIELD),
            received_ms: now_ms,
            event: bounded(&input.event, MAX_FIELD),
            verdict: DeliveryVerdict::Ignored,
            detail: String::new(),
            repository: String::new(),
            branch: String::new(),
            commit: String::new(),
            sources: Vec::new(),
            member: note.member,
        };
        match &input.payload {
            Payload::Ping => {
                delivery.verdict = DeliveryVerdict::Ping;
                delivery.detail = "ping: the receiver is reachable and the secret matches".into();
            }
            Payload::Other { reason } => delivery.detail = bounded(reason, MAX_DETAIL),
            Payload::Push {
                repository,
                urls,
                git_ref,
                commit,
            } => {
                delivery.repository = bounded(repository, MAX_FIELD);
                delivery.commit = bounded(commit, MAX_FIELD);
                self.push(&mut delivery, receiver, urls, git_ref, commit, now_ms);
            }
        }
        let who = format!("receiver:{receiver}");
        let object = format!("delivery {}", delivery.id);
        let outcome = format!("{}: {}", delivery.verdict, delivery.detail);
        record_event(
            reg.audit,
            note,
            now_ms,
            [&who, "hook.deliver", &object, &outcome],
        );
        if let Some(r) = self.receivers.get_mut(receiver) {
            r.record(delivery.clone());
        }
        Ok(HooksResult::Delivery {
            delivery: Box::new(delivery),
            duplicate: false,
        })
    }

    /// A push: every source following that repository and branch is asked to fetch.
    fn push(
        &mut self,
        delivery: &mut Delivery,
        receiver: &str,
        urls: &[String],
        git_ref: &str,
        commit: &str,
        now_ms: u64,
    ) {
        let Some(branch) = branch_of(git_ref) else {
            delivery.detail = bounded(
                &format!("{git_ref} is not a branch: sources follow branches"),
                MAX_DETAIL,
            );
            return;
        };
        delivery.branch = bounded(branch, MAX_FIELD);
        if !commit.is_empty() && commit.bytes().all(|b| b == b'0') {
            delivery.detail = format!("branch {branch} was deleted: nothing to fetch");
            return;
        }
        let keys: BTreeSet<String> = urls.iter().map(|u| repo_key(u)).collect();
        let by = format!("delivery {receiver}/{}", delivery.id);
        let mut names = Vec::new();
        for (name, source) in self.sources.iter_mut() {
            if source.spec.branch == branch && keys.contains(&repo_key(&source.spec.url)) {
                source.ask(by.clone(), Some(commit.to_string()), now_ms);
                names.push(name.clone());
            }
        }
        if names.is_empty() {
            delivery.detail = bounded(
                &format!(
                    "no source follows {} branch {branch}",
                    urls.first()
                        .map(String::as_str)
                        .unwrap_or("this repository")
                ),
                MAX_DETAIL,
            );
        } else {
            delivery.verdict = DeliveryVerdict::Accepted;
            delivery.detail = bounded(&format!("asked {} to fetch", names.join(", ")), MAX_DETAIL);
            delivery.sources = names;
        }
    }

    // ---- sources ----

    fn put_source(&mut self, spec: &SourceSpec, now_ms: u64) -> Res<HooksResult> {
        let problems = spec.problems();
        if !problems.is_empty() {
            return Err(WorkflowError::Invalid(problems.join("; ")));
        }
        match self.sources.get_mut(&spec.name) {
            Some(s) => {
                let moved = !s.spec.same_origin(spec);
                s.spec = spec.clone();
                s.updated_ms = now_ms;
                if moved {
                    s.version = s.version.saturating_add(1);
                    s.ask("changed".into(), None, now_ms);
                }
                Ok(HooksResult::Put { created: false })
            }
            None => {
                let mut source = Source {
                    spec: spec.clone(),
                    version: 1,
                    created_ms: now_ms,
                    updated_ms: now_ms,
                    commit: None,
                    fetched_ms: 0,
                    error: None,
                    pending: None,
                    asks: 0,
                    blueprints: BTreeMap::new(),
                    polled_ms: now_ms,
                };
                source.ask("created".into(), None, now_ms);
                self.sources.insert(spec.name.clone(), source);
                Ok(HooksResult::Put { created: true })
            }
        }
    }

    fn delete_source(&mut self, name: &str) -> Res<HooksResult> {
        let users: Vec<&str> = self
            .triggers
            .values()
            .filter(|t| t.spec.source == name)
            .map(|t| t.spec.name.as_str())
            .collect();
        if !users.is_empty() {
            return Err(WorkflowError::FailedPrecondition(format!(
                "source {name} is used by trigger(s) {}: delete them first",
                users.join(", ")
            )));
        }
        Ok(HooksResult::Deleted {
            deleted: self.sources.remove(name).is_some(),
        })
    }

    fn sync_source(&mut self, name: &str, now_ms: u64) -> Res<HooksResult> {
        let s = self
            .sources
            .get_mut(name)
            .ok_or_else(|| WorkflowError::NotFound(format!("source {name}")))?;
        s.ask("sync".into(), None, now_ms);
        s.polled_ms = now_ms;
        Ok(HooksResult::Done)
    }

    /// A fetched commit: all its blueprint files or none. Files whose content is unchanged
    /// make no revision; each new revision remembers the commit and path, and fires the
    /// source's triggers for its blueprint.
    #[allow(clippy::too_many_arguments)]
    fn source_fetched(
        &mut self,
        reg: Registry<'_>,
        name: &str,
        basis: FetchBasis,
        commit: &str,
        files: &[FetchedFile],
        note: &AuditNote,
        now_ms: u64,
    ) -> Res<HooksResult> {
        let source = self
            .sources
            .get(name)
            .ok_or_else(|| WorkflowError::NotFound(format!("source {name}")))?;
        if !source.basis_is_current(basis) {
            return Err(WorkflowError::FailedPrecondition(format!(
                "source {name} changed while it was fetched: the result is discarded and a new fetch follows"
            )));
        }
        // Check everything before changing anything: the commit is applied whole or not.
        let mut seen = BTreeMap::new();
        for f in files {
            validate_name("blueprint", &f.spec.name)
                .map_err(|e| WorkflowError::Invalid(format!("{}: {e}", f.path)))?;
            if let Some(other) = seen.insert(f.spec.name.as_str(), f.path.as_str()) {
                return Err(WorkflowError::Invalid(format!(
                    "{} and {other} both define blueprint {}: one file per blueprint",
                    f.path, f.spec.name
                )));
            }
        }
        let mut made = Vec::new();
        let mut current = BTreeMap::new();
        for f in files {
            let (blueprint, revision, created) =
                match reg.workflow.put_blueprint(&f.spec, &f.text, now_ms)? {
                    WorkflowResult::Blueprint {
                        name,
                        revision,
                        created,
                    } => (name, revision, created),
                    other => {
                        return Err(WorkflowError::Invalid(format!(
                            "storing {} gave {other:?}, not a blueprint revision",
                            f.path
                        )))
                    }
                };
            if created {
                reg.workflow.set_origin(
                    &blueprint,
                    revision,
                    Origin {
                        source: name.to_string(),
                        commit: commit.to_string(),
                        path: f.path.clone(),
                    },
                );
                made.push((blueprint.clone(), revision));
            }
            current.insert(f.path.clone(), (blueprint, revision));
        }
        if let Some(s) = self.sources.get_mut(name) {
            s.commit = Some(commit.to_string());
            s.fetched_ms = now_ms;
            s.error = None;
            s.blueprints = current;
            s.settle(basis);
        }
        let who = format!("source:{name}");
        let short: String = commit.chars().take(12).collect();
        let object = if made.is_empty() {
            format!("commit {short}: no blueprint changed")
        } else {
            let list: Vec<String> = made.iter().map(|(b, r)| format!("{b}@{r}")).collect();
            format!("commit {short}: {}", list.join(", "))
        };
        record_event(
            reg.audit,
            note,
            now_ms,
            [&who, "source.fetch", &object, "ok"],
        );
        let mut rollouts = Vec::new();
        let Registry {
            workflow,
            kv,
            audit,
        } = reg;
        for (blueprint, revision) in &made {
            let names: Vec<String> = self
                .triggers
                .values()
                .filter(|t| t.spec.source == name && &t.spec.blueprint == blueprint)
                .map(|t| t.spec.name.clone())
                .collect();
            for t in names {
                let mut r = Registry {
                    workflow: &mut *workflow,
                    kv,
                    audit: &mut *audit,
                };
                if let Some(id) = self.fire(&mut r, &t, *revision, note, now_ms) {
                    rollouts.push(id);
                }
            }
        }
        Ok(HooksResult::Fetched {
            revisions: made,
            rollouts,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn source_failed(
        &mut self,
        reg: Registry<'_>,
        name: &str,
        basis: FetchBasis,
        commit: Option<&str>,
        error: &str,
        note: &AuditNote,
        now_ms: u64,
    ) -> Res<HooksResult> {
        let s = self
            .sources
            .get_mut(name)
            .ok_or_else(|| WorkflowError::NotFound(format!("source {name}")))?;
        if !s.basis_is_current(basis) {
            return Err(WorkflowError::FailedPrecondition(format!(
                "source {name} changed while it was fetched: the failure is about the old settings"
            )));
        }
        s.error = Some(SourceError {
            message: bounded(error, 4 * MAX_DETAIL),
            commit: commit.map(str::to_string),
            at_ms: now_ms,
        });
        s.settle(basis);
        let who = format!("source:{name}");
        let object = match commit {
            Some(c) => format!("commit {}", c.chars().take(12).collect::<String>()),
            None => "fetch".to_string(),
        };
        let outcome = format!("failed: {error}");
        record_event(
            reg.audit,
            note,
            now_ms,
            [&who, "source.fetch", &object, &outcome],
        );
        Ok(HooksResult::Done)
    }

    // ---- triggers ----

    fn put_trigger(
        &mut self,
        reg: Registry<'_>,
        spec: &TriggerSpec,
        now_ms: u64,
    ) -> Res<HooksResult> {
        validate_name("trigger", &spec.name).map_err(WorkflowError::Invalid)?;
        if !self.sources.contains_key(&spec.source) {
            return Err(WorkflowError::NotFound(format!(
                "source {} (add it first: moorctl source add)",
                spec.source
            )));
        }
        validate_name("blueprint", &spec.blueprint).map_err(WorkflowError::Invalid)?;
        if !matches!(
            spec.rollout.action,
            RolloutAction::Update { revision: None, .. }
        ) {
            return Err(WorkflowError::Invalid(
                "a trigger starts update rollouts, to the revision the source made: give it an update action without a revision".into(),
            ));
        }
        if spec.rollout.max_parallel == 0 {
            return Err(WorkflowError::Invalid(
                "max_parallel must be at least 1".into(),
            ));
        }
        if !reg
            .workflow
            .rollouts
            .groups
            .contains_key(&spec.rollout.group)
        {
            return Err(WorkflowError::NotFound(format!(
                "group {} (create it first: moorctl group put)",
                spec.rollout.group
            )));
        }
        Ok(upsert(
            &mut self.triggers,
            &spec.name,
            |t| {
                t.spec = spec.clone();
                t.updated_ms = now_ms;
            },
            || Trigger {
                spec: spec.clone(),
                created_ms: now_ms,
                updated_ms: now_ms,
                running: None,
                queued: None,
                firings: VecDeque::new(),
            },
        ))
    }

    /// The trigger's running rollout has ended (the leader saw it): start the queued
    /// revision, if one waits.
    fn advance_trigger(
        &mut self,
        mut reg: Registry<'_>,
        name: &str,
        note: &AuditNote,
        now_ms: u64,
    ) -> Res<HooksResult> {
        let t = self
            .triggers
            .get_mut(name)
            .ok_or_else(|| WorkflowError::NotFound(format!("trigger {name}")))?;
        if let Some((id, _)) = &t.running {
            if rollout_runs(reg.workflow, id) {
                return Ok(HooksResult::Done);
            }
        }
        t.running = None;
        let Some(revision) = t.queued.take() else {
            return Ok(HooksResult::Done);
        };
        if let Some(f) = t
            .firings
            .iter_mut()
            .rev()
            .find(|f| f.revision == revision && f.outcome == FiringOutcome::Queued)
        {
            // The queued firing starts now: it gets a record of its own below.
            f.error = "started when the previous rollout ended".into();
        }
        let rollouts = self
            .fire(&mut reg, name, revision, note, now_ms)
            .into_iter()
            .collect();
        Ok(HooksResult::Fetched {
            revisions: Vec::new(),
            rollouts,
        })
    }

    /// Fires trigger `name` for `revision`: starts its rollout, queues the revision, or
    /// supersedes the running rollout, by the trigger's policy. Returns the rollout started.
    fn fire(
        &mut self,
        reg: &mut Registry<'_>,
        name: &str,
        revision: u64,
        note: &AuditNote,
        now_ms: u64,
    ) -> Option<String> {
        let t = self.triggers.get_mut(name)?;
        let mut superseded = None;
        if let Some((running, _)) = t.running.clone() {
            if rollout_runs(reg.workflow, &running) {
                match t.spec.policy {
                    TriggerPolicy::Queue => {
                        if let Some(old) = t.queued.replace(revision) {
                            t.supersede_queued(old);
                        }
                        t.push_firing(Firing {
                            revision,
                            rollout: None,
                            at_ms: now_ms,
                            outcome: FiringOutcome::Queued,
                            error: format!("waits for rollout {running} to end"),
                        });
                        audit_firing(
                            reg.audit,
                            t,
                            revision,
                            note,
                            now_ms,
                            &format!("queued behind {running}"),
                        );
                        return None;
                    }
                    TriggerPolicy::Supersede => {
                        let _ = reg.workflow.control_rollout(
                            reg.kv,
                            &running,
                            RolloutOp::Cancel,
                            now_ms,
                        );
                        superseded = Some(running);
                    }
                }
            }
            t.running = None;
        }
        let mut spec = t.spec.rollout.clone();
        if let RolloutAction::Update { revision: r, .. } = &mut spec.action {
            *r = Some(revision);
        }
        let started = check_blueprint(reg.workflow, &t.spec.blueprint, &spec.group)
            .and_then(|()| reg.workflow.start_rollout(reg.kv, &spec, now_ms));
        let (rollout, outcome, error) = match started {
            Ok(WorkflowResult::Rollout { id }) => (Some(id), FiringOutcome::Started, String::new()),
            Ok(other) => (
                None,
                FiringOutcome::Failed,
                format!("starting the rollout gave {other:?}"),
            ),
            Err(e) => (None, FiringOutcome::Failed, e.to_string()),
        };
        let error = match (&superseded, error.is_empty()) {
            (Some(old), true) => format!("cancelled rollout {old}, which it supersedes"),
            _ => error,
        };
        if let Some(id) = &rollout {
            t.running = Some((id.clone(), revision));
        }
        t.push_firing(Firing {
            revision,
            rollout: rollout.clone(),
            at_ms: now_ms,
            outcome,
            error: bounded(&error, MAX_DETAIL),
        });
        let what = match &rollout {
            Some(id) => format!("started {id}"),
            None => format!("refused: {error}"),
        };
        audit_firing(reg.audit, t, revision, note, now_ms, &what);
        rollout
    }
}

/// Writes an audit record of an event no client sent: `[who, operation, object, outcome]`.
fn record_event(
    audit: &mut AuditState,
    note: &AuditNote,
    now_ms: u64,
    [who, operation, object, outcome]: [&str; 4],
) {
    audit.append_event(&AuditEvent {
        who,
        operation,
        object,
        peer: &note.peer,
        member: note.member,
        at_ms: now_ms,
        retention: note.retention,
        outcome,
    });
}

/// Replaces the object stored under `name` (keeping what it has recorded), or creates it.
fn upsert<T>(
    map: &mut BTreeMap<String, T>,
    name: &str,
    replace: impl FnOnce(&mut T),
    create: impl FnOnce() -> T,
) -> HooksResult {
    match map.get_mut(name) {
        Some(existing) => {
            replace(existing);
            HooksResult::Put { created: false }
        }
        None => {
            map.insert(name.to_string(), create());
            HooksResult::Put { created: true }
        }
    }
}

/// True while rollout `id` exists and has not ended.
fn rollout_runs(workflow: &WorkflowState, id: &str) -> bool {
    workflow
        .rollouts
        .rollouts
        .get(id)
        .is_some_and(|r| !r.state.is_ended())
}

/// Every environment group `group` selects must run `blueprint`: an update to revision N
/// of one blueprint must not move another blueprint's environments to its revision N.
fn check_blueprint(workflow: &WorkflowState, blueprint: &str, group: &str) -> Res<()> {
    let Some(g) = workflow.rollouts.groups.get(group) else {
        return Err(WorkflowError::NotFound(format!("group {group}")));
    };
    let others: Vec<String> = workflow
        .group_members(g)
        .into_iter()
        .filter(|e| {
            workflow
                .environments
                .get(e)
                .is_some_and(|env| env.blueprint != blueprint)
        })
        .take(3)
        .collect();
    if others.is_empty() {
        Ok(())
    } else {
        Err(WorkflowError::FailedPrecondition(format!(
            "group {group} selects environments of other blueprints than {blueprint} ({}): narrow the group to {blueprint}'s environments",
            others.join(", ")
        )))
    }
}

fn audit_firing(
    audit: &mut AuditState,
    t: &Trigger,
    revision: u64,
    note: &AuditNote,
    now_ms: u64,
    outcome: &str,
) {
    let who = format!("source:{}", t.spec.source);
    let object = format!(
        "trigger {}: {}@{revision} on group {}",
        t.spec.name, t.spec.blueprint, t.spec.rollout.group
    );
    record_event(
        audit,
        note,
        now_ms,
        [&who, "trigger.fire", &object, outcome],
    );
}
