//! Views of the cluster: its members, a member's status, membership changes (`cluster
//! init` and `cluster bootstrap`: `formation.rs`).

use moor_proto::api;
use serde::Serialize;

use super::cells::{dash, escape_controls, opt};
use super::table::{fields, grid};
use super::View;

/// One member of the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub id: u64,
    pub addr: String,
    /// `voter` or `learner`.
    pub role: &'static str,
    /// Last log index the leader knows this member holds (leader's view only).
    pub matched_index: Option<u64>,
    /// Entries behind the leader's last log index (leader's view only).
    pub lag: Option<u64>,
    /// The highest feature level the member's release supports (leader's view only).
    pub supported_feature_level: Option<u32>,
}

impl From<&api::Member> for MemberView {
    fn from(m: &api::Member) -> Self {
        MemberView {
            id: m.id,
            addr: m.addr.clone(),
            role: if m.voter { "voter" } else { "learner" },
            matched_index: m.matched_index,
            lag: m.lag,
            supported_feature_level: m.supported_feature_level,
        }
    }
}

fn members_table(members: &[MemberView]) -> String {
    grid(
        Some(&["ID", "ADDR", "ROLE", "MATCHED", "LAG", "SUPPORTS"]),
        members
            .iter()
            .map(|m| {
                vec![
                    m.id.to_string(),
                    m.addr.clone(),
                    m.role.to_string(),
                    opt(m.matched_index),
                    opt(m.lag),
                    opt(m.supported_feature_level.map(u64::from)),
                ]
            })
            .collect(),
        &[0, 3, 4, 5],
    )
}

/// `cluster status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    /// The member that answered.
    pub member: u64,
    /// The cluster it belongs to (new for a cluster restored from a backup); empty before
    /// the member has applied it.
    pub cluster_id: String,
    pub state: String,
    pub leader_id: Option<u64>,
    pub leader_addr: String,
    /// The answering member's peer address (what membership records); clients use its
    /// client address.
    pub peer_addr: String,
    pub term: u64,
    pub last_log_index: u64,
    pub committed_index: u64,
    pub applied_index: u64,
    pub snapshot_index: u64,
    pub purged_index: u64,
    pub log_appends: u64,
    pub log_entries: u64,
    pub fsyncs: u64,
    /// The cluster's feature level as the answering member applied it (1 from releases
    /// before feature levels, which do not report it).
    pub feature_level: u32,
    /// The highest feature level the answering member's release supports (1: a release
    /// before feature levels).
    pub supported_feature_level: u32,
    /// The answering member's release; empty from releases before feature levels.
    pub version: String,
    /// Whether the answering member raises the level by itself when it leads.
    pub auto_finalize: bool,
    pub members: Vec<MemberView>,
}

impl From<&api::ClusterStatusResponse> for StatusView {
    fn from(s: &api::ClusterStatusResponse) -> Self {
        let mut members: Vec<MemberView> = s.members.iter().map(MemberView::from).collect();
        members.sort_by_key(|m| m.id);
        StatusView {
            member: s.id,
            cluster_id: s.cluster_id.clone(),
            state: s.state.clone(),
            leader_id: s.leader_id,
            leader_addr: s.leader_addr.clone(),
            peer_addr: s.peer_addr.clone(),
            term: s.term,
            last_log_index: s.last_log_index,
            committed_index: s.committed_index,
            applied_index: s.applied_index,
            snapshot_index: s.snapshot_index,
            purged_index: s.purged_index,
            log_appends: s.log_appends,
            log_entries: s.log_entries,
            fsyncs: s.fsyncs,
            feature_level: s.feature_level.max(1),
            supported_feature_level: s.supported_feature_level.max(1),
            version: s.version.clone(),
            auto_finalize: s.auto_finalize,
            members,
        }
    }
}

impl View for StatusView {
    fn table(&self) -> String {
        let leader = match (self.leader_id, self.leader_addr.as_str()) {
            (None, _) => "none".to_string(),
            (Some(id), "") => id.to_string(),
            (Some(id), addr) => format!("{id} ({addr})"),
        };
        let mut rows = Vec::new();
        if !self.cluster_id.is_empty() {
            rows.push(("cluster id", escape_controls(&self.cluster_id)));
        }
        rows.extend([
            ("member", self.member.to_string()),
            ("peer addr", dash(&self.peer_addr)),
            ("state", self.state.clone()),
            ("leader", leader),
            ("term", self.term.to_string()),
            ("last log index", self.last_log_index.to_string()),
            ("committed index", self.committed_index.to_string()),
            ("applied index", self.applied_index.to_string()),
            ("snapshot index", self.snapshot_index.to_string()),
            ("purged index", self.purged_index.to_string()),
            ("log appends", self.log_appends.to_string()),
            ("log entries", self.log_entries.to_string()),
            ("fsyncs", self.fsyncs.to_string()),
            ("feature level", self.feature_level.to_string()),
            (
                "release",
                format!(
                    "{} (supports feature levels up to {}{})",
                    dash(&self.version),
                    self.supported_feature_level,
                    if self.auto_finalize {
                        ", raises the level by itself"
                    } else {
                        ""
                    }
                ),
            ),
        ]);
        let head = fields(rows);
        format!("{head}\n\n{}", members_table(&self.members))
    }
}

/// `cluster upgrade-finalize`: the feature level before and after.
#[derive(Debug, Clone, Serialize)]
pub struct FinalizeView {
    pub previous_level: u32,
    pub feature_level: u32,
    /// The log index of the entry that raised it; 0 when the cluster already was there.
    pub log_index: u64,
}

impl From<&api::UpgradeFinalizeResponse> for FinalizeView {
    fn from(r: &api::UpgradeFinalizeResponse) -> Self {
        FinalizeView {
            previous_level: r.previous_level,
            feature_level: r.feature_level,
            log_index: r.log_index,
        }
    }
}

impl View for FinalizeView {
    fn table(&self) -> String {
        if self.log_index == 0 {
            format!(
                "the cluster already runs at feature level {}: nothing to do",
                self.feature_level
            )
        } else {
            format!(
                "feature level raised from {} to {} (log index {})",
                self.previous_level, self.feature_level, self.log_index
            )
        }
    }
}

/// `cluster add / promote / remove`: the membership after the change.
#[derive(Debug, Clone, Serialize)]
pub struct MembershipView {
    pub members: Vec<MemberView>,
    /// Log index of the committed membership change.
    pub log_index: u64,
}

impl From<&api::MembershipResponse> for MembershipView {
    fn from(r: &api::MembershipResponse) -> Self {
        let mut members: Vec<MemberView> = r.members.iter().map(MemberView::from).collect();
        members.sort_by_key(|m| m.id);
        MembershipView {
            members,
            log_index: r.log_index,
        }
    }
}

impl View for MembershipView {
    fn table(&self) -> String {
        format!(
            "{}\n\nmembership committed at log index {}",
            members_table(&self.members),
            self.log_index
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::views::render;

    fn sample_status() -> api::ClusterStatusResponse {
        api::ClusterStatusResponse {
            id: 1,
            state: "Leader".into(),
            leader_id: Some(1),
            leader_addr: "127.0.0.1:7401".into(),
            peer_addr: "127.0.0.1:7402".into(),
            term: 3,
            last_log_index: 120,
            committed_index: 119,
            applied_index: 118,
            snapshot_index: 100,
            purged_index: 50,
            members: vec![
                api::Member {
                    id: 2,
                    addr: "127.0.0.1:7402".into(),
                    voter: true,
                    matched_index: Some(117),
                    lag: Some(3),
                    supported_feature_level: Some(1),
                },
                api::Member {
                    id: 1,
                    addr: "127.0.0.1:7401".into(),
                    voter: true,
                    matched_index: Some(120),
                    lag: Some(0),
                    supported_feature_level: Some(2),
                },
                api::Member {
                    id: 4,
                    addr: "127.0.0.1:7404".into(),
                    voter: false,
                    matched_index: None,
                    lag: None,
                    supported_feature_level: None,
                },
            ],
            log_appends: 40,
            log_entries: 120,
            fsyncs: 41,
            cluster_id: String::new(),
            feature_level: 2,
            supported_feature_level: 2,
            version: "0.1.0".into(),
            auto_finalize: true,
        }
    }

    #[test]
    fn status_table() {
        let text = render(&StatusView::from(&sample_status()), OutputFormat::Table).unwrap();
        let expected = "\
member           1
peer addr        127.0.0.1:7402
state            Leader
leader           1 (127.0.0.1:7401)
term             3
last log index   120
committed index  119
applied index    118
snapshot index   100
purged index     50
log appends      40
log entries      120
fsyncs           41
feature level    2
release          0.1.0 (supports feature levels up to 2, raises the level by itself)

ID  ADDR            ROLE     MATCHED  LAG  SUPPORTS
 1  127.0.0.1:7401  voter        120    0         2
 2  127.0.0.1:7402  voter        117    3         1
 4  127.0.0.1:7404  learner        -    -         -
";
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn status_shows_the_cluster_id_once_there_is_one() {
        let mut s = sample_status();
        s.cluster_id = "c-7f3a".into();
        let text = StatusView::from(&s).table();
        assert!(
            text.starts_with("cluster id       c-7f3a\nmember           1\n"),
            "{text}"
        );
        let json = render(&StatusView::from(&s), OutputFormat::Json).unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["cluster_id"], "c-7f3a");
    }

    #[test]
    fn status_without_leader() {
        let mut s = sample_status();
        s.leader_id = None;
        s.leader_addr.clear();
        let text = StatusView::from(&s).table();
        assert!(text.contains("leader           none\n"), "{text}");
    }

    #[test]
    fn status_json() {
        let text = render(&StatusView::from(&sample_status()), OutputFormat::Json).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["member"], 1);
        assert_eq!(json["state"], "Leader");
        assert_eq!(json["leader_id"], 1);
        assert_eq!(json["fsyncs"], 41);
        assert_eq!(json["members"][0]["id"], 1);
        assert_eq!(json["members"][2]["role"], "learner");
        assert!(json["members"][2]["lag"].is_null());
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn status_yaml() {
        let text = render(&StatusView::from(&sample_status()), OutputFormat::Yaml).unwrap();
        assert!(text.contains("state: Leader\n"), "{text}");
        assert!(text.contains("applied_index: 118\n"), "{text}");
        assert!(text.contains("role: learner\n"), "{text}");
        let back: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back["members"][1]["addr"].as_str(), Some("127.0.0.1:7402"));
    }
}
