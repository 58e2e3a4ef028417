//! Views of sites: one site, and the list.

use std::collections::BTreeMap;

use moor_proto::workflow as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls, labels_cell};
use super::table::{fields, grid};
use super::time::utc;
use super::View;

/// One site.
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    pub name: String,
    pub region: String,
    pub latitude: f64,
    pub longitude: f64,
    pub labels: BTreeMap<String, String>,
    pub agent_endpoint: String,
    /// A Kubernetes site's kubeconfig path and context (empty for agent sites).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kubeconfig: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kube_context: String,
    /// Set while the cluster's drift checks (or probes) get no answer from the site: since when (ms
    /// since the epoch) and the last error.
    #[serde(skip_serializing_if = "is_zero")]
    pub unreachable_since_ms: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub unreachable_error: String,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl SiteView {
    /// How the site is reached, in one cell: the agent's address or `kubernetes <path>`.
    fn driver_cell(&self) -> String {
        if self.kubeconfig.is_empty() {
            dash(&self.agent_endpoint)
        } else if self.kube_context.is_empty() {
            format!("kubernetes {}", escape_controls(&self.kubeconfig))
        } else {
            format!(
                "kubernetes {} (context {})",
                escape_controls(&self.kubeconfig),
                escape_controls(&self.kube_context)
            )
        }
    }
}

impl SiteView {
    /// `answers`, or since when the drift checks (or probes) get no answer and why.
    fn reachability(&self) -> String {
        if self.unreachable_since_ms == 0 {
            "answers (no failed check recorded)".into()
        } else {
            format!(
                "unreachable since {}: {}",
                utc(self.unreachable_since_ms),
                escape_controls(&self.unreachable_error)
            )
        }
    }

    /// The list's cell: when the site stopped answering, or `-`.
    fn unreachable_cell(&self) -> String {
        if self.unreachable_since_ms == 0 {
            "-".into()
        } else {
            utc(self.unreachable_since_ms)
        }
    }
}

impl From<&pb::Site> for SiteView {
    fn from(s: &pb::Site) -> Self {
        SiteView {
            name: s.name.clone(),
            region: s.region.clone(),
            latitude: s.latitude,
            longitude: s.longitude,
            labels: s.labels.clone().into_iter().collect(),
            agent_endpoint: s.agent_endpoint.clone(),
            kubeconfig: s.kubeconfig.clone(),
            kube_context: s.kube_context.clone(),
            unreachable_since_ms: s.unreachable_since_ms,
            unreachable_error: s.unreachable_error.clone(),
        }
    }
}

impl View for SiteView {
    fn table(&self) -> String {
        fields(vec![
            ("name", escape_controls(&self.name)),
            ("region", escape_controls(&self.region)),
            ("latitude", self.latitude.to_string()),
            ("longitude", self.longitude.to_string()),
            ("labels", labels_cell(&self.labels)),
            ("driver", self.driver_cell()),
            ("reachability", self.reachability()),
        ])
    }
}

/// `site list`.
#[derive(Debug, Clone, Serialize)]
pub struct SiteListView {
    pub sites: Vec<SiteView>,
}

impl View for SiteListView {
    fn table(&self) -> String {
        grid(
            Some(&[
                "NAME",
                "REGION",
                "LATITUDE",
                "LONGITUDE",
                "DRIVER",
                "UNREACHABLE SINCE",
                "LABELS",
            ]),
            self.sites
                .iter()
                .map(|s| {
                    vec![
                        escape_controls(&s.name),
                        escape_controls(&s.region),
                        s.latitude.to_string(),
                        s.longitude.to_string(),
                        s.driver_cell(),
                        s.unreachable_cell(),
                        labels_cell(&s.labels),
                    ]
                })
                .collect(),
            &[2, 3],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(unreachable_since_ms: u64, error: &str) -> pb::Site {
        pb::Site {
            name: "edge-1".into(),
            region: "eu".into(),
            agent_endpoint: "10.0.0.1:7500".into(),
            unreachable_since_ms,
            unreachable_error: error.into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_unreachable_site_says_since_when_and_why() {
        let down = SiteView::from(&site(1_700_000_000_000, "connection refused\x1b[31m"));
        let text = down.table();
        assert!(
            text.contains("unreachable since 2023-11-14T22:13:20Z: connection refused"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "control characters escaped: {text}");
        let up = SiteView::from(&site(0, ""));
        assert!(up.table().contains("answers"), "{}", up.table());
        let list = SiteListView {
            sites: vec![down, up],
        }
        .table();
        assert!(list.contains("UNREACHABLE SINCE"), "{list}");
        assert!(list.contains("2023-11-14T22:13:20Z"), "{list}");
        let json = serde_json::to_value(SiteView::from(&site(0, ""))).unwrap();
        assert!(json.get("unreachable_since_ms").is_none(), "{json}");
    }
}
