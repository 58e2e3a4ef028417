//! The gRPC face of a sitesim: [`SiteAgent`] (the site protocol Moor's leader speaks) and
//! [`SiteSimAdmin`] (test control). Validates requests, converts between wire messages and
//! [`SiteSim`] calls; all behaviour lives in `sim/` and `protocol/`.
//!
//! Over TLS ([`SimService::members_only`]) every `SiteAgent` call must come from a member:
//! the client certificate (already verified against the CA by the handshake) must carry a
//! `member-<id>.moor` DNS name. That is checked first, before the request is even read, so a
//! refused call is not validated, applied, fenced or journaled: a certificate of the CA that
//! is not a member's (an operator's, a CI job's) cannot move a site's fence token.

use moor_proto::site::site_agent_server::SiteAgent;
use moor_proto::site::site_sim_admin_server::SiteSimAdmin;
use moor_proto::site::{
    ApplyRequest, ApplyResponse, DeleteRequest, FlushJournalRequest, FlushJournalResponse,
    IdempotencyKey, InjectDriftRequest, InjectDriftResponse, ObserveRequest, ObserveResponse,
    ResourceRef, SetUnreachableRequest, SetUnreachableResponse, SiteSimStatsRequest,
    SiteSimStatsResponse,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moor_tls::{member_id_of, subject_of};
use tonic::{Request, Response, Status};

use crate::errors::SimError;
use crate::protocol::Answer;
use crate::sim::{MutateCall, SiteSim};
use crate::MAX_NAME_BYTES;

/// Serves [`SiteAgent`] and [`SiteSimAdmin`] over one [`SiteSim`].
#[derive(Clone)]
pub struct SimService {
    sim: SiteSim,
    /// Refuse `SiteAgent` calls whose client certificate names no member (TLS only).
    members_only: bool,
    refusals: Arc<Refusals>,
}

/// Counts callers refused for not being members, and says so in the log at most every 10 s:
/// someone trying must be visible to an operator without flooding the log.
#[derive(Default)]
struct Refusals {
    count: AtomicU64,
    last_log: Mutex<Option<Instant>>,
}

impl Refusals {
    fn record(&self, peer: &str, presented: &str) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(peer, presented, "SiteAgent call refused: not a member");
        let Ok(mut last) = self.last_log.lock() else {
            return;
        };
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(peer, presented, refused_total = n, "SiteAgent call refused: the client certificate names no member (logged at most every 10 s; debug logs show each)");
        }
    }
}

impl SimService {
    /// Every caller may call (plaintext).
    pub fn new(sim: SiteSim) -> Self {
        SimService {
            sim,
            members_only: false,
            refusals: Arc::default(),
        }
    }

    /// Only members may call `SiteAgent`: for a server whose TLS handshake already verified
    /// the client certificate against the CA.
    pub fn members_only(sim: SiteSim) -> Self {
        SimService {
            members_only: true,
            ..SimService::new(sim)
        }
    }

    /// Refuses the call unless its verified client certificate names a member. Runs before
    /// anything else in a `SiteAgent` handler.
    fn caller_is_member<T>(&self, request: &Request<T>) -> Result<(), SimError> {
        if !self.members_only {
            return Ok(());
        }
        let certs = request.peer_certs();
        let leaf = certs.as_ref().and_then(|c| c.first());
        if leaf.is_some_and(|c| !member_id_of(c).is_empty()) {
            return Ok(());
        }
        let presented = match leaf.and_then(|c| subject_of(c)) {
            Some(s) => format!(
                "this client's certificate (CN {}) names no member",
                s.common_name
            ),
            None if leaf.is_some() => "this client's certificate names no member".to_string(),
            None => "this client presented no certificate".to_string(),
        };
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        self.refusals.record(&peer, &presented);
        Err(SimError::NotAMember { presented })
    }
}

fn name(field: &'static str, value: &str) -> Result<(), SimError> {
    if value.is_empty() {
        return Err(SimError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(SimError::invalid(
            field,
            format!("{} bytes, at most {MAX_NAME_BYTES}", value.len()),
        ));
    }
    Ok(())
}

/// The target of a mutating call: site, environment and resource all named.
fn target(target: Option<ResourceRef>) -> Result<ResourceRef, SimError> {
    let target = target.ok_or_else(|| SimError::invalid("target", "missing"))?;
    name("target.site", &target.site)?;
    name("target.environment", &target.environment)?;
    name("target.resource", &target.resource)?;
    Ok(target)
}

fn key(key: Option<IdempotencyKey>) -> Result<IdempotencyKey, SimError> {
    let key = key.ok_or_else(|| SimError::invalid("key", "missing"))?;
    name("key.execution_id", &key.execution_id)?;
    Ok(key)
}

/// An apply (`apply` is `Some((properties_json, desired_digest))`) or a delete (`None`), as
/// the simulator takes it.
fn mutate_call(
    target: ResourceRef,
    key: IdempotencyKey,
    attempt: u32,
    fence_token: u64,
    apply: Option<(String, String)>,
) -> MutateCall {
    MutateCall {
        site: target.site,
        environment: target.environment,
        resource: target.resource,
        execution_id: key.execution_id,
        step: key.step,
        attempt,
        fence_token,
        apply,
    }
}

fn response(answer: Answer) -> Response<ApplyResponse> {
    Response::new(ApplyResponse {
        outcome: answer.outcome as i32,
        observed_digest: answer.observed_digest,
        error: answer.error,
        highest_token: answer.highest_token,
    })
}

#[tonic::async_trait]
impl SiteAgent for SimService {
    async fn apply(
        &self,
        request: Request<ApplyRequest>,
    ) -> Result<Response<ApplyResponse>, Status> {
        self.caller_is_member(&request)?;
        let req = request.into_inner();
        let target = target(req.target)?;
        let key = key(req.key)?;
        if !req.properties_json.is_empty() {
            serde_json::from_str::<serde::de::IgnoredAny>(&req.properties_json)
                .map_err(|e| SimError::invalid("properties_json", format!("not JSON: {e}")))?;
        }
        let apply = Some((req.properties_json, req.desired_digest));
        let call = mutate_call(target, key, req.attempt, req.fence_token, apply);
        Ok(response(self.sim.mutate(call).await?))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<ApplyResponse>, Status> {
        self.caller_is_member(&request)?;
        let req = request.into_inner();
        let target = target(req.target)?;
        let key = key(req.key)?;
        let call = mutate_call(target, key, req.attempt, req.fence_token, None);
        Ok(response(self.sim.mutate(call).await?))
    }

    async fn observe(
        &self,
        request: Request<ObserveRequest>,
    ) -> Result<Response<ObserveResponse>, Status> {
        self.caller_is_member(&request)?;
        let target = request
            .into_inner()
            .target
            .ok_or_else(|| SimError::invalid("target", "missing"))?;
        name("target.site", &target.site)?;
        name("target.environment", &target.environment)?;
        let resources = self
            .sim
            .observe(&target.site, &target.environment, &target.resource)
            .await?;
        Ok(Response::new(ObserveResponse { resources }))
    }
}

#[tonic::async_trait]
impl SiteSimAdmin for SimService {
    async fn inject_drift(
        &self,
        request: Request<InjectDriftRequest>,
    ) -> Result<Response<InjectDriftResponse>, Status> {
        let req = request.into_inner();
        name("site", &req.site)?;
        name("environment", &req.environment)?;
        name("resource", &req.resource)?;
        let observed_digest = self
            .sim
            .inject_drift(&req.site, &req.environment, &req.resource)
            .await?;
        Ok(Response::new(InjectDriftResponse { observed_digest }))
    }

    async fn set_unreachable(
        &self,
        request: Request<SetUnreachableRequest>,
    ) -> Result<Response<SetUnreachableResponse>, Status> {
        let req = request.into_inner();
        name("site", &req.site)?;
        let was_unreachable = self.sim.set_unreachable(&req.site, req.unreachable);
        Ok(Response::new(SetUnreachableResponse { was_unreachable }))
    }

    async fn stats(
        &self,
        _request: Request<SiteSimStatsRequest>,
    ) -> Result<Response<SiteSimStatsResponse>, Status> {
        let s = self.sim.stats();
        Ok(Response::new(SiteSimStatsResponse {
            sites: s.sites,
            applied: s.applied,
            duplicate: s.duplicate,
            fenced: s.fenced,
            failed: s.failed,
            observed: s.observed,
            held_now: s.held_now,
            held_total: s.held_total,
            drift_injected: s.drift_injected,
            journal_lines_written: s.journal_lines_written,
            journal_error: s.journal_error.unwrap_or_default(),
        }))
    }

    async fn flush_journal(
        &self,
        _request: Request<FlushJournalRequest>,
    ) -> Result<Response<FlushJournalResponse>, Status> {
        let flushed = self.sim.flush_journal().await?;
        Ok(Response::new(FlushJournalResponse {
            enabled: flushed.is_some(),
            lines_written: flushed.unwrap_or(0),
        }))
    }
}
