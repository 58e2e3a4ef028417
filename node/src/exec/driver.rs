//! The seam between the executor and the sites: [`SiteDriver`], what the executor asks of a
//! site, and the call and answer types. Implementations: `agent.rs` (the site protocol,
//! `moor.site.v1.SiteAgent`, spoken by site agents and `moor-sitesim`); tests plug in fakes.
//!
//! Every call carries the idempotency key (execution, step) — the same on every attempt and
//! after failover — the attempt number, and the fence token (the dispatching leader's term).
//! The driver maps the site's answer to what the executor must do: record success, record a
//! failure (retryable or not), or stop because this leader has been fenced out.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use moor_domain::execution::StepAction;
use moor_domain::site::Site;

/// One dispatched step, as the driver needs it.
#[derive(Debug, Clone)]
pub struct DriverCall {
    pub site: Site,
    pub environment: String,
    pub resource: String,
    pub resource_type: String,
    pub action: StepAction,
    pub properties_json: String,
    pub desired_digest: String,
    pub execution_id: String,
    pub step: u32,
    pub attempt: u32,
    pub fence_token: u64,
    /// The call's deadline (the step timeout).
    pub timeout: Duration,
}

/// What the site said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverResult {
    /// Applied now, or earlier under the same idempotency key.
    Done { observed_digest: String },
    /// The site accepted a higher fence token: this leader is deposed.
    Fenced { highest_token: u64 },
    /// The attempt failed.
    Failed { error: String, retryable: bool },
}

/// What the executor asks of a site. Every implementation must honour the site protocol's
/// rules for what it reports: `Done` only for an effect the site acknowledged (WF5), and
/// the same idempotency key on every attempt.
pub trait SiteDriver: Send + Sync + 'static {
    /// Performs one step at its site; never panics, never waits past `call.timeout`.
    fn call<'a>(&'a self, call: &'a DriverCall) -> BoxFuture<'a, DriverResult>;

    /// What the site holds for `environment`: digest per resource.
    fn observe<'a>(
        &'a self,
        site: &'a Site,
        environment: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>>;

    /// What the site holds for `environment` with each resource's properties as the site
    /// reports them (for a field-by-field diff). By default the digests only, with no
    /// properties: a driver that can report them overrides this.
    fn observe_details<'a>(
        &'a self,
        site: &'a Site,
        environment: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, ObservedDetail>, String>> {
        Box::pin(async move {
            let digests = self.observe(site, environment, timeout).await?;
            Ok(digests
                .into_iter()
                .map(|(resource, digest)| {
                    (
                        resource,
                        ObservedDetail {
                            digest,
                            properties_json: String::new(),
                        },
                    )
                })
                .collect())
        })
    }
}

/// One resource as a site reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedDetail {
    pub digest: String,
    /// The resource's properties as JSON; empty when the site reports none.
    pub properties_json: String,
}
