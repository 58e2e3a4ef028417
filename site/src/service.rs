//! The gRPC face of a sitesim: [`SiteAgent`] (the site protocol Moor's leader speaks) and
//! [`SiteSimAdmin`] (test control). Validates requests, converts between wire messages and
//! [`SiteSim`] calls; all behaviour lives in `sim/` and `protocol/`.
//!
//! Over TLS ([`SimService::members_only`]) every `SiteAgent` call must come from a member
//! (see [`crate::callers`]); that is checked first, before the request is even read, so a
//! refused call is not validated, applied, fenced or journaled.

use moor_proto::site::site_agent_server::SiteAgent;
use moor_proto::site::site_sim_admin_server::SiteSimAdmin;
use moor_proto::site::{
    ApplyRequest, ApplyResponse, DeleteRequest, FlushJournalRequest, FlushJournalResponse,
    IdempotencyKey, InjectDriftRequest, InjectDriftResponse, ObserveRequest, ObserveResponse,
    ResourceRef, SetUnreachableRequest, SetUnreachableResponse, SiteSimStatsRequest,
    SiteSimStatsResponse,
};
use tonic::{Request, Response, Status};

use crate::callers::Callers;
use crate::errors::SimError;
use crate::request;
use crate::sim::{MutateCall, SiteSim};

/// Serves [`SiteAgent`] and [`SiteSimAdmin`] over one [`SiteSim`].
#[derive(Clone)]
pub struct SimService {
    sim: SiteSim,
    /// Who may call `SiteAgent`: anyone (plaintext) or members only (TLS).
    callers: Callers,
}

impl SimService {
    /// Every caller may call (plaintext).
    pub fn new(sim: SiteSim) -> Self {
        SimService {
            sim,
            callers: Callers::anyone(),
        }
    }

    /// Only members may call `SiteAgent`: for a server whose TLS handshake already verified
    /// the client certificate against the CA.
    pub fn members_only(sim: SiteSim) -> Self {
        SimService {
            sim,
            callers: Callers::members_only(),
        }
    }

    /// Refuses the call unless its caller may call (see [`Callers::check`]). Runs before
    /// anything else in a `SiteAgent` handler.
    fn caller_is_member<T>(&self, request: &Request<T>) -> Result<(), SimError> {
        Ok(self.callers.check(request)?)
    }

    /// Counts the call in the `traced` statistic when it carries a well-formed W3C
    /// `traceparent` (version 00: `00-<32 hex>-<16 hex>-<2 hex>`).
    fn count_trace_context<T>(&self, request: &Request<T>) {
        let well_formed = request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_traceparent);
        if well_formed {
            self.sim.count_traced();
        }
    }
}

/// Whether `value` is a W3C `traceparent` of version 00 with a valid trace and span id.
fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    matches!(parts.as_slice(), [version, trace, span, flags]
        if *version == "00" && hex(trace, 32) && hex(span, 16) && hex(flags, 2)
            && trace.bytes().any(|b| b != b'0') && span.bytes().any(|b| b != b'0'))
}

fn name(field: &'static str, value: &str) -> Result<(), SimError> {
    Ok(request::name(field, value)?)
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

#[tonic::async_trait]
impl SiteAgent for SimService {
    async fn apply(
        &self,
        request: Request<ApplyRequest>,
    ) -> Result<Response<ApplyResponse>, Status> {
        self.caller_is_member(&request)?;
        self.count_trace_context(&request);
        let req = request.into_inner();
        let target = request::target(req.target).map_err(SimError::from)?;
        let key = request::key(req.key).map_err(SimError::from)?;
        if !req.properties_json.is_empty() {
            serde_json::from_str::<serde::de::IgnoredAny>(&req.properties_json)
                .map_err(|e| SimError::invalid("properties_json", format!("not JSON: {e}")))?;
        }
        let apply = Some((req.properties_json, req.desired_digest));
        let call = mutate_call(target, key, req.attempt, req.fence_token, apply);
        Ok(Response::new(self.sim.mutate(call).await?.into()))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<ApplyResponse>, Status> {
        self.caller_is_member(&request)?;
        self.count_trace_context(&request);
        let req = request.into_inner();
        let target = request::target(req.target).map_err(SimError::from)?;
        let key = request::key(req.key).map_err(SimError::from)?;
        let call = mutate_call(target, key, req.attempt, req.fence_token, None);
        Ok(Response::new(self.sim.mutate(call).await?.into()))
    }

    async fn observe(
        &self,
        request: Request<ObserveRequest>,
    ) -> Result<Response<ObserveResponse>, Status> {
        self.caller_is_member(&request)?;
        self.count_trace_context(&request);
        let target =
            request::observe_target(request.into_inner().target).map_err(SimError::from)?;
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
            traced: s.traced,
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

#[cfg(test)]
mod tests {
    use super::is_traceparent;

    #[test]
    fn only_well_formed_trace_contexts_count() {
        assert!(is_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(!is_traceparent(bad), "{bad}");
        }
    }
}
