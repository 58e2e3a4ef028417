//! One simulated site's state and the rules it answers by — the behaviour the WF2/WF3/WF5
//! checkers verify, kept pure (no clock, I/O or randomness: whether an attempt fails is decided
//! by the caller and passed in) so it can be tested on its own.
//!
//! The rules, in order, for an apply or delete:
//! 1. fencing: a token lower than the highest accepted is refused (FENCED), nothing changes;
//!    otherwise the token is accepted and becomes the highest if it is higher. Equal tokens
//!    are all accepted, in any order: they come from one leader's term.
//! 2. dedupe: a key (execution, step) already applied here returns its recorded digest
//!    (DUPLICATE) and nothing is applied again.
//! 3. failure: if the attempt is to fail, FAILED, nothing changes and nothing is recorded for
//!    the key, so a later attempt may apply it.
//! 4. effect: the resource is written (or removed) and the result recorded under the key.
//!
//! In unsafe mode (WF6 negative control) rules 1 and 2 are skipped: every call applies.
//!
//! Memory is kept small per site (100,000 sites in one process): names are boxed strs, and
//! the per-site maps are sorted vectors ([`SmallMap`]) — a site holds a handful of resources
//! and keys, where a `BTreeMap` leaf (~700 bytes) or a `HashMap` table would dominate.

use moor_proto::site::{ObservedResource, Outcome};

/// Whether fencing and dedupe are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// The real protocol.
    Enforced,
    /// Fencing and dedupe off (`--unsafe-no-fencing-no-dedupe`).
    Unsafe,
}

/// What a mutating call does at the site.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    Apply {
        properties_json: &'a str,
        desired_digest: &'a str,
    },
    Delete,
}

/// One mutating call, as the site sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub environment: &'a str,
    pub resource: &'a str,
    pub execution_id: &'a str,
    pub step: u32,
    pub fence_token: u64,
    pub change: Change<'a>,
}

/// The site's answer to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    pub observed_digest: String,
    pub error: String,
    pub highest_token: u64,
}

/// A map kept as a vector sorted by key: the smallest footprint for the few entries a site
/// holds, with O(log n) lookups. Inserting shifts entries (O(n)), cheap at these sizes.
#[derive(Debug)]
struct SmallMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap(Vec::new())
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key))
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    fn insert(&mut self, key: K, value: V) {
        match self.find(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => {
                // Most sites hold one to three entries: grow exactly until then, instead of
                // Vec's first step to four.
                if self.0.len() == self.0.capacity() && self.0.len() < 4 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, (key, value))
            }
        }
    }

    fn remove(&mut self, key: &K) {
        if let Ok(i) = self.find(key) {
            self.0.remove(i);
        }
    }

    /// Entries in key order.
    fn iter(&self) -> impl Iterator<Item = &(K, V)> {
        self.0.iter()
    }
}

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

    /// Answers one apply or delete. `failure` is `Some(error)` when this attempt is to fail.
    pub fn mutate(&mut self, call: &Call<'_>, failure: Option<String>, safety: Safety) -> Answer {
        let enforced = safety == Safety::Enforced;
        if enforced && call.fence_token < self.highest_token {
            return self.answer(Outcome::Fenced, String::new(), String::new());
        }
        self.highest_token = self.highest_token.max(call.fence_token);

        let key = (Box::<str>::from(call.execution_id), call.step);
        if enforced {
            if let Some(recorded) = self.applied.get(&key) {
                let digest = recorded.to_string();
                return self.answer(Outcome::Duplicate, digest, String::new());
            }
        }
        if let Some(error) = failure {
            let observed = self.digest_of(call.environment, call.resource);
            return self.answer(Outcome::Failed, observed, error);
        }

        let at = at(call.environment, call.resource);
        let digest = match call.change {
            Change::Apply {
                properties_json,
                desired_digest,
            } => {
                let digest: Box<str> = if desired_digest.is_empty() {
                    // The protocol says the site reports the desired digest back; without one,
                    // a content hash keeps "same properties ⇒ same digest".
                    format!(
                        "sim-{:016x}",
                        super::dice::hash(0, &[properties_json.as_bytes()])
                    )
                    .into()
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
        };
        let observed = digest.to_string();
        self.applied.insert(key, digest);
        self.answer(Outcome::Applied, observed, String::new())
    }

    fn answer(&self, outcome: Outcome, observed_digest: String, error: String) -> Answer {
        Answer {
            outcome,
            observed_digest,
            error,
            highest_token: self.highest_token,
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
            super::dice::hash(0, &[properties.as_bytes()])
        );
        stored.properties_json = properties.into();
        stored.digest = digest.clone().into();
        Some(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
