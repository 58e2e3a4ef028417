//! The environments and groups files of `moorctl apply -f`, and the `drift:` block both take:
//!
//! ```yaml
//! groups:
//!   - name: edge
//!     of: environments              # or sites
//!     labels: { tier: edge }        # all must match
//!     names: [web-1, web-2]         # optional: only these
//!     drift: { check_every: 5m, on_drift: heal, max_heals_per_hour: 4 }
//! environments:                     # (in a file of its own)
//!   - name: web-1
//!     site: edge-1
//!     blueprint: hello@2            # or hello: the latest revision
//!     inputs: { message: hi }
//!     labels: { tier: edge }
//!     drift: { check_every: 30s }   # on_drift notify
//! ```
//!
//! A `drift:` block gets the defaults of the flags (`DriftPolicy::from_parts`): any key makes
//! a policy, `check_every` 5m, `on_drift` notify, `max_heals_per_hour` 4 with heal. As in a
//! sites file, unknown keys are errors, checked before anything is sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{anyhow, bail, Context, Result};
use moor_proto::names::WireName;
use moor_proto::rollout as rpb;
use moor_proto::workflow as pb;
use serde::Deserialize;

use super::drift::{set_group_policy, wire_policy};
use crate::cli::{parse_check_every, parse_name_rev, parse_wire_name, DriftPolicy, OnDrift};
use moor_proto::names::GroupKind;

/// A `drift:` block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DriftEntry {
    check_every: Option<String>,
    on_drift: Option<String>,
    max_heals_per_hour: Option<u32>,
}

impl DriftEntry {
    /// The policy the block gives, with the defaults of the flags.
    fn policy(&self) -> Result<DriftPolicy> {
        let every = self.check_every.as_deref().map(parse_check_every);
        let on_drift = self.on_drift.as_deref().map(OnDrift::parse);
        let policy = DriftPolicy::from_parts(
            every
                .transpose()
                .map_err(|e| anyhow!("drift: check_every: {e}"))?,
            on_drift.transpose().map_err(|e| anyhow!("drift: {e}"))?,
            self.max_heals_per_hour,
        );
        policy.map_err(|e| anyhow!("drift: {e}"))?.ok_or_else(|| {
            anyhow!("drift: the block is empty; give check_every and/or on_drift, or leave it out")
        })
    }
}

/// The policy of an optional `drift:` block.
fn policy_of(block: Option<&DriftEntry>) -> Result<Option<DriftPolicy>> {
    block.map(DriftEntry::policy).transpose()
}

/// The top level of a groups file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupsFile {
    groups: Vec<GroupEntry>,
}

/// One group in a groups file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupEntry {
    name: String,
    of: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    names: Vec<String>,
    drift: Option<DriftEntry>,
}

/// The top level of an environments file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentsFile {
    environments: Vec<EnvironmentEntry>,
}

/// One environment in an environments file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentEntry {
    name: String,
    site: String,
    blueprint: String,
    #[serde(default)]
    inputs: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    drift: Option<DriftEntry>,
}

/// Each entry's name once; `what` is the list's key.
fn check_names_once<'a>(
    file: &str,
    what: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (i, name) in names.enumerate() {
        if !seen.insert(name) {
            bail!("{file}: {what}[{i}]: {name:?} is listed twice; each one once");
        }
    }
    if seen.is_empty() {
        bail!("{file}: `{what}` lists nothing; add entries or leave the file out");
    }
    Ok(())
}

/// Reads a groups file (`file` names it in errors).
pub(super) fn read_groups(file: &str, text: &str) -> Result<Vec<rpb::Group>> {
    let parsed: GroupsFile = serde_yaml_ng::from_str(text).with_context(|| {
        format!(
            "{file} is not a valid groups file (expected `groups:` with entries of name, of, \
             labels, names, drift)"
        )
    })?;
    check_names_once(
        file,
        "groups",
        parsed.groups.iter().map(|g| g.name.as_str()),
    )?;
    let mut groups = Vec::with_capacity(parsed.groups.len());
    for (i, g) in parsed.groups.into_iter().enumerate() {
        let at = || format!("{file}: groups[{i}] ({})", g.name);
        let kind = parse_wire_name::<GroupKind>(&g.of).map_err(|e| anyhow!("of: {e}"));
        let mut group = rpb::Group {
            name: g.name.clone(),
            kind: kind.with_context(at)?.as_str().into(),
            match_labels: g.labels.into_iter().collect(),
            names: g.names,
            ..Default::default()
        };
        set_group_policy(&mut group, policy_of(g.drift.as_ref()).with_context(at)?);
        groups.push(group);
    }
    Ok(groups)
}

/// Reads an environments file (`file` names it in errors).
pub(super) fn read_environments(
    file: &str,
    text: &str,
) -> Result<Vec<pb::CreateEnvironmentRequest>> {
    let parsed: EnvironmentsFile = serde_yaml_ng::from_str(text).with_context(|| {
        format!(
            "{file} is not a valid environments file (expected `environments:` with entries \
             of name, site, blueprint, inputs, labels, drift)"
        )
    })?;
    let names = parsed.environments.iter().map(|e| e.name.as_str());
    check_names_once(file, "environments", names)?;
    let mut requests = Vec::with_capacity(parsed.environments.len());
    for (i, e) in parsed.environments.into_iter().enumerate() {
        let at = || format!("{file}: environments[{i}] ({})", e.name);
        let blueprint = parse_name_rev(&e.blueprint).map_err(|m| anyhow!("blueprint: {m}"));
        let blueprint = blueprint.with_context(at)?;
        requests.push(pb::CreateEnvironmentRequest {
            name: e.name.clone(),
            site: e.site,
            blueprint: blueprint.name,
            revision: blueprint.revision.unwrap_or(0),
            inputs_json: serde_json::Value::Object(e.inputs).to_string(),
            labels: e.labels.into_iter().collect::<HashMap<_, _>>(),
            retry: None,
            drift: policy_of(e.drift.as_ref())
                .with_context(at)?
                .map(wire_policy),
        });
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUPS: &str = "\
groups:
  - name: edge
    of: environments
    labels: { tier: edge }
    drift: { check_every: 5m, on_drift: heal, max_heals_per_hour: 6 }
  - name: eu
    of: sites
    labels: { region: eu-west }
    drift: { on_drift: heal }
  - name: all
    of: environments
";

    const ENVIRONMENTS: &str = "\
environments:
  - name: web-1
    site: edge-1
    blueprint: hello@2
    inputs: { message: hi, replicas: 3 }
    labels: { tier: edge }
    drift: { check_every: 30s }
  - name: web-3
    site: edge-3
    blueprint: hello
";

    #[test]
    fn groups_files_carry_drift_policies() {
        let groups = read_groups("groups.yaml", GROUPS).unwrap();
        assert_eq!(groups.len(), 3);
        let edge = &groups[0];
        assert_eq!(edge.kind, "environments");
        assert_eq!(edge.match_labels["tier"], "edge");
        assert_eq!(
            (edge.drift_check_every_ms, edge.drift_on_drift.as_str()),
            (300_000, "heal")
        );
        assert_eq!(edge.drift_max_heals_per_hour, 6);
        // Defaults as for the flags: 5m, and 4 heals an hour with heal.
        let eu = &groups[1];
        assert_eq!(eu.drift_check_every_ms, 300_000);
        assert_eq!(eu.drift_max_heals_per_hour, 4);
        assert_eq!(groups[2].drift_on_drift, "", "no block: no policy");
    }

    #[test]
    fn environments_files_carry_drift_policies() {
        let envs = read_environments("envs.yaml", ENVIRONMENTS).unwrap();
        assert_eq!(envs[0].revision, 2);
        let inputs: serde_json::Value = serde_json::from_str(&envs[0].inputs_json).unwrap();
        assert_eq!(inputs["replicas"], 3);
        let drift = envs[0].drift.as_ref().unwrap();
        assert_eq!(
            (drift.check_every_ms, drift.on_drift.as_str()),
            (30_000, "notify")
        );
        assert_eq!(drift.max_heals_per_hour, 0);
        assert_eq!(envs[1].revision, 0);
        assert_eq!(envs[1].drift, None);
    }

    #[test]
    fn drift_blocks_refuse_unknown_keys_and_bad_values() {
        let err = |file: &str, text: &str| -> String {
            let r = if text.starts_with("groups") {
                read_groups(file, text).map(|_| ())
            } else {
                read_environments(file, text).map(|_| ())
            };
            format!("{:#}", r.unwrap_err())
        };
        let typo = GROUPS.replace("max_heals_per_hour: 6", "max_heal_per_hour: 6");
        let e = err("groups.yaml", &typo);
        assert!(e.contains("groups.yaml is not a valid groups file"), "{e}");
        assert!(e.contains("unknown field `max_heal_per_hour`"), "{e}");
        assert!(e.contains("line 5"), "{e}");

        let typo = ENVIRONMENTS.replace("check_every: 30s", "check_evry: 30s");
        let e = err("envs.yaml", &typo);
        assert!(e.contains("unknown field `check_evry`"), "{e}");

        for (bad, says) in [
            ("check_every: 8d", "out of bounds"),
            ("check_every: 5", "no unit"),
            ("on_drift: fix", "is not one of notify, heal"),
            ("on_drift: heal, max_heals_per_hour: 61", "not from 1 to 60"),
            (
                "on_drift: notify, max_heals_per_hour: 2",
                "needs on_drift heal",
            ),
        ] {
            let text = GROUPS.replace(
                "check_every: 5m, on_drift: heal, max_heals_per_hour: 6",
                bad,
            );
            let e = err("groups.yaml", &text);
            assert!(e.contains("groups.yaml: groups[0] (edge)"), "{bad}: {e}");
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = err(
            "g.yaml",
            &GROUPS.replace("drift: { on_drift: heal }", "drift: {}"),
        );
        assert!(
            e.contains("groups[1] (eu)") && e.contains("block is empty"),
            "{e}"
        );
        let e = err("g.yaml", &GROUPS.replace("of: sites", "of: things"));
        assert!(e.contains("not a group kind"), "{e}");
        let e = err("g.yaml", &GROUPS.replace("name: eu", "name: edge"));
        assert!(e.contains("listed twice"), "{e}");
        let e = err("e.yaml", &ENVIRONMENTS.replace("hello@2", "hello@0"));
        assert!(
            e.contains("environments[0] (web-1)") && e.contains("revision"),
            "{e}"
        );
    }
}
