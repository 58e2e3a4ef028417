//! Views of groups: one group with its selector, how much it selects and its drift policy,
//! and the list.

use moor_proto::names::{display, GroupKind};
use moor_proto::rollout as pb;
use serde::Serialize;

use super::cells::escape_controls;
use super::drift::{policy_cell, PolicyView};
use super::table::{fields, grid};
use super::View;

#[derive(Debug, Serialize)]
pub struct GroupView {
    pub name: String,
    pub kind: String,
    pub match_labels: Vec<(String, String)>,
    pub names: Vec<String>,
    pub matches: u64,
    /// The drift policy of the environments it selects that have none of their own.
    pub drift: Option<PolicyView>,
}

impl From<&pb::Group> for GroupView {
    fn from(g: &pb::Group) -> Self {
        let mut match_labels: Vec<(String, String)> = g
            .match_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match_labels.sort();
        GroupView {
            name: g.name.clone(),
            kind: g.kind.clone(),
            match_labels,
            names: g.names.clone(),
            matches: g.matches,
            drift: PolicyView::of_group(g),
        }
    }
}

impl GroupView {
    fn selector(&self) -> String {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !self.names.is_empty() {
            parts.push(format!("names: {}", self.names.len()));
        }
        if parts.is_empty() {
            "(all)".into()
        } else {
            escape_controls(&parts.join(","))
        }
    }
}

impl View for GroupView {
    fn table(&self) -> String {
        fields(vec![
            ("name", self.name.clone()),
            ("of", display::<GroupKind>(&self.kind)),
            ("selector", self.selector()),
            ("matches", self.matches.to_string()),
            ("drift policy", policy_cell(self.drift.as_ref())),
        ])
    }
}

#[derive(Debug, Serialize)]
pub struct GroupListView {
    pub groups: Vec<GroupView>,
}

impl View for GroupListView {
    fn table(&self) -> String {
        grid(
            Some(&["NAME", "OF", "SELECTOR", "MATCHES", "DRIFT POLICY"]),
            self.groups
                .iter()
                .map(|g| {
                    vec![
                        g.name.clone(),
                        display::<GroupKind>(&g.kind),
                        g.selector(),
                        g.matches.to_string(),
                        policy_cell(g.drift.as_ref()),
                    ]
                })
                .collect(),
            &[3],
        )
    }
}
