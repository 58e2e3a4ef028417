//! The drift side of the workflow and rollout APIs: drift policies between wire and domain,
//! an environment's drift fields, and `DiffEnvironment` — desired against what the site
//! holds at the time of the call, field by field, with secret values redacted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use moor_domain::drift::{effective_policy, heals_in_last_hour, DriftPolicy, OnDrift};
use moor_domain::environment::Environment;
use moor_domain::names::WireName;
use moor_domain::state::MoorState;
use moor_proto::workflow as pb;
use serde_json::Value;
use tonic::Status;

use crate::errors::ApiError;
use crate::exec::driver::{ObservedDetail, SiteDriver};
use crate::secrets::seal::{holds_sealed, open_token, open_value};
use crate::secrets::SecretKeys;
use moor_domain::sealed;

/// How long `DiffEnvironment` waits for the site.
const DIFF_TIMEOUT: Duration = Duration::from_secs(10);
/// Most differing fields reported per resource (the rest are counted in one line).
const MAX_FIELDS: usize = 200;
/// What a secret value is shown as.
const REDACTED: &str = "***";

/// A wire policy as the domain's; `field` names it in errors. Bounds are checked here so a
/// client hears at once what to change (apply checks them again).
pub fn policy_from_msg(
    field: &str,
    p: Option<pb::DriftPolicy>,
) -> Result<Option<DriftPolicy>, Status> {
    let Some(p) = p else { return Ok(None) };
    policy_from_parts(field, p.check_every_ms, &p.on_drift, p.max_heals_per_hour)
}

/// A policy from its three fields (groups carry them flat); empty `on_drift` = none.
pub fn policy_from_parts(
    field: &str,
    check_every_ms: u64,
    on_drift: &str,
    max_heals_per_hour: u32,
) -> Result<Option<DriftPolicy>, Status> {
    if on_drift.is_empty() && check_every_ms == 0 && max_heals_per_hour == 0 {
        return Ok(None);
    }
    let on_drift = OnDrift::parse(on_drift).ok_or_else(|| {
        Status::from(ApiError::invalid(
            field,
            format!("on_drift {on_drift:?} is not one of {}", OnDrift::one_of()),
        ))
    })?;
    let policy = DriftPolicy {
        check_every_ms,
        on_drift,
        max_heals_per_hour,
    };
    policy
        .validate()
        .map_err(|e| Status::from(ApiError::invalid(field, e)))?;
    Ok(Some(policy))
}

pub fn policy_msg(p: &DriftPolicy) -> pb::DriftPolicy {
    pb::DriftPolicy {
        check_every_ms: p.check_every_ms,
        on_drift: p.on_drift.as_str().to_string(),
        max_heals_per_hour: p.max_heals_per_hour,
    }
}

/// The drift fields of an environment's message, filled in `msg`.
pub fn fill_env_drift(
    state: &MoorState,
    env: &Environment,
    now_ms: u64,
    msg: &mut pb::Environment,
) {
    let wf = &state.workflow;
    let (effective, source) = effective_policy(env, &wf.sites, &wf.rollouts.groups);
    msg.drift = env.drift.as_ref().map(policy_msg);
    msg.effective_drift = effective.as_ref().map(policy_msg);
    msg.drift_policy_source = source.to_string();
    msg.heals_last_hour = heals_in_last_hour(env, now_ms);
    msg.heal_suspended = env.heal_suspended.clone().unwrap_or_default();
}

/// What a diff needs from the state, copied out so the site is asked without the lock.
#[derive(Clone)]
pub struct DiffBasis {
    environment: String,
    site: moor_domain::site::Site,
    /// Per applied resource: type, desired properties, desired digest.
    desired: BTreeMap<String, (String, Value, String)>,
    /// Values of the environment's secret inputs, redacted wherever they appear.
    secrets: Vec<String>,
    /// Whether drifted fields may be listed (false when a sealed value could not be opened).
    fields_shown: bool,
}

/// Copies what `DiffEnvironment` needs for environment `name`.
pub fn diff_basis(state: &MoorState, name: &str) -> Result<DiffBasis, Status> {
    let wf = &state.workflow;
    let env = wf
        .environments
        .get(name)
        .ok_or_else(|| Status::not_found(format!("environment {name} not found")))?;
    let site = wf.sites.get(&env.site).cloned().ok_or_else(|| {
        Status::failed_precondition(format!(
            "environment {name} is on site {}, which does not exist: put the site again",
            env.site
        ))
    })?;
    let secret_names: BTreeSet<String> = wf
        .blueprint(&env.blueprint, Some(env.revision))
        .map(|b| b.spec.secret_inputs().into_iter().collect())
        .unwrap_or_default();
    let secrets = env
        .inputs
        .iter()
        .filter(|(k, _)| secret_names.contains(*k))
        .filter_map(|(_, v)| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
        .collect();
    Ok(DiffBasis {
        environment: env.name.clone(),
        site,
        desired: env
            .applied
            .iter()
            .map(|(n, a)| {
                (
                    n.to_string(),
                    (
                        a.resource_type.to_string(),
                        a.properties.value().clone(),
                        a.digest.to_string(),
                    ),
                )
            })
            .collect(),
        secrets,
        fields_shown: true,
    })
}

/// `basis` with its sealed secrets opened: the desired properties as the site got them, and
/// every opened value added to what is redacted (the site reports plaintext). When a value
/// cannot be opened, the properties stay sealed and `fields_shown` is false: no field of
/// that environment is shown, since its plaintext could not be recognised to redact it.
fn open_basis(mut basis: DiffBasis, keys: Option<&SecretKeys>) -> DiffBasis {
    let holds = basis.desired.values().any(|(_, p, _)| holds_sealed(p))
        || basis.secrets.iter().any(|s| sealed::contains(s));
    if !holds {
        return basis;
    }
    let Some(ring) = keys.map(SecretKeys::current) else {
        basis.fields_shown = false;
        return basis;
    };
    let mut opened_secrets = Vec::new();
    let mut texts: Vec<String> = basis.secrets.clone();
    for (_, props, _) in basis.desired.values() {
        collect_strings(props, &mut texts);
    }
    for text in texts.iter().filter(|t| sealed::contains(t)) {
        for token in sealed::tokens(text) {
            match open_token(&ring, &token) {
                Ok(Value::String(s)) if !s.is_empty() => opened_secrets.push(s),
                Ok(Value::Null) | Ok(Value::String(_)) => {}
                Ok(other) => opened_secrets.push(other.to_string()),
                Err(_) => basis.fields_shown = false,
            }
        }
    }
    for (_, props, _) in basis.desired.values_mut() {
        match open_value(&ring, props) {
            Ok(opened) => *props = opened,
            Err(_) => basis.fields_shown = false,
        }
    }
    basis.secrets.extend(opened_secrets);
    basis
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// Asks the site what it holds and compares it with `basis`, resource by resource.
pub async fn diff(
    drivers: &dyn SiteDriver,
    basis: DiffBasis,
    keys: Option<&SecretKeys>,
    now_ms: u64,
) -> Result<pb::EnvironmentDiffResponse, Status> {
    let basis = open_basis(basis, keys);
    let seen = drivers
        .observe_details(&basis.site, &basis.environment, DIFF_TIMEOUT)
        .await
        .map_err(|e| {
            Status::unavailable(format!(
                "cannot observe environment {} at site {}: {e}; check that the site's agent is up and reachable from this member, then retry",
                basis.environment, basis.site.name
            ))
        })?;
    Ok(pb::EnvironmentDiffResponse {
        environment: basis.environment.clone(),
        site: basis.site.name.clone(),
        resources: compare(&basis, &seen),
        observed_ms: now_ms,
    })
}

/// The per-resource comparison (pure: the tests call it directly).
fn compare(basis: &DiffBasis, seen: &BTreeMap<String, ObservedDetail>) -> Vec<pb::ResourceDiff> {
    let mut out = Vec::new();
    for (name, (resource_type, desired, digest)) in &basis.desired {
        let mut d = pb::ResourceDiff {
            resource: name.clone(),
            resource_type: resource_type.clone(),
            desired_digest: digest.clone(),
            ..Default::default()
        };
        match seen.get(name) {
            None => d.state = "missing".into(),
            Some(o) => {
                d.observed_digest = o.digest.clone();
                if o.digest == *digest {
                    d.state = "in_sync".into();
                } else {
                    d.state = "drifted".into();
                    if let Ok(observed) = serde_json::from_str::<Value>(&o.properties_json) {
                        if basis.fields_shown {
                            d.fields = field_diffs(desired, &observed, &basis.secrets);
                        }
                    }
                }
            }
        }
        out.push(d);
    }
    for (name, o) in seen {
        if !basis.desired.contains_key(name) {
            out.push(pb::ResourceDiff {
                resource: name.clone(),
                observed_digest: o.digest.clone(),
                state: "unexpected".into(),
                ..Default::default()
            });
        }
    }
    out
}

/// Whether a string anywhere in `v` equals or contains one of `secrets`.
fn holds_secret(v: &Value, secrets: &[String]) -> bool {
    match v {
        Value::String(s) => secrets.iter().any(|x| s.contains(x.as_str())),
        Value::Array(items) => items.iter().any(|i| holds_secret(i, secrets)),
        Value::Object(map) => map.values().any(|i| holds_secret(i, secrets)),
        _ => false,
    }
}

/// `v` with every string equal to or containing a secret value replaced by `***`.
fn redact(v: &Value, secrets: &[String]) -> Value {
    match v {
        Value::String(s) if secrets.iter().any(|x| s.contains(x.as_str())) => {
            Value::String(REDACTED.into())
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| redact(i, secrets)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact(v, secrets)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The fields that differ between `desired` and `observed`, as JSON pointers, compared on
/// the real values and shown redacted: a secret that changed is listed (both sides `***`,
/// `secret` set) rather than hidden by two equal redactions.
fn field_diffs(desired: &Value, observed: &Value, secrets: &[String]) -> Vec<pb::FieldDiff> {
    let mut raw = Vec::new();
    walk("", Some(desired), Some(observed), &mut raw);
    let more = raw.len().saturating_sub(MAX_FIELDS);
    let mut out: Vec<pb::FieldDiff> = raw
        .into_iter()
        .take(MAX_FIELDS)
        .map(|(path, a, b)| shown(path, a, b, secrets))
        .collect();
    if more > 0 {
        out.push(pb::FieldDiff {
            path: format!("({more} more fields differ)"),
            ..Default::default()
        });
    }
    out
}

/// One differing field as shown. When both sides hold it and either holds a secret, both
/// are `***`: the site's value at a secret's place is taken for a secret too (a password
/// changed there is not shown in the clear). A field on one side only is redacted where
/// it holds a known secret.
fn shown(path: String, a: Option<&Value>, b: Option<&Value>, secrets: &[String]) -> pb::FieldDiff {
    let kind = match (a, b) {
        (Some(_), Some(_)) => "changed",
        (Some(_), None) => "only_desired",
        _ => "only_at_site",
    };
    let secret =
        a.is_some_and(|v| holds_secret(v, secrets)) || b.is_some_and(|v| holds_secret(v, secrets));
    let text = |v: Option<&Value>| match v {
        None => String::new(),
        Some(_) if secret && a.is_some() && b.is_some() => Value::from(REDACTED).to_string(),
        Some(v) => redact(v, secrets).to_string(),
    };
    pb::FieldDiff {
        desired_json: text(a),
        observed_json: text(b),
        path,
        kind: kind.into(),
        secret,
    }
}

type RawDiff<'a> = (String, Option<&'a Value>, Option<&'a Value>);

fn walk<'a>(path: &str, a: Option<&'a Value>, b: Option<&'a Value>, out: &mut Vec<RawDiff<'a>>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let child = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                walk(&child, x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(&format!("{path}/{i}"), x.get(i), y.get(i), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push((path.to_string(), a, b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn basis() -> DiffBasis {
        DiffBasis {
            environment: "e".into(),
            site: serde_json::from_value(json!({
                "name": "s", "region": "eu", "latitude": 0.0, "longitude": 0.0,
                "driver": { "agent": { "endpoint": "127.0.0.1:1" } }
            }))
            .unwrap(),
            desired: [
                (
                    "web".to_string(),
                    (
                        "sim.resource".to_string(),
                        json!({"replicas": 3, "env": {"PASSWORD": "hunter2", "MODE": "a"}, "ports": [80]}),
                        "d-web".to_string(),
                    ),
                ),
                ("db".to_string(), ("sim.resource".to_string(), json!({}), "d-db".to_string())),
                ("cache".to_string(), ("sim.resource".to_string(), json!({}), "d-cache".to_string())),
            ]
            .into(),
            secrets: vec!["hunter2".into()],
            fields_shown: true,
        }
    }

    #[test]
    fn sealed_values_are_opened_to_compare_and_their_plaintext_is_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        crate::secrets::add_new_key(&file).unwrap();
        let keys = SecretKeys::load(&file).unwrap();
        let token = crate::secrets::seal(&keys.current(), &json!("hunter2")).unwrap();
        let mut b = basis();
        b.secrets = vec![token.clone()];
        b.desired.get_mut("web").unwrap().1 =
            json!({"replicas": 3, "env": {"PASSWORD": token, "MODE": "a"}, "ports": [80]});
        let observed: BTreeMap<String, ObservedDetail> = [(
            "web".to_string(),
            seen(
                "drift-1",
                json!({"replicas": 4, "env": {"PASSWORD": "hunter2", "MODE": "a"}, "ports": [80]}),
            ),
        )]
        .into();
        // Opened: the password is equal on both sides, so only replicas differs, and the
        // plaintext the site reports is nowhere in the answer.
        let diffs = compare(&open_basis(b.clone(), Some(&keys)), &observed);
        let web = diffs.iter().find(|d| d.resource == "web").unwrap();
        let paths: Vec<&str> = web.fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/replicas"]);
        assert!(!format!("{diffs:?}").contains("hunter2"));
        // Without the key: no field is listed (the plaintext could not be recognised).
        let diffs = compare(&open_basis(b, None), &observed);
        let web = diffs.iter().find(|d| d.resource == "web").unwrap();
        assert_eq!(web.state, "drifted");
        assert!(web.fields.is_empty());
        assert!(!format!("{diffs:?}").contains("hunter2"));
    }

    fn seen(digest: &str, props: Value) -> ObservedDetail {
        ObservedDetail {
            digest: digest.into(),
            properties_json: props.to_string(),
        }
    }

    #[test]
    fn resources_are_compared_field_by_field_with_secrets_redacted() {
        let observed: BTreeMap<String, ObservedDetail> = [
            (
                "web".to_string(),
                seen(
                    "drift-1",
                    json!({"replicas": 5, "env": {"PASSWORD": "hunter2-changed", "MODE": "a"}, "ports": [80, 443], "_drift": 1}),
                ),
            ),
            ("db".to_string(), seen("d-db", json!({}))),
            ("stray".to_string(), seen("x", json!({}))),
        ]
        .into();
        let diffs = compare(&basis(), &observed);
        let state: BTreeMap<_, _> = diffs
            .iter()
            .map(|d| (d.resource.as_str(), d.state.as_str()))
            .collect();
        assert_eq!(
            state,
            [
                ("cache", "missing"),
                ("db", "in_sync"),
                ("stray", "unexpected"),
                ("web", "drifted")
            ]
            .into()
        );
        let web = diffs.iter().find(|d| d.resource == "web").unwrap();
        let fields: Vec<(&str, &str, &str, &str, bool)> = web
            .fields
            .iter()
            .map(|f| {
                (
                    f.path.as_str(),
                    f.desired_json.as_str(),
                    f.observed_json.as_str(),
                    f.kind.as_str(),
                    f.secret,
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("/_drift", "", "1", "only_at_site", false),
                ("/env/PASSWORD", "\"***\"", "\"***\"", "changed", true),
                ("/ports/1", "", "443", "only_at_site", false),
                ("/replicas", "3", "5", "changed", false),
            ],
            "the secret differs: listed, both sides redacted"
        );
        assert!(!format!("{diffs:?}").contains("hunter2"));
    }

    #[test]
    fn a_secret_changed_at_the_site_is_listed_and_its_new_value_is_not_shown() {
        let observed: BTreeMap<String, ObservedDetail> = [(
            "web".to_string(),
            seen(
                "drift-1",
                json!({"replicas": 3, "env": {"PASSWORD": "swordfish", "MODE": "a"}, "ports": [80], "mode": "0644"}),
            ),
        )]
        .into();
        let diffs = compare(&basis(), &observed);
        let web = diffs.iter().find(|d| d.resource == "web").unwrap();
        let text = format!("{diffs:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("swordfish"),
            "{text}"
        );
        let password = web
            .fields
            .iter()
            .find(|f| f.path == "/env/PASSWORD")
            .unwrap();
        assert!(password.secret);
        assert_eq!(password.kind, "changed");
        assert_eq!(password.observed_json, "\"***\"");
        // A field the blueprint does not set (a site default) is marked as such, not as a
        // change of a desired value.
        let mode = web.fields.iter().find(|f| f.path == "/mode").unwrap();
        assert_eq!(
            (mode.kind.as_str(), mode.desired_json.as_str()),
            ("only_at_site", "")
        );
        // A field the site lacks, holding a secret: redacted where it is.
        let observed: BTreeMap<String, ObservedDetail> = [(
            "web".to_string(),
            seen(
                "drift-2",
                json!({"replicas": 3, "env": {"MODE": "a"}, "ports": [80]}),
            ),
        )]
        .into();
        let diffs = compare(&basis(), &observed);
        let web = diffs.iter().find(|d| d.resource == "web").unwrap();
        let password = web
            .fields
            .iter()
            .find(|f| f.path == "/env/PASSWORD")
            .unwrap();
        assert_eq!(
            (
                password.kind.as_str(),
                password.desired_json.as_str(),
                password.observed_json.as_str(),
                password.secret
            ),
            ("only_desired", "\"***\"", "", true)
        );
    }

    #[test]
    fn policies_are_checked_where_the_request_arrives() {
        assert_eq!(policy_from_parts("drift", 0, "", 0).unwrap(), None);
        let p = policy_from_parts("drift", 60_000, "heal", 4)
            .unwrap()
            .unwrap();
        assert_eq!(p.on_drift, OnDrift::Heal);
        for (every, on, max) in [
            (60_000, "sometimes", 4),
            (10, "notify", 0),
            (60_000, "heal", 0),
        ] {
            let e = policy_from_parts("drift", every, on, max).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
            assert!(e.message().contains("drift"), "{e}");
        }
    }
}
