//! [`SiteState`]: everything one site remembers — the highest fence token it accepted, its
//! resources, and the recorded result of every idempotency key it applied — and the numbered
//! rules of the module docs applied to it.
//!
//! Memory is kept small per site (100,000 sites in one process): names are boxed strs, and
//! the per-site maps are sorted vectors ([`SmallMap`]) — a site holds a handful of resources
//! and keys, where a `BTreeMap` leaf (~700 bytes) or a `HashMap` table would dominate.

use moor_proto::site::ObservedResource;

use super::rules::{self, Failure};
use super::small_map::SmallMap;
use super::{Answer, Call, Change, Safety};
use crate::hash::stable_hash;

/// The key of a stored resource.
fn at(environment: &str, resource: &str) -> (Box<str>, Box<str>) {
    (environment.into(), resource.into())
}

#[derive(Debug, Clone)]
struct StoredResource {
    properties_json: Box<str>,
    digest: Box<str>,
}

/// Everything one site remembers.
#[derive(Debug, Default)]
pub struct SiteState {
    highest_token: u64,
    /// (environment, resource) → resource. Ordered, so Observe answers in a stable order.
    resources: SmallMap<(Box<str>, Box<str>), StoredResource>,
    /// (execution, step) → the observed digest recorded when the key was applied.
    applied: SmallMap<(Box<str>, u32), Box<str>>,
    /// Drift injections so far, so each one yields a new digest.
    drifts: u32,
}

impl SiteState {
    /// The highest fence token this site has accepted.
    pub fn highest_token(&self) -> u64 {
        self.highest_token
    }

    /// Answers one apply or delete by the rules of the module docs, in order. `failure` is
    /// `Some(error)` when this attempt is to fail (rule 3).
    pub fn mutate(&mut self, call: &Call<'_>, failure: Option<String>, safety: Safety) -> Answer {
        let applied = &self.applied;
        let admission = rules::admit(safety, self.highest_token, call.fence_token, || {
            applied
                .get(&(Box::<str>::from(call.execution_id), call.step))
                .map(|digest| digest.to_string())
        });
        self.highest_token = admission.highest_token;
        if let Some(answered) = admission.answered {
            return answered;
        }
        let effect = match failure {
            Some(error) => Err(Failure {
                error,
                observed_digest: self.digest_of(call.environment, call.resource),
            }),
            None => Ok(self.change(call).to_string()),
        };
        let (answer, record) = rules::settle(self.highest_token, effect);
        if let Some(digest) = record {
            self.applied.insert(
                (Box::<str>::from(call.execution_id), call.step),
                digest.into(),
            );
        }
        answer
    }

    /// Rule 4's effect on the stored resources; returns the digest to record under the key
    /// (empty for a delete).
    fn change(&mut self, call: &Call<'_>) -> Box<str> {
        let at = at(call.environment, call.resource);
        match call.change {
            Change::Apply {
                properties_json,
                desired_digest,
            } => {
                let digest: Box<str> = if desired_digest.is_empty() {
                    // The protocol says the site reports the desired digest back; without one,
                    // a content hash keeps "same properties ⇒ same digest".
                    format!("sim-{:016x}", stable_hash(0, &[properties_json.as_bytes()])).into()
                } else {
                    desired_digest.into()
                };
                self.resources.insert(
                    at,
                    StoredResource {
                        properties_json: properties_json.into(),
                        digest: digest.clone(),
                    },
                );
                digest
            }
            Change::Delete => {
                self.resources.remove(&at);
                Box::from("")
            }
        }
    }

    fn digest_of(&self, environment: &str, resource: &str) -> String {
        self.resources
            .get(&at(environment, resource))
            .map(|r| r.digest.to_string())
            .unwrap_or_default()
    }

    /// The resources of `environment` (only `resource` when it is not empty).
    pub fn observe(&self, environment: &str, resource: &str) -> Vec<ObservedResource> {
        self.resources
            .iter()
            .filter(|((env, res), _)| {
                &**env == environment && (resource.is_empty() || &**res == resource)
            })
            .map(|((_, res), stored)| ObservedResource {
                resource: res.to_string(),
                observed_digest: stored.digest.to_string(),
                properties_json: stored.properties_json.to_string(),
            })
            .collect()
    }

    /// Changes a stored resource out of band, as an operator editing the site by hand would:
    /// its properties gain a `_drift` marker and its digest changes. Returns the new digest, or
    /// `None` when the resource does not exist.
    pub fn drift(&mut self, environment: &str, resource: &str) -> Option<String> {
        let stored = self.resources.get_mut(&at(environment, resource))?;
        self.drifts += 1;
        let marker = serde_json::Value::from(self.drifts);
        let properties = match serde_json::from_str::<serde_json::Value>(&stored.properties_json) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.insert("_drift".into(), marker);
                serde_json::Value::Object(map)
            }
            Ok(other) => serde_json::json!({ "_drift": marker, "was": other }),
            Err(_) => serde_json::json!({ "_drift": marker, "was": &*stored.properties_json }),
        };
        let properties = properties.to_string();
        let digest = format!(
            "drift-{}-{:016x}",
            self.drifts,
            stable_hash(0, &[properties.as_bytes()])
        );
        stored.properties_json = properties.into();
        stored.digest = digest.clone().into();
        Some(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moor_proto::site::Outcome;

    fn apply<'a>(exec: &'a str, step: u32, token: u64, digest: &'a str) -> Call<'a> {
        Call {
            environment: "env",
            resource: "web",
            execution_id: exec,
            step,
            fence_token: token,
            change: Change::Apply {
                properties_json: r#"{"replicas":3}"#,
                desired_digest: digest,
            },
        }
    }

    #[test]
    fn lower_tokens_are_fenced_equal_and_higher_accepted() {
        let mut site = SiteState::default();
        let s = Safety::Enforced;
        assert_eq!(
            site.mutate(&apply("e", 1, 5, "d1"), None, s).outcome,
            Outcome::Applied
        );
        assert_eq!(
            site.mutate(&apply("e", 2, 5, "d2"), None, s).outcome,
            Outcome::Applied
        );
        let fenced = site.mutate(&apply("e", 3, 4, "d3"), None, s);
        assert_eq!(fenced.outcome, Outcome::Fenced);
        assert_eq!(fenced.highest_token, 5);
        assert_eq!(site.observe("env", "web")[0].observed_digest, "d2");
        assert_eq!(
            site.mutate(&apply("e", 3, 6, "d3"), None, s).outcome,
            Outcome::Applied
        );
        assert_eq!(site.highest_token(), 6);
    }

    #[test]
    fn a_key_applies_once_and_a_failed_key_may_apply_later() {
        let mut site = SiteState::default();
        let s = Safety::Enforced;
        let failed = site.mutate(&apply("e", 1, 1, "d1"), Some("boom".into()), s);
        assert_eq!(failed.outcome, Outcome::Failed);
        assert_eq!(failed.error, "boom");
        assert!(site.observe("env", "").is_empty());
        assert_eq!(
            site.mutate(&apply("e", 1, 1, "d1"), None, s).outcome,
            Outcome::Applied
        );
        let dup = site.mutate(&apply("e", 1, 1, "other"), None, s);
        assert_eq!(dup.outcome, Outcome::Duplicate);
        assert_eq!(dup.observed_digest, "d1");
        assert_eq!(site.observe("env", "web")[0].observed_digest, "d1");
        // A duplicate is answered even when this attempt would have failed: nothing is done.
        let dup = site.mutate(&apply("e", 1, 2, "d1"), Some("boom".into()), s);
        assert_eq!(dup.outcome, Outcome::Duplicate);
    }

    #[test]
    fn unsafe_mode_applies_everything() {
        let mut site = SiteState::default();
        let s = Safety::Unsafe;
        assert_eq!(
            site.mutate(&apply("e", 1, 5, "d1"), None, s).outcome,
            Outcome::Applied
        );
        assert_eq!(
            site.mutate(&apply("e", 1, 5, "d1"), None, s).outcome,
            Outcome::Applied
        );
        assert_eq!(
            site.mutate(&apply("e", 2, 1, "d2"), None, s).outcome,
            Outcome::Applied
        );
        assert_eq!(site.highest_token(), 5);
    }

    #[test]
    fn delete_removes_and_drift_changes_the_digest() {
        let mut site = SiteState::default();
        let s = Safety::Enforced;
        site.mutate(&apply("e", 1, 1, "d1"), None, s);
        let drifted = site.drift("env", "web").expect("resource exists");
        assert_ne!(drifted, "d1");
        let seen = &site.observe("env", "")[0];
        assert_eq!(seen.observed_digest, drifted);
        assert!(seen.properties_json.contains("\"_drift\":1"));
        assert!(site.drift("env", "nope").is_none());
        let delete = Call {
            change: Change::Delete,
            ..apply("e", 2, 1, "")
        };
        let gone = site.mutate(&delete, None, s);
        assert_eq!(gone.outcome, Outcome::Applied);
        assert_eq!(gone.observed_digest, "");
        assert!(site.observe("env", "").is_empty());
    }
}
