//! The hooks API ([`HookApi`]): webhook receivers and their deliveries, Git sources and
//! triggers. Requests are checked here, so a bad one costs no log entry and its error names
//! the field; apply checks again against the state it runs on. Secrets are write-only: no
//! read returns one (a fingerprint tells two apart).

use std::sync::Arc;

use moor_domain::auth::permission::Target;
use moor_domain::hooks::receiver::{Receiver, ReceiverKind, ReceiverSpec};
use moor_domain::hooks::source::{Source, SourceSpec};
use moor_domain::hooks::trigger::{Trigger, TriggerPolicy, TriggerSpec};
use moor_domain::hooks::{HooksCommand, HooksResult};
use moor_domain::names::WireName;
use moor_domain::rollout::{RolloutAction, RolloutSpec};
use moor_proto::hooks as pb;
use moor_proto::hooks::hook_api_server::HookApi;
use moor_proto::rollout::StartRolloutRequest;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::api::rollout_service::spec_from_msg;
use crate::api::sealing::seal_rollout_inputs;
use crate::api::shared::{read_state, write_hooks};
use crate::errors::ApiError;
use crate::exec::executor::now_ms;
use crate::raft::member::Member;

/// Deliveries a listing returns when asked for none in particular, and at most.
const DEFAULT_DELIVERIES: u32 = 50;
const MAX_DELIVERIES_PAGE: u32 = 1_000;

/// Serves [`HookApi`] for one member.
pub struct HookService {
    member: Arc<Member>,
}

impl HookService {
    pub fn new(member: Arc<Member>) -> Self {
        HookService { member }
    }

    async fn put(&self, command: HooksCommand, target: Target) -> Result<bool, Status> {
        match write_hooks(&self.member, command, target).await? {
            HooksResult::Put { created } => Ok(created),
            other => Err(ApiError::Internal(format!("a put answered {other:?}")).into()),
        }
    }

    async fn delete(&self, command: HooksCommand, name: String) -> Result<bool, Status> {
        match write_hooks(&self.member, command, named(&name)).await? {
            HooksResult::Deleted { deleted } => Ok(deleted),
            other => Err(ApiError::Internal(format!("a delete answered {other:?}")).into()),
        }
    }
}

fn named(name: &str) -> Target {
    Target {
        name: Some(name.to_string()),
        ..Target::default()
    }
}

fn need_name(field: &str, name: &str, example: &str) -> Result<(), Status> {
    if name.is_empty() {
        return Err(ApiError::invalid(field, format!("is empty: name one, e.g. {example}")).into());
    }
    Ok(())
}

fn refuse(field: &str, problems: Vec<String>) -> Result<(), Status> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(field, problems.join("; ")).into())
    }
}

/// The first 8 hex digits of the SHA-256 of a secret: tells two secrets apart, reveals
/// nothing usable.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn receiver_msg(r: &Receiver) -> pb::Receiver {
    pb::Receiver {
        name: r.spec.name.clone(),
        r#type: r.spec.kind.as_str().to_string(),
        secret: String::new(),
        max_body_bytes: r.spec.max_body_bytes(),
        rate_per_minute: r.spec.rate_per_minute(),
        timestamp_tolerance_s: r.spec.tolerance_s(),
        created_ms: r.created_ms,
        updated_ms: r.updated_ms,
        deliveries: r.recorded,
        path: format!("/hooks/{}", r.spec.name),
        secret_fingerprint: fingerprint(&r.spec.secret),
    }
}

fn source_msg(s: &Source) -> pb::Source {
    let (error, error_commit, error_ms) = match &s.error {
        Some(e) => (
            e.message.clone(),
            e.commit.clone().unwrap_or_default(),
            e.at_ms,
        ),
        None => (String::new(), String::new(), 0),
    };
    pb::Source {
        name: s.spec.name.clone(),
        url: s.spec.url.clone(),
        branch: s.spec.branch.clone(),
        path: s.spec.path.clone(),
        credentials_file: s.spec.credentials_file.clone().unwrap_or_default(),
        poll_interval_ms: s.spec.poll_ms,
        created_ms: s.created_ms,
        updated_ms: s.updated_ms,
        commit: s.commit.clone().unwrap_or_default(),
        fetched_ms: s.fetched_ms,
        error,
        error_commit,
        error_ms,
        fetch_pending: s.pending.is_some(),
        blueprints: s
            .blueprints
            .iter()
            .map(|(path, (blueprint, revision))| pb::SourceBlueprint {
                path: path.clone(),
                blueprint: blueprint.clone(),
                revision: *revision,
            })
            .collect(),
    }
}

/// A rollout spec as the request that would start it (the trigger's template).
fn request_of(spec: &RolloutSpec) -> StartRolloutRequest {
    let inputs_json = match &spec.action {
        RolloutAction::Update {
            inputs: Some(i), ..
        } => serde_json::to_string(i).unwrap_or_default(),
        _ => String::new(),
    };
    StartRolloutRequest {
        group: spec.group.clone(),
        action: spec.action.name().to_string(),
        blueprint: String::new(),
        revision: 0,
        inputs_json,
        environment_name: String::new(),
        labels: Default::default(),
        max_parallel: i64::from(spec.max_parallel),
        waves: spec.waves.text.clone(),
        require_approval: spec.require_approval,
        max_failed: spec.budget.max_failed.map(i64::from),
        max_failed_percent: spec.budget.max_failed_percent.map(i64::from),
        max_attempts: spec.retry.max_attempts,
        backoff_base_ms: spec.retry.backoff_base_ms,
        backoff_max_ms: spec.retry.backoff_max_ms,
        step_timeout_ms: spec.retry.step_timeout_ms,
    }
}

fn trigger_msg(t: &Trigger) -> pb::Trigger {
    pb::Trigger {
        name: t.spec.name.clone(),
        source: t.spec.source.clone(),
        blueprint: t.spec.blueprint.clone(),
        rollout: Some(request_of(&t.spec.rollout)),
        policy: t.spec.policy.as_str().to_string(),
        created_ms: t.created_ms,
        running_rollout: t
            .running
            .as_ref()
            .map(|(id, _)| id.clone())
            .unwrap_or_default(),
        queued_revision: t.queued.unwrap_or(0),
        firings: t
            .firings
            .iter()
            .map(|f| pb::TriggerFiring {
                revision: f.revision,
                rollout: f.rollout.clone().unwrap_or_default(),
                at_ms: f.at_ms,
                error: f.error.clone(),
                outcome: f.outcome.as_str().to_string(),
            })
            .collect(),
    }
}

fn receiver_spec(r: pb::Receiver) -> Result<ReceiverSpec, Status> {
    need_name("receiver.name", &r.name, "github")?;
    let kind = ReceiverKind::parse(&r.r#type).ok_or_else(|| {
        Status::from(ApiError::invalid(
            "receiver.type",
            format!(
                "{:?} is not a receiver type: use {}",
                r.r#type,
                ReceiverKind::one_of()
            ),
        ))
    })?;
    let spec = ReceiverSpec {
        name: r.name,
        kind,
        secret: r.secret.trim().to_string(),
        max_body_bytes: r.max_body_bytes,
        rate_per_minute: r.rate_per_minute,
        tolerance_s: r.timestamp_tolerance_s,
    };
    refuse("receiver", spec.problems())?;
    Ok(spec)
}

fn source_spec(s: pb::Source) -> Result<SourceSpec, Status> {
    need_name("source.name", &s.name, "blueprints")?;
    let spec = SourceSpec {
        name: s.name,
        url: s.url.trim().to_string(),
        branch: if s.branch.is_empty() {
            "main".to_string()
        } else {
            s.branch
        },
        path: s.path.trim_matches('/').to_string(),
        credentials_file: (!s.credentials_file.is_empty()).then_some(s.credentials_file),
        poll_ms: s.poll_interval_ms,
    };
    refuse("source", spec.problems())?;
    Ok(spec)
}

fn trigger_spec(t: pb::Trigger) -> Result<TriggerSpec, Status> {
    need_name("trigger.name", &t.name, "hello-edge")?;
    need_name("trigger.source", &t.source, "blueprints")?;
    need_name("trigger.blueprint", &t.blueprint, "hello")?;
    let mut request = t.rollout.ok_or_else(|| {
        Status::from(ApiError::invalid(
            "trigger.rollout",
            "is missing: give the rollout to start (group, waves, budget)",
        ))
    })?;
    if request.action.is_empty() {
        request.action = "update".into();
    }
    if request.action != "update" {
        return Err(ApiError::invalid(
            "trigger.rollout.action",
            format!(
                "{:?}: a trigger starts update rollouts (to each new revision of its blueprint)",
                request.action
            ),
        )
        .into());
    }
    if request.revision != 0 {
        return Err(ApiError::invalid(
            "trigger.rollout.revision",
            "is set by the trigger (each new revision); leave it 0",
        )
        .into());
    }
    let rollout = spec_from_msg(request)?;
    let policy = if t.policy.is_empty() {
        TriggerPolicy::Queue
    } else {
        TriggerPolicy::parse(&t.policy).ok_or_else(|| {
            Status::from(ApiError::invalid(
                "trigger.policy",
                format!(
                    "{:?} is not a policy: use {}",
                    t.policy,
                    TriggerPolicy::one_of()
                ),
            ))
        })?
    };
    Ok(TriggerSpec {
        name: t.name,
        source: t.source,
        blueprint: t.blueprint,
        rollout,
        policy,
    })
}

#[tonic::async_trait]
impl HookApi for HookService {
    async fn put_receiver(
        &self,
        request: Request<pb::PutReceiverRequest>,
    ) -> Result<Response<pb::PutReceiverResponse>, Status> {
        let r = request
            .into_inner()
            .receiver
            .ok_or_else(|| Status::from(ApiError::invalid("receiver", "is missing")))?;
        let spec = receiver_spec(r)?;
        let path = format!("/hooks/{}", spec.name);
        let target = named(&spec.name);
        let created = self
            .put(
                HooksCommand::PutReceiver {
                    spec,
                    now_ms: now_ms(),
                },
                target,
            )
            .await?;
        Ok(Response::new(pb::PutReceiverResponse { created, path }))
    }

    async fn get_receiver(
        &self,
        request: Request<pb::GetReceiverRequest>,
    ) -> Result<Response<pb::Receiver>, Status> {
        let r = request.into_inner();
        read_state(&self.member, r.stale, |s| {
            s.hooks
                .receivers
                .get(&r.name)
                .map(|x| Response::new(receiver_msg(x)))
                .ok_or_else(|| Status::not_found(format!("receiver {} not found", r.name)))
        })
        .await
    }

    async fn list_receivers(
        &self,
        request: Request<pb::ListReceiversRequest>,
    ) -> Result<Response<pb::ListReceiversResponse>, Status> {
        read_state(&self.member, request.into_inner().stale, |s| {
            Ok(Response::new(pb::ListReceiversResponse {
                receivers: s.hooks.receivers.values().map(receiver_msg).collect(),
            }))
        })
        .await
    }

    async fn delete_receiver(
        &self,
        request: Request<pb::DeleteReceiverRequest>,
    ) -> Result<Response<pb::DeleteReceiverResponse>, Status> {
        let name = request.into_inner().name;
        need_name("name", &name, "github")?;
        let deleted = self
            .delete(HooksCommand::DeleteReceiver { name: name.clone() }, name)
            .await?;
        Ok(Response::new(pb::DeleteReceiverResponse { deleted }))
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let r = request.into_inner();
        let limit = match r.limit {
            0 => DEFAULT_DELIVERIES,
            n => n.min(MAX_DELIVERIES_PAGE),
        } as usize;
        read_state(&self.member, r.stale, |s| {
            let receiver =
                s.hooks.receivers.get(&r.receiver).ok_or_else(|| {
                    Status::not_found(format!("receiver {} not found", r.receiver))
                })?;
            let skip = receiver.deliveries.len().saturating_sub(limit);
            Ok(Response::new(pb::ListDeliveriesResponse {
                deliveries: receiver
                    .deliveries
                    .iter()
                    .skip(skip)
                    .map(|d| pb::Delivery {
                        id: d.id.clone(),
                        received_ms: d.received_ms,
                        event: d.event.clone(),
                        verdict: d.verdict.as_str().to_string(),
                        detail: d.detail.clone(),
                        repository: d.repository.clone(),
                        branch: d.branch.clone(),
                        commit: d.commit.clone(),
                        sources: d.sources.clone(),
                        member: d.member,
                    })
                    .collect(),
            }))
        })
        .await
    }

    async fn put_source(
        &self,
        request: Request<pb::PutSourceRequest>,
    ) -> Result<Response<pb::PutSourceResponse>, Status> {
        let s = request
            .into_inner()
            .source
            .ok_or_else(|| Status::from(ApiError::invalid("source", "is missing")))?;
        let spec = source_spec(s)?;
        let target = named(&spec.name);
        let created = self
            .put(
                HooksCommand::PutSource {
                    spec,
                    now_ms: now_ms(),
                },
                target,
            )
            .await?;
        Ok(Response::new(pb::PutSourceResponse { created }))
    }

    async fn get_source(
        &self,
        request: Request<pb::GetSourceRequest>,
    ) -> Result<Response<pb::Source>, Status> {
        let r = request.into_inner();
        read_state(&self.member, r.stale, |s| {
            s.hooks
                .sources
                .get(&r.name)
                .map(|x| Response::new(source_msg(x)))
                .ok_or_else(|| Status::not_found(format!("source {} not found", r.name)))
        })
        .await
    }

    async fn list_sources(
        &self,
        request: Request<pb::ListSourcesRequest>,
    ) -> Result<Response<pb::ListSourcesResponse>, Status> {
        read_state(&self.member, request.into_inner().stale, |s| {
            Ok(Response::new(pb::ListSourcesResponse {
                sources: s.hooks.sources.values().map(source_msg).collect(),
            }))
        })
        .await
    }

    async fn delete_source(
        &self,
        request: Request<pb::DeleteSourceRequest>,
    ) -> Result<Response<pb::DeleteSourceResponse>, Status> {
        let name = request.into_inner().name;
        need_name("name", &name, "blueprints")?;
        let deleted = self
            .delete(HooksCommand::DeleteSource { name: name.clone() }, name)
            .await?;
        Ok(Response::new(pb::DeleteSourceResponse { deleted }))
    }

    async fn sync_source(
        &self,
        request: Request<pb::SyncSourceRequest>,
    ) -> Result<Response<pb::SyncSourceResponse>, Status> {
        let name = request.into_inner().name;
        need_name("name", &name, "blueprints")?;
        let target = named(&name);
        write_hooks(
            &self.member,
            HooksCommand::SyncSource {
                name,
                now_ms: now_ms(),
            },
            target,
        )
        .await?;
        Ok(Response::new(pb::SyncSourceResponse {}))
    }

    async fn put_trigger(
        &self,
        request: Request<pb::PutTriggerRequest>,
    ) -> Result<Response<pb::PutTriggerResponse>, Status> {
        let t = request
            .into_inner()
            .trigger
            .ok_or_else(|| Status::from(ApiError::invalid("trigger", "is missing")))?;
        let mut spec = trigger_spec(t)?;
        let blueprint = spec.blueprint.clone();
        seal_rollout_inputs(&self.member, &mut spec.rollout.action, Some(&blueprint)).await?;
        let target = Target {
            name: Some(spec.name.clone()),
            group: Some(spec.rollout.group.clone()),
            blueprint: Some(spec.blueprint.clone()),
        };
        let created = self
            .put(
                HooksCommand::PutTrigger {
                    spec,
                    now_ms: now_ms(),
                },
                target,
            )
            .await?;
        Ok(Response::new(pb::PutTriggerResponse { created }))
    }

    async fn get_trigger(
        &self,
        request: Request<pb::GetTriggerRequest>,
    ) -> Result<Response<pb::Trigger>, Status> {
        let r = request.into_inner();
        read_state(&self.member, r.stale, |s| {
            s.hooks
                .triggers
                .get(&r.name)
                .map(|x| Response::new(trigger_msg(x)))
                .ok_or_else(|| Status::not_found(format!("trigger {} not found", r.name)))
        })
        .await
    }

    async fn list_triggers(
        &self,
        request: Request<pb::ListTriggersRequest>,
    ) -> Result<Response<pb::ListTriggersResponse>, Status> {
        read_state(&self.member, request.into_inner().stale, |s| {
            Ok(Response::new(pb::ListTriggersResponse {
                triggers: s.hooks.triggers.values().map(trigger_msg).collect(),
            }))
        })
        .await
    }

    async fn delete_trigger(
        &self,
        request: Request<pb::DeleteTriggerRequest>,
    ) -> Result<Response<pb::DeleteTriggerResponse>, Status> {
        let name = request.into_inner().name;
        need_name("name", &name, "hello-edge")?;
        let deleted = self
            .delete(HooksCommand::DeleteTrigger { name: name.clone() }, name)
            .await?;
        Ok(Response::new(pb::DeleteTriggerResponse { deleted }))
    }
}
