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
            ("agent endpoint", dash(&self.agent_endpoint)),
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
            Some(&["NAME", "REGION", "LATITUDE", "LONGITUDE", "AGENT", "LABELS"]),
            self.sites
                .iter()
                .map(|s| {
                    vec![
                        escape_controls(&s.name),
                        escape_controls(&s.region),
                        s.latitude.to_string(),
                        s.longitude.to_string(),
                        dash(&s.agent_endpoint),
                        labels_cell(&s.labels),
                    ]
                })
                .collect(),
            &[2, 3],
        )
    }
}
