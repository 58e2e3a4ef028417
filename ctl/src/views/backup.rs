//! Views of backup files: what `cluster snapshot save` wrote and what `cluster snapshot
//! inspect` read. Everything shown comes from the file's header, which a damaged or foreign
//! file may fill with anything, so every text is escaped in tables.

use std::collections::BTreeMap;

use moor_proto::api::BackupHeader;
use serde::Serialize;

use super::cells::{dash, escape_controls};
use super::table::{fields, grid};
use super::time::utc;
use super::View;

/// `cluster snapshot save`: the backup written.
#[derive(Debug, Clone, Serialize)]
pub struct SavedView {
    pub file: String,
    pub bytes: u64,
    /// The committed log position the backup is at.
    pub index: u64,
    pub term: u64,
    pub cluster_id: String,
    /// The endpoint that answered, and the id of the member there that took the backup.
    pub endpoint: String,
    pub taken_by: u64,
    /// SHA-256 of the file but its last 32 bytes (the checksum it carries), hex.
    pub sha256: String,
    /// Objects per kind in the state.
    pub counts: BTreeMap<String, u64>,
    /// Executions running at that index: a restore from this backup marks them interrupted.
    pub running_executions: u64,
}

impl SavedView {
    /// The view of the verified backup `header`, `bytes` long, written to `file`.
    pub fn new(
        file: String,
        bytes: u64,
        header: &BackupHeader,
        endpoint: String,
        sha256: String,
    ) -> SavedView {
        SavedView {
            file,
            bytes,
            index: header.index,
            term: header.term,
            cluster_id: header.cluster_id.clone(),
            endpoint,
            taken_by: header.taken_by,
            sha256,
            counts: header.counts.clone().into_iter().collect(),
            running_executions: header.running_executions,
        }
    }
}

impl View for SavedView {
    fn table(&self) -> String {
        let head = fields(vec![
            ("file", escape_controls(&self.file)),
            ("bytes", self.bytes.to_string()),
            ("index", self.index.to_string()),
            ("term", self.term.to_string()),
            ("cluster id", dash(&self.cluster_id)),
            (
                "taken by",
                format!("member {} ({})", self.taken_by, self.endpoint),
            ),
            ("checksum", format!("sha256 {}", self.sha256)),
            ("running executions", running(self.running_executions)),
        ]);
        format!(
            "{head}\n\n{}\n\nbackup saved and verified; restore it with `moord restore \
             --snapshot {}` (see deploy/README.md)",
            counts_table(&self.counts),
            escape_controls(&self.file)
        )
    }
}

/// One member of the membership a backup records.
#[derive(Debug, Clone, Serialize)]
pub struct BackupMemberView {
    pub id: u64,
    /// Its peer address.
    pub addr: String,
    pub voter: bool,
}

/// Whether a backup's checksum matches its content.
#[derive(Debug, Clone, Serialize)]
pub struct ChecksumView {
    pub ok: bool,
    /// The checksum the file carries, hex.
    pub sha256: String,
    /// What its content hashes to, when that differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed: Option<String>,
}

impl ChecksumView {
    /// The file carries `sha256`, and its content hashes to it.
    pub fn ok(sha256: String) -> ChecksumView {
        ChecksumView {
            ok: true,
            sha256,
            computed: None,
        }
    }

    /// The file carries `stored`, but its content hashes to `computed`.
    pub fn mismatch(stored: String, computed: String) -> ChecksumView {
        ChecksumView {
            ok: false,
            sha256: stored,
            computed: Some(computed),
        }
    }
}

/// `cluster snapshot inspect`: a backup file's header and whether its checksum matches.
#[derive(Debug, Clone, Serialize)]
pub struct InspectView {
    pub file: String,
    pub bytes: u64,
    pub format_version: u32,
    pub state_encoding_version: u32,
    pub index: u64,
    pub term: u64,
    pub cluster_id: String,
    pub created_ms: u64,
    pub taken_by: u64,
    pub moord_version: String,
    pub members: Vec<BackupMemberView>,
    pub counts: BTreeMap<String, u64>,
    pub running_executions: u64,
    pub state_bytes: u64,
    pub checksum: ChecksumView,
}

impl InspectView {
    /// The view of `header`, read from `file` (`bytes` long), whose checksum is `checksum`.
    pub fn new(file: String, bytes: u64, header: &BackupHeader, checksum: ChecksumView) -> Self {
        let mut members: Vec<BackupMemberView> = header
            .members
            .iter()
            .map(|m| BackupMemberView {
                id: m.id,
                addr: m.addr.clone(),
                voter: m.voter,
            })
            .collect();
        members.sort_by_key(|m| m.id);
        InspectView {
            file,
            bytes,
            format_version: header.format_version,
            state_encoding_version: header.state_encoding_version,
            index: header.index,
            term: header.term,
            cluster_id: header.cluster_id.clone(),
            created_ms: header.created_unix_ms,
            taken_by: header.taken_by,
            moord_version: header.moord_version.clone(),
            members,
            counts: header.counts.clone().into_iter().collect(),
            running_executions: header.running_executions,
            state_bytes: header.state_len,
            checksum,
        }
    }

    fn checksum_cell(&self) -> String {
        let c = &self.checksum;
        match &c.computed {
            None => format!("ok (sha256 {})", c.sha256),
            Some(computed) => format!(
                "MISMATCH (the file says sha256 {}, its content hashes to {computed})",
                escape_controls(&c.sha256)
            ),
        }
    }
}

impl View for InspectView {
    fn table(&self) -> String {
        let head = fields(vec![
            ("file", escape_controls(&self.file)),
            ("bytes", self.bytes.to_string()),
            ("format version", self.format_version.to_string()),
            (
                "state encoding version",
                self.state_encoding_version.to_string(),
            ),
            ("index", self.index.to_string()),
            ("term", self.term.to_string()),
            ("cluster id", dash(&self.cluster_id)),
            ("created", utc(self.created_ms)),
            ("taken by", format!("member {}", self.taken_by)),
            ("moord version", dash(&self.moord_version)),
            ("state bytes", self.state_bytes.to_string()),
            ("running executions", running(self.running_executions)),
            ("checksum", self.checksum_cell()),
        ]);
        let members = grid(
            Some(&["MEMBER", "PEER ADDR", "ROLE"]),
            self.members
                .iter()
                .map(|m| {
                    vec![
                        m.id.to_string(),
                        escape_controls(&m.addr),
                        if m.voter { "voter" } else { "learner" }.to_string(),
                    ]
                })
                .collect(),
            &[0],
        );
        format!("{head}\n\n{members}\n\n{}", counts_table(&self.counts))
    }
}

/// `2 (a restore marks them interrupted)`; none as `0`.
fn running(n: u64) -> String {
    if n == 0 {
        "0".to_string()
    } else {
        format!("{n} (a restore marks them interrupted, to resume with `moorctl exec resume ID`)")
    }
}

/// Objects per kind, in the order of their names.
fn counts_table(counts: &BTreeMap<String, u64>) -> String {
    grid(
        Some(&["KIND", "COUNT"]),
        counts
            .iter()
            .map(|(kind, n)| vec![escape_controls(kind), n.to_string()])
            .collect(),
        &[1],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::views::render;
    use moor_proto::api::Member;

    fn header() -> BackupHeader {
        BackupHeader {
            format_version: 1,
            state_encoding_version: 2,
            index: 42,
            term: 3,
            cluster_id: "c-7f3a".into(),
            members: vec![
                Member {
                    id: 2,
                    addr: "10.0.0.2:7402".into(),
                    voter: true,
                    ..Default::default()
                },
                Member {
                    id: 1,
                    addr: "10.0.0.1:7402".into(),
                    voter: true,
                    ..Default::default()
                },
                Member {
                    id: 4,
                    addr: "10.0.0.4:7402".into(),
                    voter: false,
                    ..Default::default()
                },
            ],
            created_unix_ms: 1_700_000_000_000,
            taken_by: 2,
            moord_version: "0.1.0".into(),
            counts: [("sites".to_string(), 24), ("executions".to_string(), 5)].into(),
            state_len: 1000,
            running_executions: 2,
        }
    }

    #[test]
    fn inspect_table() {
        let sum = "ab".repeat(32);
        let ok = ChecksumView::ok(sum.clone());
        let view = InspectView::new("m.backup".into(), 1234, &header(), ok);
        let text = render(&view, OutputFormat::Table).unwrap();
        let expected = format!(
            "\
file                    m.backup
bytes                   1234
format version          1
state encoding version  2
index                   42
term                    3
cluster id              c-7f3a
created                 2023-11-14T22:13:20Z
taken by                member 2
moord version           0.1.0
state bytes             1000
running executions      2 (a restore marks them interrupted, to resume with `moorctl exec resume ID`)
checksum                ok (sha256 {sum})

MEMBER  PEER ADDR      ROLE
     1  10.0.0.1:7402  voter
     2  10.0.0.2:7402  voter
     4  10.0.0.4:7402  learner

KIND        COUNT
executions      5
sites          24
"
        );
        assert_eq!(text, expected, "\n{text}");
    }

    #[test]
    fn a_mismatch_names_both_checksums() {
        let bad = ChecksumView::mismatch("aa".into(), "bb".into());
        let view = InspectView::new("m.backup".into(), 1234, &header(), bad);
        let text = view.table();
        assert!(
            text.contains("checksum                MISMATCH (the file says sha256 aa, its content hashes to bb)"),
            "\n{text}"
        );
        let json = render(&view, OutputFormat::Json).unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["checksum"]["ok"], false);
        assert_eq!(json["checksum"]["computed"], "bb");
        assert_eq!(json["members"][2]["voter"], false);
        assert_eq!(json["counts"]["sites"], 24);
    }

    #[test]
    fn saved_view() {
        let view = SavedView::new(
            "/b/m.backup".into(),
            1234,
            &header(),
            "127.0.0.1:7401".into(),
            "cd".repeat(32),
        );
        let text = view.table();
        assert!(
            text.contains("taken by            member 2 (127.0.0.1:7401)\n"),
            "\n{text}"
        );
        assert!(text.contains("cluster id          c-7f3a\n"), "\n{text}");
        assert!(text.ends_with("`moord restore --snapshot /b/m.backup` (see deploy/README.md)"));
        let yaml = render(&view, OutputFormat::Yaml).unwrap();
        assert!(yaml.contains("running_executions: 2\n"), "{yaml}");
        assert!(yaml.contains("index: 42\n"), "{yaml}");
    }

    #[test]
    fn header_text_cannot_drive_the_terminal() {
        let mut h = header();
        h.cluster_id = "c\x1b[2J".into();
        h.counts.insert("evil\x07".into(), 1);
        let ok = ChecksumView::ok(String::new());
        let text = InspectView::new("f".into(), 1, &h, ok).table();
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    }
}
