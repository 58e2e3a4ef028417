//! The site-protocol driver: speaks `moor.site.v1.SiteAgent` to site agents and
//! `moor-sitesim`, one cached channel per agent endpoint, the step timeout as each call's
//! deadline, and the site's answer mapped to done / failed / fenced.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use moor_proto::site::site_agent_client::SiteAgentClient;
use moor_proto::site::{
    ApplyRequest, ApplyResponse, DeleteRequest, IdempotencyKey, ObserveRequest, Outcome,
    ResourceRef,
};
use tonic::transport::{Channel, Endpoint};

use moor_domain::execution::StepAction;
use moor_domain::site::{Driver, Site};

use crate::exec::driver::{DriverCall, DriverResult, SiteDriver};

/// The site-protocol driver, with one cached channel per agent endpoint.
#[derive(Clone, Default)]
pub struct AgentDriver {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

impl AgentDriver {
    fn agent(&self, endpoint: &str) -> Result<SiteAgentClient<Channel>, String> {
        let mut map = self.channels.lock().expect("driver channel cache poisoned");
        let channel = match map.get(endpoint) {
            Some(c) => c.clone(),
            None => {
                let c = Endpoint::from_shared(format!("http://{endpoint}"))
                    .map_err(|e| format!("bad agent endpoint {endpoint}: {e}"))?
                    .connect_timeout(Duration::from_secs(2))
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(10))
                    .connect_lazy();
                map.insert(endpoint.to_string(), c.clone());
                c
            }
        };
        Ok(SiteAgentClient::new(channel))
    }

    /// Performs one step at its site.
    async fn call_agent(&self, call: &DriverCall) -> DriverResult {
        let Driver::Agent { endpoint } = &call.site.driver;
        let mut client = match self.agent(endpoint) {
            Ok(c) => c,
            Err(error) => {
                return DriverResult::Failed {
                    error,
                    retryable: false,
                }
            }
        };
        let target = Some(ResourceRef {
            site: call.site.name.clone(),
            environment: call.environment.clone(),
            resource: call.resource.clone(),
            resource_type: call.resource_type.clone(),
        });
        let key = Some(IdempotencyKey {
            execution_id: call.execution_id.clone(),
            step: call.step,
        });
        let response = match call.action {
            StepAction::Create | StepAction::Modify => {
                let mut req = tonic::Request::new(ApplyRequest {
                    target,
                    key,
                    attempt: call.attempt,
                    fence_token: call.fence_token,
                    properties_json: call.properties_json.clone(),
                    desired_digest: call.desired_digest.clone(),
                });
                req.set_timeout(call.timeout);
                client.apply(req).await
            }
            StepAction::Delete => {
                let mut req = tonic::Request::new(DeleteRequest {
                    target,
                    key,
                    attempt: call.attempt,
                    fence_token: call.fence_token,
                });
                req.set_timeout(call.timeout);
                client.delete(req).await
            }
        };
        match response {
            Ok(r) => interpret(r.into_inner()),
            Err(status) => DriverResult::Failed {
                error: format!(
                    "site {} unreachable or not answering ({}): {}",
                    call.site.name,
                    status.code(),
                    status.message()
                ),
                retryable: true,
            },
        }
    }
}

impl AgentDriver {
    /// What the site holds for `environment`: digest per resource.
    async fn observe_agent(
        &self,
        site: &Site,
        environment: &str,
        timeout: Duration,
    ) -> Result<BTreeMap<String, String>, String> {
        let Driver::Agent { endpoint } = &site.driver;
        let mut client = self.agent(endpoint)?;
        let mut req = tonic::Request::new(ObserveRequest {
            target: Some(ResourceRef {
                site: site.name.clone(),
                environment: environment.to_string(),
                resource: String::new(),
                resource_type: String::new(),
            }),
        });
        req.set_timeout(timeout);
        let resp = client
            .observe(req)
            .await
            .map_err(|s| format!("observing site {}: {}", site.name, s.message()))?;
        Ok(resp
            .into_inner()
            .resources
            .into_iter()
            .map(|r| (r.resource, r.observed_digest))
            .collect())
    }
}

impl SiteDriver for AgentDriver {
    fn call<'a>(&'a self, call: &'a DriverCall) -> BoxFuture<'a, DriverResult> {
        self.call_agent(call).boxed()
    }

    fn observe<'a>(
        &'a self,
        site: &'a Site,
        environment: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>> {
        self.observe_agent(site, environment, timeout).boxed()
    }
}

fn interpret(r: ApplyResponse) -> DriverResult {
    match Outcome::try_from(r.outcome) {
        Ok(Outcome::Applied) | Ok(Outcome::Duplicate) => DriverResult::Done {
            observed_digest: r.observed_digest,
        },
        Ok(Outcome::Fenced) => DriverResult::Fenced {
            highest_token: r.highest_token,
        },
        Ok(Outcome::Failed) => DriverResult::Failed {
            error: if r.error.is_empty() {
                "the site reported a failure without a message".into()
            } else {
                r.error
            },
            retryable: true,
        },
        Ok(Outcome::Unspecified) | Err(_) => DriverResult::Failed {
            error: format!("the site answered with an unknown outcome {}", r.outcome),
            retryable: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_executor_actions() {
        let r = |outcome: Outcome| ApplyResponse {
            outcome: outcome as i32,
            observed_digest: "abc".into(),
            error: String::new(),
            highest_token: 7,
        };
        assert_eq!(
            interpret(r(Outcome::Duplicate)),
            DriverResult::Done {
                observed_digest: "abc".into()
            }
        );
        assert_eq!(
            interpret(r(Outcome::Fenced)),
            DriverResult::Fenced { highest_token: 7 }
        );
        assert!(matches!(
            interpret(r(Outcome::Failed)),
            DriverResult::Failed {
                retryable: true,
                ..
            }
        ));
        assert!(matches!(
            interpret(ApplyResponse {
                outcome: 99,
                ..r(Outcome::Applied)
            }),
            DriverResult::Failed { .. }
        ));
    }
}
