//! Errors: what failed, and whether trying again could help.
//!
//! [`Failure`] is the one failure a call or an observe ends with (it becomes
//! `Outcome::Failed`); [`ConnectError`] is for building a [`crate::KubeSite`]. The rest of
//! this file reads the API server's `Status` answers: the message people need, and the field
//! managers a server-side apply conflicted with.

use serde::Deserialize;
use thiserror::Error;

use crate::manifest::ManifestError;
use crate::retry::{Reply, Unanswered};

/// A call or observe that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{error}")]
pub struct Failure {
    pub error: String,
    /// Whether the same call may succeed later without anyone changing anything: true for
    /// unknown outcomes (timeouts, 5xx, contention), false for refusals (invalid manifest,
    /// conflicts, permissions) that need a person or a changed blueprint.
    pub retryable: bool,
}

impl Failure {
    pub(crate) fn permanent(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retryable: false,
        }
    }

    pub(crate) fn retryable(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retryable: true,
        }
    }

    /// A refusal or unexpected answer from the API server while doing `what`.
    pub(crate) fn from_reply(what: &str, reply: &Reply) -> Failure {
        let status = reply.status.as_u16();
        let text = format!("{what}: {}", describe(reply));
        match status {
            // Throttled or timed out server-side: the retry loop gave up within the deadline,
            // but a later attempt may well get through.
            408 | 429 | 500..=599 => Failure::retryable(text),
            401 | 403 => Failure::permanent(format!(
                "{text} (give Moor's credentials the RBAC permission for this request)"
            )),
            _ => Failure::permanent(text),
        }
    }
}

impl From<ManifestError> for Failure {
    fn from(e: ManifestError) -> Failure {
        Failure::permanent(e.to_string())
    }
}

impl From<Unanswered> for Failure {
    fn from(u: Unanswered) -> Failure {
        Failure::retryable(u.to_string())
    }
}

/// Why a [`crate::KubeSite`] could not be made.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("in-cluster configuration (is this running in a pod with a service account?): {0}")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error("kube-driver setting {key} = {value:?}: {reason}")]
    Setting {
        key: &'static str,
        value: String,
        reason: String,
    },
}

/// The parts of the API server's `Status` answer this crate reads (a struct of its own, not
/// k8s-openapi's: that one insists on every required field, and a refusal must be read even
/// from a proxy that trimmed it).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Status {
    pub code: Option<u16>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub details: Option<StatusDetails>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StatusDetails {
    pub kind: Option<String>,
    pub causes: Option<Vec<StatusCause>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StatusCause {
    pub message: Option<String>,
    pub field: Option<String>,
}

/// The API server's `Status` in a reply body, if it is one.
pub(crate) fn status_of(reply: &Reply) -> Option<Status> {
    let status: Status = serde_json::from_slice(&reply.body).ok()?;
    (status.code.is_some() || status.message.is_some() || status.reason.is_some()).then_some(status)
}

/// `HTTP 409 Conflict: <message>` for a reply, for messages.
pub(crate) fn describe(reply: &Reply) -> String {
    let message = match status_of(reply) {
        Some(Status {
            message: Some(m), ..
        }) => m,
        _ => String::from_utf8_lossy(&reply.body)
            .chars()
            .take(300)
            .collect(),
    };
    if message.is_empty() {
        format!("HTTP {}", reply.status)
    } else {
        format!("HTTP {}: {message}", reply.status)
    }
}

/// The field managers a server-side apply conflicted with, in order of first mention, from
/// the status's causes (`conflict with "kubectl" using apps/v1`) and, when the causes are
/// missing, from its message (`Apply failed with 1 conflict: conflict with "kubectl" ...`).
pub(crate) fn conflicting_managers(status: &Status) -> Vec<(String, Vec<String>)> {
    let mut managers: Vec<(String, Vec<String>)> = Vec::new();
    let mut note = |manager: String, field: Option<String>| {
        let entry = match managers.iter().position(|(m, _)| *m == manager) {
            Some(i) => &mut managers[i],
            None => {
                managers.push((manager, Vec::new()));
                let last = managers.len() - 1;
                &mut managers[last]
            }
        };
        if let Some(field) = field.filter(|f| !f.is_empty() && !entry.1.contains(f)) {
            entry.1.push(field);
        }
    };
    let causes = status
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for cause in causes {
        if let Some(manager) = cause.message.as_deref().and_then(quoted_manager) {
            note(manager, cause.field.clone());
        }
    }
    if causes.is_empty() {
        let message = status.message.as_deref().unwrap_or_default();
        for part in message.split("conflict with ").skip(1) {
            if let Some(manager) = quoted_manager(&format!("conflict with {part}")) {
                let field = part.split(": ").nth(1).map(|f| f.trim().to_string());
                note(manager, field);
            }
        }
    }
    managers
}

fn quoted_manager(text: &str) -> Option<String> {
    let rest = text.split("conflict with \"").nth(1)?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(value: serde_json::Value) -> Status {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn managers_come_from_the_causes() {
        let s = status(json!({
            "kind": "Status", "code": 409, "reason": "Conflict",
            "message": "Apply failed with 2 conflicts: ...",
            "details": {"causes": [
                {"reason": "FieldManagerConflict",
                 "message": "conflict with \"kubectl-edit\" using apps/v1",
                 "field": ".spec.replicas"},
                {"reason": "FieldManagerConflict",
                 "message": "conflict with \"helm\" using apps/v1",
                 "field": ".spec.template.spec.containers[name=\"web\"].image"},
                {"reason": "FieldManagerConflict",
                 "message": "conflict with \"kubectl-edit\" using apps/v1",
                 "field": ".metadata.labels.tier"}
            ]}
        }));
        assert_eq!(
            conflicting_managers(&s),
            vec![
                (
                    "kubectl-edit".to_string(),
                    vec![
                        ".spec.replicas".to_string(),
                        ".metadata.labels.tier".to_string()
                    ]
                ),
                (
                    "helm".to_string(),
                    vec![".spec.template.spec.containers[name=\"web\"].image".to_string()]
                ),
            ]
        );
    }

    #[test]
    fn managers_come_from_the_message_without_causes() {
        let s = status(json!({
            "kind": "Status", "code": 409,
            "message": "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        }));
        assert_eq!(
            conflicting_managers(&s),
            vec![(
                "kubectl-client-side-apply".to_string(),
                vec![".spec.replicas".to_string()]
            )]
        );
    }
}
