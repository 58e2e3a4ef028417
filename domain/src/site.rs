//! Sites: the places environments run. A site has a name, a region, a position on the map,
//! labels for grouping, and the driver + connection Moor uses to reach it.

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

/// Labels of a site or an environment, by key: a sorted `Vec` that encodes like the
/// `BTreeMap` it replaced, at a fraction of its memory for the few labels one object has
/// (see [`crate::environment::ResourceMap`]).
pub type Labels = LiteMap<String, String>;

/// How Moor reaches a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Driver {
    /// A site agent (or `moor-sitesim`) speaking the site protocol at `endpoint` (host:port).
    Agent { endpoint: String },
    /// A Kubernetes cluster Moor drives directly through its API. Only a reference is kept in
    /// the replicated state: the path of a kubeconfig file every member can read (never the
    /// credentials themselves), and the context to use (its current one when absent).
    Kubernetes {
        kubeconfig: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
    },
}

/// A place where environments run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: String,
    pub region: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub labels: Labels,
    pub driver: Driver,
}

impl Eq for Site {}

/// A site the leader's drift checks could not reach: since when, and the last error. Kept
/// until a check or a step there succeeds, or the site is put with another driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreachable {
    /// When the first check without an answer was recorded.
    pub since_ms: u64,
    /// What the site's driver said, at most [`MAX_REACHABILITY_ERROR`] bytes.
    pub error: String,
}

/// Longest error kept for an unreachable site (the rest is cut at a character boundary).
pub const MAX_REACHABILITY_ERROR: usize = 512;

/// `error` cut to at most [`MAX_REACHABILITY_ERROR`] bytes at a character boundary, ending
/// in `…` when cut.
pub fn bounded_error(error: &str) -> String {
    let kept = crate::text::bounded(error, MAX_REACHABILITY_ERROR);
    if kept.len() < error.len() {
        format!("{kept}…")
    } else {
        kept
    }
}

/// Checks a name used for sites, environments and blueprints: lower-case letters, digits
/// and dashes, starting and ending with a letter or digit, at most 63 characters (a DNS
/// label, so it can name Kubernetes objects too).
pub fn validate_name(kind: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{kind} name {name:?} is not valid: use 1-63 lower-case letters, digits and dashes, starting and ending with a letter or digit"
        ))
    }
}

impl Site {
    /// Every problem with this site definition.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if let Err(e) = validate_name("site", &self.name) {
            errors.push(e);
        }
        if self.region.trim().is_empty() {
            errors.push(format!("site {}: region must not be empty", self.name));
        }
        if !(-90.0..=90.0).contains(&self.latitude) || self.latitude.is_nan() {
            errors.push(format!(
                "site {}: latitude {} is outside -90..90",
                self.name, self.latitude
            ));
        }
        if !(-180.0..=180.0).contains(&self.longitude) || self.longitude.is_nan() {
            errors.push(format!(
                "site {}: longitude {} is outside -180..180",
                self.name, self.longitude
            ));
        }
        for (k, v) in &self.labels {
            if k.is_empty() || k.len() > 63 || v.len() > 63 {
                errors.push(format!(
                    "site {}: label {k:?}={v:?} must have a 1-63 character key and a value of at most 63 characters",
                    self.name
                ));
            }
        }
        match &self.driver {
            Driver::Agent { endpoint } => {
                if let Err(hint) = validate_endpoint(endpoint) {
                    errors.push(format!(
                        "site {}: agent endpoint {endpoint:?}: {hint}",
                        self.name
                    ));
                }
            }
            Driver::Kubernetes {
                kubeconfig,
                context,
            } => {
                if !kubeconfig.starts_with('/') || kubeconfig.len() > 4096 {
                    errors.push(format!(
                        "site {}: kubeconfig {kubeconfig:?} must be an absolute path (a file every member can read)",
                        self.name
                    ));
                }
                if context
                    .as_deref()
                    .is_some_and(|c| c.is_empty() || c.len() > 253)
                {
                    errors.push(format!(
                        "site {}: kube context must be 1 to 253 characters",
                        self.name
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Checks a `host:port` address: a member's peer address or a site agent's endpoint.
pub fn validate_endpoint(addr: &str) -> Result<(), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| "expected host:port, e.g. 10.0.0.5:7401".to_string())?;
    if host.is_empty() || host.contains('/') || host.contains(' ') {
        return Err(format!(
            "host {host:?} is not a host name or IP; expected host:port"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("port {port:?} is not a number from 1 to 65535")),
    }
}

#[cfg(test)]
#[path = "tests/site.rs"]
mod tests;
