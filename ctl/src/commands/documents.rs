//! Telling the files of `moorctl apply -f` apart and reading a sites file.
//!
//! A file is a sites file when its top level is a mapping with a `sites` key, a groups file
//! with a `groups` key, an environments file with an `environments` key (a blueprint has
//! none of these fields; the last two are read in `env_group_files.rs`); anything else goes
//! to the server as a blueprint, even YAML that does not
//! parse, because the server's blueprint checks report every problem with its line and
//! column. A sites file is checked here, before anything is sent: unknown fields are errors
//! (a misspelt `lables` must not silently drop the labels), and the errors name the file,
//! the entry and the line.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use moor_proto::rollout as rpb;
use moor_proto::workflow as pb;
use serde::Deserialize;

use super::env_group_files::{read_environments, read_groups};

/// What a file of `apply -f` holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A blueprint; `name` when it could be read here (to say how to check an outcome).
    Blueprint { name: Option<String> },
    /// Sites, in file order.
    Sites(Vec<pb::Site>),
    /// Groups, in file order.
    Groups(Vec<rpb::Group>),
    /// Environments to create (or, when they exist, to give the file's drift policy), in
    /// file order.
    Environments(Vec<pb::CreateEnvironmentRequest>),
}

/// Tells blueprints, sites, groups and environments files apart and reads all but
/// blueprints. `file` names the file in errors.
pub fn classify(file: &str, text: &str) -> Result<Document> {
    let top = match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
        Ok(serde_yaml_ng::Value::Mapping(m)) => m,
        _ => return Ok(Document::Blueprint { name: None }),
    };
    if top.contains_key("groups") {
        return read_groups(file, text).map(Document::Groups);
    }
    if top.contains_key("environments") {
        return read_environments(file, text).map(Document::Environments);
    }
    if !top.contains_key("sites") {
        let name = top.get("name").and_then(|n| n.as_str()).map(str::to_string);
        return Ok(Document::Blueprint { name });
    }
    read_sites(file, text).map(Document::Sites)
}

/// Reads a sites file.
fn read_sites(file: &str, text: &str) -> Result<Vec<pb::Site>> {
    let parsed: SitesFile = serde_yaml_ng::from_str(text).with_context(|| {
        format!(
            "{file} is not a valid sites file (expected `sites:` with entries of name, region, \
             latitude, longitude, labels, and agent_endpoint or kubeconfig [+ kube_context])"
        )
    })?;
    if parsed.sites.is_empty() {
        bail!("{file}: `sites` lists no site; add entries or leave the file out");
    }
    let mut names = BTreeSet::new();
    let mut sites = Vec::with_capacity(parsed.sites.len());
    for (i, s) in parsed.sites.into_iter().enumerate() {
        if !names.insert(s.name.clone()) {
            bail!(
                "{file}: sites[{i}]: site {:?} is listed twice; each site once",
                s.name
            );
        }
        let mut labels = std::collections::HashMap::new();
        for (k, v) in s.labels {
            labels.insert(
                k.clone(),
                label_value(&v)
                    .with_context(|| format!("{file}: sites[{i}] ({}): label {k:?}", s.name))?,
            );
        }
        // Exactly one driver; the member checks too, this says it before anything is sent.
        if s.agent_endpoint.is_empty() == s.kubeconfig.is_empty() {
            bail!(
                "{file}: sites[{i}] ({}): give exactly one of agent_endpoint (a moor-agent or sitesim, host:port) and kubeconfig (a Kubernetes cluster: the absolute path of a kubeconfig file on every member)",
                s.name
            );
        }
        sites.push(pb::Site {
            name: s.name,
            region: s.region,
            latitude: s.latitude,
            longitude: s.longitude,
            labels,
            agent_endpoint: s.agent_endpoint,
            kubeconfig: s.kubeconfig,
            kube_context: s.kube_context,
            ..Default::default()
        });
    }
    Ok(sites)
}

/// A label value: text, or a number or boolean written without quotes (`floor: 3`).
fn label_value(v: &serde_yaml_ng::Value) -> Result<String> {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => bail!("a label value must be text, a number or true/false"),
    }
}

/// The top level of a sites file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SitesFile {
    sites: Vec<SiteEntry>,
}

/// One site in a sites file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteEntry {
    name: String,
    region: String,
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    labels: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    agent_endpoint: String,
    /// A Kubernetes site: the kubeconfig's path on the members (only the path is stored).
    #[serde(default)]
    kubeconfig: String,
    #[serde(default)]
    kube_context: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITES: &str = "\
sites:
  - name: edge-001
    region: eu-west
    latitude: 48.85
    longitude: 2.35
    labels: { tier: edge, floor: 3 }
    agent_endpoint: 10.0.0.1:7410
  - name: edge-002
    region: us-east
    latitude: 40.7
    longitude: -74
    agent_endpoint: 10.0.0.2:7410
";

    #[test]
    fn a_site_names_exactly_one_driver() {
        let k8s = "sites:\n  - {name: k1, region: eu, latitude: 1, longitude: 2, kubeconfig: /etc/moor/k1.kubeconfig, kube_context: prod}\n";
        let Document::Sites(sites) = classify("k.yaml", k8s).unwrap() else {
            panic!("not a sites file");
        };
        assert_eq!(
            (sites[0].kubeconfig.as_str(), sites[0].kube_context.as_str()),
            ("/etc/moor/k1.kubeconfig", "prod")
        );
        assert!(sites[0].agent_endpoint.is_empty());
        for bad in [
            "sites:\n  - {name: k1, region: eu, latitude: 1, longitude: 2}\n",
            "sites:\n  - {name: k1, region: eu, latitude: 1, longitude: 2, agent_endpoint: \"a:1\", kubeconfig: /k}\n",
        ] {
            let err = format!("{:#}", classify("k.yaml", bad).unwrap_err());
            assert!(err.contains("exactly one of agent_endpoint"), "{err}");
        }
    }

    #[test]
    fn sites_files_are_recognised_and_read() {
        let Document::Sites(sites) = classify("sites.yaml", SITES).unwrap() else {
            panic!("not a sites file");
        };
        assert_eq!(sites.len(), 2);
        assert_eq!(sites[0].name, "edge-001");
        assert_eq!(sites[0].labels["floor"], "3");
        assert_eq!(sites[0].labels["tier"], "edge");
        assert_eq!(sites[1].longitude, -74.0);
        assert!(sites[1].labels.is_empty());
    }

    #[test]
    fn blueprints_are_everything_else() {
        for (name, text) in [
            (
                "hello",
                include_str!("../../../examples/blueprints/hello.yaml"),
            ),
            (
                "webshop",
                include_str!("../../../examples/blueprints/webshop.yaml"),
            ),
            (
                "edge-stack",
                include_str!("../../../examples/blueprints/edge-stack.yaml"),
            ),
        ] {
            assert_eq!(
                classify("f.yaml", text).unwrap(),
                Document::Blueprint {
                    name: Some(name.to_string())
                }
            );
        }
        // Not YAML, a list, nothing at all: the server will say what is wrong, with lines.
        for text in ["name: [unclosed", "- a\n- b\n", ""] {
            assert_eq!(
                classify("x.yaml", text).unwrap(),
                Document::Blueprint { name: None },
                "{text:?}"
            );
        }
    }

    #[test]
    fn sites_file_errors_name_the_file_and_the_line() {
        let typo = SITES.replace("labels:", "lables:");
        let err = format!("{:#}", classify("sites.yaml", &typo).unwrap_err());
        assert!(
            err.contains("sites.yaml is not a valid sites file"),
            "{err}"
        );
        assert!(err.contains("lables") && err.contains("line 6"), "{err}");

        let missing = SITES.replace("    region: us-east\n", "");
        let err = format!("{:#}", classify("sites.yaml", &missing).unwrap_err());
        assert!(err.contains("missing field `region`"), "{err}");

        let twice = SITES.replace("edge-002", "edge-001");
        let err = format!("{:#}", classify("sites.yaml", &twice).unwrap_err());
        assert!(err.contains("listed twice"), "{err}");

        let err = format!("{:#}", classify("s.yaml", "sites: []").unwrap_err());
        assert!(err.contains("lists no site"), "{err}");

        let nested = SITES.replace("floor: 3", "floor: [3]");
        let err = format!("{:#}", classify("s.yaml", &nested).unwrap_err());
        assert!(err.contains("label \"floor\""), "{err}");
    }
}
