//! The view of the audit log: who called what, on what, when, from where, and the outcome.

use moor_proto::auth as pb;
use serde::Serialize;

use super::cells::{dash, escape_controls};
use super::table::grid;
use super::time::utc;
use super::View;

/// One audit entry.
#[derive(Debug, Serialize)]
pub struct AuditEntryView {
    pub seq: u64,
    pub at_ms: u64,
    pub who: String,
    pub operation: String,
    pub object: String,
    pub peer: String,
    /// `ok`, `refused: <reason>` or `denied: <missing permission>`.
    pub outcome: String,
    pub member: u64,
}

impl From<&pb::AuditEntry> for AuditEntryView {
    fn from(e: &pb::AuditEntry) -> Self {
        AuditEntryView {
            seq: e.seq,
            at_ms: e.at_ms,
            who: e.who.clone(),
            operation: e.operation.clone(),
            object: e.object.clone(),
            peer: e.peer.clone(),
            outcome: e.outcome.clone(),
            member: e.member,
        }
    }
}

/// `audit list`: the entries, and where the next page starts when there is more.
#[derive(Debug, Serialize)]
pub struct AuditListView {
    pub entries: Vec<AuditEntryView>,
    pub next_after_seq: Option<u64>,
}

impl View for AuditListView {
    fn table(&self) -> String {
        let rows = self
            .entries
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    utc(e.at_ms),
                    escape_controls(&e.who),
                    escape_controls(&e.operation),
                    dash(&e.object),
                    escape_controls(&e.outcome),
                    dash(&e.peer),
                    e.member.to_string(),
                ]
            })
            .collect();
        let header = [
            "SEQ",
            "TIME",
            "WHO",
            "OPERATION",
            "OBJECT",
            "OUTCOME",
            "PEER",
            "MEMBER",
        ];
        grid(Some(&header), rows, &[0, 7])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::views::auth::{TokenListView, TokenView};
    use crate::views::render;

    #[test]
    fn audit_table_and_json() {
        let view = AuditListView {
            entries: vec![AuditEntryView::from(&pb::AuditEntry {
                seq: 12,
                at_ms: 1_700_000_000_000,
                who: "token:t7".into(),
                operation: "rollout.start".into(),
                object: "edge\u{1b}[2J".into(),
                peer: "10.0.0.9:5123".into(),
                outcome: "denied: rollout.start".into(),
                member: 2,
            })],
            next_after_seq: Some(12),
        };
        let text = render(&view, OutputFormat::Table).unwrap();
        assert!(text.starts_with("SEQ  TIME"), "{text}");
        assert!(
            text.contains("2023-11-14T22:13:20Z  token:t7  rollout.start"),
            "{text}"
        );
        assert!(
            text.contains("edge\\u{1b}[2J"),
            "control characters escaped: {text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&view, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(json["entries"][0]["outcome"], "denied: rollout.start");
        assert_eq!(json["next_after_seq"], 12);
    }

    #[test]
    fn token_list_table() {
        let t = |id: &str, revoked| {
            TokenView::from(&pb::TokenInfo {
                id: id.into(),
                role: "deployer".into(),
                groups: vec!["edge-*".into()],
                revoked,
                revoked_at_ms: 1_700_000_000_000,
                ..Default::default()
            })
        };
        let view = TokenListView {
            tokens: vec![t("t1", false), t("t2", true)],
        };
        let text = render(&view, OutputFormat::Table).unwrap();
        assert!(
            text.contains("t1  deployer  groups edge-*  never    active"),
            "{text}"
        );
        assert!(text.contains("revoked 2023-11-14T22:13:20Z"), "{text}");
    }
}
