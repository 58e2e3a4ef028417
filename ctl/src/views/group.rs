//! Views of groups: one group with its selector and how much it selects, and the list.

use moor_proto::names::{display, GroupKind};
use moor_proto::rollout as pb;
use serde::Serialize;

use super::cells::escape_controls;
use super::table::{fields, grid};
use super::View;

#[derive(Debug, Serialize)]
pub struct GroupView {
    pub name: String,
    pub kind: String,
    pub match_labels: Vec<(String, String)>,
    pub names: Vec<String>,
    pub matches: u64,
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
            Some(&["NAME", "OF", "SELECTOR", "MATCHES"]),
            self.groups
                .iter()
                .map(|g| {
                    vec![
                        g.name.clone(),
                        display::<GroupKind>(&g.kind),
                        g.selector(),
                        g.matches.to_string(),
                    ]
                })
                .collect(),
            &[3],
        )
    }
}
