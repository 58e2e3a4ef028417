//! Views of sites: one site, and the list.

use std::collections::BTreeMap;

use moor_proto::workflow as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls, labels_cell};
use super::table::{fields, grid};
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
                        labels_cell(&s.labels),
                    ]
                })
                .collect(),
            &[2, 3],
        )
    }
}
