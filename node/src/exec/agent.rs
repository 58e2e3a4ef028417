//! The site-protocol driver: speaks `moor.site.v1.SiteAgent` to site agents and
//! `moor-sitesim`, one cached channel per agent endpoint, the step timeout as each call's
//! deadline, and the site's answer mapped to done / failed / fenced.
//!
//! Over TLS ([`AgentDriver::with_tls`]) each channel dials `host:port` with the member's own
//! certificate as client certificate (a site answers member certificates only) and checks the
//! site's certificate names `host`. A failed call says which site, which endpoint and why; it
//! says "nothing was applied" only when that is certain: the channel could not be made, the
//! TLS handshake failed (a TLS server hands nothing to its application before the handshake
//! completes), or the site refused the caller (a site checks the caller before any protocol
//! rule runs). Every other transport failure leaves the outcome unknown. Either way the
//! attempt is retryable: a retry carries the same idempotency key, so a step that did apply
//! answers DUPLICATE instead of applying twice, and a certificate being rotated gets time to
//! arrive.

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
use moor_tls::connector::TlsConnector;
use moor_tls::TlsReloader;
use tonic::transport::{Channel, Endpoint};

use moor_domain::execution::StepAction;
use moor_domain::site::{Driver, Site};

use crate::exec::driver::{DriverCall, DriverResult, ObservedDetail, SiteDriver};

/// The site-protocol driver, with one cached channel per agent endpoint. `Default` calls
/// sites in plaintext; [`AgentDriver::with_tls`] over TLS.
#[derive(Clone, Default)]
pub struct AgentDriver {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    /// This member's certificate, key and CA (client side): None = plaintext.
    tls: Option<Arc<TlsReloader>>,
}

/// The host of an endpoint `host:port` (an IPv6 address without its brackets): the name the
/// site's certificate must carry.
fn endpoint_host(endpoint: &str) -> Option<String> {
    let uri: tonic::codegen::http::Uri = format!("http://{endpoint}").parse().ok()?;
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some(host.to_string())
}

impl AgentDriver {
    /// A driver that calls every site over TLS: the member's certificate (from `tls`, reloaded
    /// when its files change) is the client certificate, `tls`'s CA must have signed the
    /// site's certificate, and that certificate must name the host of the site's endpoint.
    pub fn with_tls(tls: Arc<TlsReloader>) -> AgentDriver {
        AgentDriver {
            channels: Arc::default(),
            tls: Some(tls),
        }
    }

    /// The cached client for `endpoint`; an error (nothing sent) when no channel can be made.
    fn agent(&self, endpoint: &str) -> Result<SiteAgentClient<Channel>, String> {
        let mut map = self.channels.lock().expect("driver channel cache poisoned");
        let channel = match map.get(endpoint) {
            Some(c) => c.clone(),
            None => {
                let builder = Endpoint::from_shared(format!("http://{endpoint}"))
                    .map_err(|e| format!("bad agent endpoint {endpoint}: {e}"))?
                    .connect_timeout(Duration::from_secs(2))
                    .tcp_nodelay(true)
                    .http2_keep_alive_interval(Duration::from_secs(10));
                let c = match &self.tls {
                    None => builder.connect_lazy(),
                    Some(tls) => {
                        let host = endpoint_host(endpoint).ok_or_else(|| {
                            format!("bad agent endpoint {endpoint}: no host to check the site's certificate against")
                        })?;
                        let connector = TlsConnector::new(tls.clone(), &host)
                            .map_err(|e| format!("bad agent endpoint {endpoint}: {e}"))?;
                        builder.connect_with_connector_lazy(connector)
                    }
                };
                map.insert(endpoint.to_string(), c.clone());
                c
            }
        };
        Ok(SiteAgentClient::new(channel))
    }

    /// Performs one step at its site.
    async fn call_agent(&self, call: &DriverCall) -> DriverResult {
        let Driver::Agent { endpoint } = &call.site.driver else {
            return DriverResult::Failed {
                error: format!(
                    "site {} is not a site-protocol site; nothing was sent",
                    call.site.name
                ),
                retryable: false,
            };
        };
        let mut client = match self.agent(endpoint) {
            Ok(c) => c,
            Err(error) => {
                return DriverResult::Failed {
                    error: format!("site {}: {error}; nothing was sent", call.site.name),
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
                crate::telemetry::propagate(&mut req);
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
                crate::telemetry::propagate(&mut req);
                client.delete(req).await
            }
        };
        match response {
            Ok(r) => interpret(r.into_inner()),
            Err(status) => DriverResult::Failed {
                error: call_failed(&call.site.name, endpoint, &status).to_string(),
                retryable: true,
            },
        }
    }
}

/// Why a call to a site failed, and whether the site can have applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CallFailure {
    /// No connection could be made (TCP connect failed or timed out): nothing was sent.
    NotConnected { message: String },
    /// The TLS handshake failed: the site cannot have seen the request.
    Handshake(moor_tls::TlsFailure),
    /// The site refused the caller (PERMISSION_DENIED / UNAUTHENTICATED) before running it.
    Refused { code: tonic::Code, message: String },
    /// A TLS error after the handshake: the outcome is unknown.
    TlsLater(moor_tls::TlsFailure),
    /// Anything else (deadline, reset, the site's own error): the outcome is unknown.
    Other { code: tonic::Code, message: String },
}

impl CallFailure {
    /// True when the site certainly did not apply the call.
    fn not_applied(&self) -> bool {
        matches!(
            self,
            CallFailure::NotConnected { .. }
                | CallFailure::Handshake(_)
                | CallFailure::Refused { .. }
        )
    }
}

/// A [`CallFailure`] with the site and endpoint it is about, as an executor error text.
struct Described<'a> {
    site: &'a str,
    endpoint: &'a str,
    failure: CallFailure,
    /// A mutating call: the text says whether anything may have been applied (an Observe
    /// applies nothing, so its text does not).
    mutating: bool,
}

impl std::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (site, endpoint) = (self.site, self.endpoint);
        match &self.failure {
            CallFailure::NotConnected { message } => {
                write!(f, "site {site} at {endpoint} unreachable: {message}")?
            }
            CallFailure::Handshake(tls) => {
                write!(f, "site {site} at {endpoint}: TLS handshake failed: {tls}")?
            }
            CallFailure::Refused { code, message } => write!(
                f,
                "site {site} at {endpoint} refused this member ({code:?}: {message}): the member's certificate must name member-<id>.moor and come from the CA the site trusts"
            )?,
            CallFailure::TlsLater(tls) => write!(
                f,
                "site {site} at {endpoint}: the connection failed after the TLS handshake: {tls}"
            )?,
            CallFailure::Other { code, message } => write!(
                f,
                "site {site} at {endpoint} unreachable or not answering ({code}): {message}"
            )?,
        }
        if !self.mutating {
            Ok(())
        } else if self.failure.not_applied() {
            write!(f, "; nothing was applied")
        } else {
            write!(f, "; the call may or may not have been applied")
        }
    }
}

/// Classifies a failed call's status.
fn classify(status: &tonic::Status) -> CallFailure {
    if let Some(tls) = moor_tls::tls_failure(status) {
        return if tls.in_handshake() {
            CallFailure::Handshake(tls)
        } else {
            CallFailure::TlsLater(tls)
        };
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(status);
    while let Some(e) = cause {
        if let Some(connect) = e.downcast_ref::<tonic::ConnectError>() {
            return CallFailure::NotConnected {
                message: connect.to_string(),
            };
        }
        cause = e.source();
    }
    match status.code() {
        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => CallFailure::Refused {
            code: status.code(),
            message: status.message().to_string(),
        },
        code => CallFailure::Other {
            code,
            message: status.message().to_string(),
        },
    }
}

/// The error text for a failed call to `site` at `endpoint`.
fn call_failed<'a>(site: &'a str, endpoint: &'a str, status: &tonic::Status) -> Described<'a> {
    Described {
        site,
        endpoint,
        failure: classify(status),
        mutating: true,
    }
}

/// An Observe that failed, described: nothing to say about effects.
fn observe_failed<'a>(site: &'a str, endpoint: &'a str, status: &tonic::Status) -> Described<'a> {
    Described {
        mutating: false,
        ..call_failed(site, endpoint, status)
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
        Ok(self
            .observe_agent_details(site, environment, timeout)
            .await?
            .into_iter()
            .map(|(resource, d)| (resource, d.digest))
            .collect())
    }

    async fn observe_agent_details(
        &self,
        site: &Site,
        environment: &str,
        timeout: Duration,
    ) -> Result<BTreeMap<String, ObservedDetail>, String> {
        let Driver::Agent { endpoint } = &site.driver else {
            return Err(format!("site {} is not a site-protocol site", site.name));
        };
        let mut client = self
            .agent(endpoint)
            .map_err(|e| format!("observing site {}: {e}", site.name))?;
        let mut req = tonic::Request::new(ObserveRequest {
            target: Some(ResourceRef {
                site: site.name.clone(),
                environment: environment.to_string(),
                resource: String::new(),
                resource_type: String::new(),
            }),
        });
        req.set_timeout(timeout);
        crate::telemetry::propagate(&mut req);
        let resp = client
            .observe(req)
            .await
            .map_err(|s| format!("observing: {}", observe_failed(&site.name, endpoint, &s)))?;
        Ok(resp
            .into_inner()
            .resources
            .into_iter()
            .map(|r| {
                (
                    r.resource,
                    ObservedDetail {
                        digest: r.observed_digest,
                        properties_json: r.properties_json,
                    },
                )
            })
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

    fn observe_details<'a>(
        &'a self,
        site: &'a Site,
        environment: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, ObservedDetail>, String>> {
        self.observe_agent_details(site, environment, timeout)
            .boxed()
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
    use moor_proto::site::site_agent_server::{SiteAgent, SiteAgentServer};
    use moor_proto::site::ObserveResponse;
    use moor_tls::dev::{write_bundle, Bundle};
    use moor_tls::incoming::tls_incoming;
    use moor_tls::{ClientAuth, TlsFiles};
    use tonic::{Request, Response, Status};

    #[test]
    fn endpoint_hosts_are_the_names_to_check() {
        assert_eq!(
            endpoint_host("site-a.example:7500").as_deref(),
            Some("site-a.example")
        );
        assert_eq!(
            endpoint_host("127.0.0.1:7500").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(endpoint_host("[::1]:7500").as_deref(), Some("::1"));
        assert_eq!(endpoint_host("no host/"), None);
    }

    #[test]
    fn failures_say_whether_anything_was_applied() {
        let text = |s: Status| call_failed("s1", "h:1", &s).to_string();
        let denied = text(Status::permission_denied("only Moor members"));
        assert!(
            denied.contains("refused this member") && denied.ends_with("nothing was applied"),
            "{denied}"
        );
        let deadline = text(Status::deadline_exceeded("late"));
        assert!(
            deadline.contains("site s1 at h:1")
                && deadline.ends_with("may or may not have been applied"),
            "{deadline}"
        );
        // A status the site sent, whatever its words, is not a TLS failure of ours.
        let words = text(Status::internal("received fatal alert: UnknownCA"));
        assert!(
            words.ends_with("may or may not have been applied"),
            "{words}"
        );
        // An Observe applies nothing: its failure says nothing about effects.
        let observed = observe_failed("s1", "h:1", &Status::deadline_exceeded("late")).to_string();
        assert!(
            observed.contains("site s1 at h:1") && !observed.contains("applied"),
            "{observed}"
        );
    }

    /// A site that answers members only, as moor-sitesim does over TLS.
    struct MembersOnlySite;

    #[tonic::async_trait]
    impl SiteAgent for MembersOnlySite {
        async fn apply(
            &self,
            request: Request<ApplyRequest>,
        ) -> Result<Response<ApplyResponse>, Status> {
            let member = request
                .peer_certs()
                .and_then(|c| c.first().map(|c| !moor_tls::member_id_of(c).is_empty()))
                .unwrap_or(false);
            if !member {
                return Err(Status::permission_denied(
                    "only Moor members (certificate DNS name member-<id>.moor) may call a site",
                ));
            }
            let req = request.into_inner();
            Ok(Response::new(ApplyResponse {
                outcome: Outcome::Applied as i32,
                observed_digest: req.desired_digest,
                error: String::new(),
                highest_token: req.fence_token,
            }))
        }

        async fn delete(
            &self,
            _: Request<DeleteRequest>,
        ) -> Result<Response<ApplyResponse>, Status> {
            Err(Status::unimplemented("not in this test"))
        }

        async fn observe(
            &self,
            _: Request<ObserveRequest>,
        ) -> Result<Response<ObserveResponse>, Status> {
            Ok(Response::new(ObserveResponse::default()))
        }
    }

    fn tls_files(
        (cert, key): (std::path::PathBuf, std::path::PathBuf),
        ca: &std::path::Path,
    ) -> TlsFiles {
        TlsFiles {
            cert,
            key,
            ca: ca.to_path_buf(),
        }
    }

    /// A members-only site over TLS with `b`'s site certificate (for 127.0.0.1); its port.
    async fn tls_site(b: &Bundle) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = TlsReloader::new(tls_files(b.site(), &b.ca), ClientAuth::Required).unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(SiteAgentServer::new(MembersOnlySite))
                .serve_with_incoming(tls_incoming(listener, tls)),
        );
        port
    }

    fn step_at(endpoint: String) -> DriverCall {
        DriverCall {
            site: Site {
                name: "s1".into(),
                region: "eu".into(),
                latitude: 0.0,
                longitude: 0.0,
                labels: Default::default(),
                driver: Driver::Agent { endpoint },
            },
            environment: "shop".into(),
            resource: "web".into(),
            resource_type: "sim.resource".into(),
            action: StepAction::Create,
            properties_json: "{}".into(),
            desired_digest: "d1".into(),
            execution_id: "x1".into(),
            step: 1,
            attempt: 1,
            fence_token: 5,
            timeout: Duration::from_secs(10),
        }
    }

    async fn failure(driver: AgentDriver, endpoint: String) -> String {
        match driver.call(&step_at(endpoint)).await {
            DriverResult::Failed { error, retryable } => {
                assert!(retryable, "{error}");
                error
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn over_tls_members_are_served_and_each_refusal_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let ours = write_bundle(&dir.path().join("ours"), &[1], &["127.0.0.1".into()]).unwrap();
        let theirs = write_bundle(&dir.path().join("theirs"), &[1], &["127.0.0.1".into()]).unwrap();
        let port = tls_site(&ours).await;
        let at = format!("127.0.0.1:{port}");
        let driver = |files: TlsFiles| {
            AgentDriver::with_tls(TlsReloader::new(files, ClientAuth::Required).unwrap())
        };

        let member = driver(tls_files(ours.member(1), &ours.ca));
        assert_eq!(
            member.call(&step_at(at.clone())).await,
            DriverResult::Done {
                observed_digest: "d1".into()
            }
        );
        let observed = member
            .observe(&step_at(at.clone()).site, "shop", Duration::from_secs(10))
            .await;
        assert_eq!(observed, Ok(BTreeMap::new()));

        // A certificate of the CA that is not a member's: the site refuses the call.
        let e = failure(driver(tls_files(ours.admin(), &ours.ca)), at.clone()).await;
        assert!(e.contains(&at) && e.contains("refused this member"), "{e}");
        assert!(
            e.contains("PermissionDenied") && e.ends_with("nothing was applied"),
            "{e}"
        );

        // The site's certificate is not from the CA this member trusts.
        let e = failure(driver(tls_files(ours.member(1), &theirs.ca)), at.clone()).await;
        assert!(e.contains(&at) && e.contains("TLS handshake failed"), "{e}");
        assert!(
            e.contains("unknown issuer") && e.ends_with("nothing was applied"),
            "{e}"
        );

        // The site's certificate does not name the host the endpoint gives.
        let localhost = format!("localhost:{port}");
        let e = failure(
            driver(tls_files(ours.member(1), &ours.ca)),
            localhost.clone(),
        )
        .await;
        assert!(
            e.contains(&localhost) && e.contains("does not name the host"),
            "{e}"
        );
        assert!(e.ends_with("nothing was applied"), "{e}");

        // The site does not trust this member's CA: it refuses the certificate.
        let e = failure(driver(tls_files(theirs.member(1), &ours.ca)), at.clone()).await;
        assert!(
            e.contains(&at) && e.contains("refused this process's certificate"),
            "{e}"
        );
        assert!(
            e.contains("UnknownCA") && e.ends_with("nothing was applied"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_not_applied_and_plaintext_stays_the_default() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = listener.local_addr().unwrap().to_string();
        drop(listener);
        let e = failure(AgentDriver::default(), at.clone()).await;
        assert!(e.contains(&at) && e.contains("unreachable"), "{e}");
        assert!(e.ends_with("nothing was applied"), "{e}");
    }

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
