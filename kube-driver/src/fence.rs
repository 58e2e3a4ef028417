//! Fencing for a cluster Moor drives directly (site protocol rule 1).
//!
//! A cluster has no site agent to remember the highest fence token, so the cluster itself
//! does: a ConfigMap (`moor-system/moor-fence` by default) whose `highest-token` is the
//! highest token any leader has presented. Before every apply or delete the driver reads it:
//! a lower token is FENCED and nothing is applied; an equal one goes ahead; a higher one is
//! written first, by compare-and-swap on the ConfigMap's `resourceVersion`, so two leaders
//! racing to raise it cannot both win with different values: the loser's write is refused
//! (409), it reads again and decides again. A missing namespace or ConfigMap is created
//! (and a create that loses a race re-reads too).
//!
//! What this does not close: a deposed leader that read the fence just before a newer one
//! raised it can still land the one call it is making (the check and the apply are two
//! requests; Kubernetes has no transaction across objects). The window is the call in
//! flight when the newer leader took over, not a stream of calls: the deposed leader's next
//! call reads the raised fence and is FENCED.

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::errors::Failure;
use crate::manifest::{MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use crate::retry::Outgoing;
use crate::site::KubeSite;

/// The ConfigMap key holding the highest token.
pub const FENCE_KEY: &str = "highest-token";

/// What the fence said about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceOutcome {
    /// The token is the highest: go ahead.
    Admitted { highest_token: u64 },
    /// A higher token has been accepted: this caller is deposed, apply nothing.
    Fenced { highest_token: u64 },
}

/// The pure rule: what to do with `token` when the cluster holds `stored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Refuse,
    Proceed,
    Raise,
}

pub(crate) fn decide(stored: u64, token: u64) -> Decision {
    match token.cmp(&stored) {
        std::cmp::Ordering::Less => Decision::Refuse,
        std::cmp::Ordering::Equal => Decision::Proceed,
        std::cmp::Ordering::Greater => Decision::Raise,
    }
}

impl KubeSite {
    /// Presents `token` to the cluster's fence: admitted (raised first when higher), or
    /// fenced. Every apply and delete does this first; callers that batch may call it once
    /// per batch too.
    pub async fn advance_fence(
        &self,
        token: u64,
        timeout: std::time::Duration,
    ) -> Result<FenceOutcome, Failure> {
        self.fence(token, Instant::now() + timeout).await
    }

    pub(crate) async fn fence(
        &self,
        token: u64,
        deadline: Instant,
    ) -> Result<FenceOutcome, Failure> {
        let settings = &self.settings;
        let path = format!(
            "/api/v1/namespaces/{}/configmaps/{}",
            settings.fence_namespace, settings.fence_name
        );
        for _ in 0..settings.fence_rounds {
            let reply = self
                .transport
                .send(&Outgoing::get(path.clone()), deadline)
                .await?;
            if reply.status == http::StatusCode::NOT_FOUND {
                if self.create_fence(token, deadline).await? {
                    return Ok(FenceOutcome::Admitted {
                        highest_token: token,
                    });
                }
                continue;
            }
            if !reply.status.is_success() {
                return Err(Failure::from_reply(
                    &format!("reading the fence object {}", self.fence_name()),
                    &reply,
                ));
            }
            let (stored, resource_version) = self.read_fence(reply.json())?;
            match decide(stored, token) {
                Decision::Refuse => {
                    tracing::info!(token, highest = stored, "fenced by {}", self.fence_name());
                    return Ok(FenceOutcome::Fenced {
                        highest_token: stored,
                    });
                }
                Decision::Proceed => {
                    return Ok(FenceOutcome::Admitted {
                        highest_token: stored,
                    })
                }
                Decision::Raise => {
                    if self.raise_fence(token, &resource_version, deadline).await? {
                        return Ok(FenceOutcome::Admitted {
                            highest_token: token,
                        });
                    }
                }
            }
        }
        Err(Failure::retryable(format!(
            "the fence object {} changed under each of {} read-and-swap rounds (other leaders \
             are raising it); the call may be retried",
            self.fence_name(),
            settings.fence_rounds
        )))
    }

    fn fence_name(&self) -> String {
        format!(
            "ConfigMap {}/{}",
            self.settings.fence_namespace, self.settings.fence_name
        )
    }

    fn read_fence(&self, object: Option<Value>) -> Result<(u64, String), Failure> {
        let object = object.unwrap_or(Value::Null);
        let resource_version = object["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let stored = &object["data"][FENCE_KEY];
        match stored.as_str().map(|s| s.parse::<u64>()) {
            Some(Ok(stored)) if !resource_version.is_empty() => Ok((stored, resource_version)),
            _ => Err(Failure::permanent(format!(
                "the fence object {} has {FENCE_KEY} = {stored} and resourceVersion {:?}: not a \
                 fence this driver can read; set {FENCE_KEY} by hand to the highest Raft term \
                 Moor has used (never lower), or fix the object",
                self.fence_name(),
                resource_version
            ))),
        }
    }

    fn fence_object(&self, token: u64, resource_version: Option<&str>) -> Value {
        let mut object = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.settings.fence_name,
                "namespace": self.settings.fence_namespace,
                "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
            },
            "data": {FENCE_KEY: token.to_string()},
        });
        if let Some(rv) = resource_version {
            object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        }
        object
    }

    /// Creates the fence holding `token`: true when created, false when someone else
    /// created it first or its namespace had to be made (read again).
    async fn create_fence(&self, token: u64, deadline: Instant) -> Result<bool, Failure> {
        let ns = &self.settings.fence_namespace;
        let out = Outgoing::json(
            http::Method::POST,
            format!("/api/v1/namespaces/{ns}/configmaps"),
            &self.fence_object(token, None),
        );
        let reply = self.transport.send(&out, deadline).await?;
        match reply.status.as_u16() {
            200 | 201 => Ok(true),
            409 => Ok(false),
            404 => {
                self.ensure_namespace(ns, deadline).await?;
                Ok(false)
            }
            _ => Err(Failure::from_reply(
                &format!("creating the fence object {}", self.fence_name()),
                &reply,
            )),
        }
    }

    /// Raises the fence to `token` if it still is at `resource_version`: true when raised,
    /// false when it changed meanwhile (409 Conflict, or 410 Gone for a version too old).
    async fn raise_fence(
        &self,
        token: u64,
        resource_version: &str,
        deadline: Instant,
    ) -> Result<bool, Failure> {
        let ns = &self.settings.fence_namespace;
        let out = Outgoing::json(
            http::Method::PUT,
            format!(
                "/api/v1/namespaces/{ns}/configmaps/{}",
                self.settings.fence_name
            ),
            &self.fence_object(token, Some(resource_version)),
        );
        let reply = self.transport.send(&out, deadline).await?;
        match reply.status.as_u16() {
            200 | 201 => {
                tracing::info!(token, "raised {}", self.fence_name());
                Ok(true)
            }
            409 | 410 => Ok(false),
            _ => Err(Failure::from_reply(
                &format!("raising the fence object {}", self.fence_name()),
                &reply,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_is_refused_equal_proceeds_higher_raises() {
        assert_eq!(decide(5, 4), Decision::Refuse);
        assert_eq!(decide(5, 5), Decision::Proceed);
        assert_eq!(decide(5, 6), Decision::Raise);
        assert_eq!(decide(0, 0), Decision::Proceed);
    }
}
