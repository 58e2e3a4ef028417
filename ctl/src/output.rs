//! What moorctl prints: one view type per kind of result, each rendered as a table for people
//! or as JSON / YAML for programs. This file has the cluster and variable views and the table
//! helpers; `workflow_views.rs` has those of blueprints, sites, environments and executions.
//!
//! Views are plain serde structs built from the wire messages, so the JSON and YAML field
//! names are a stable, documented surface independent of the generated proto types. Values
//! are bytes: they are shown as text when they are valid UTF-8 and as base64 otherwise, and the
//! machine formats say which (`value_encoding`), so a program can always get the exact bytes
//! back. Tables escape control characters, so a value cannot drive the terminal.

use std::io::{self, Write};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use comfy_table::{presets, CellAlignment, Table};
use moor_proto::api;
use serde::Serialize;

use crate::cli::OutputFormat;

/// Marks a base64-encoded value in a table cell.
pub const BASE64_MARKER: &str = "base64:";

/// How a value is written in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The value is valid UTF-8 and is shown as is.
    Utf8,
    /// The value is not UTF-8 and is shown base64-encoded (standard alphabet, padded).
    Base64,
}

/// A value ready to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Value {
    pub value: String,
    pub value_encoding: Encoding,
}

impl Value {
    /// UTF-8 text when the bytes are valid UTF-8, else base64.
    pub fn from_bytes(bytes: &[u8]) -> Value {
        match std::str::from_utf8(bytes) {
            Ok(text) => Value {
                value: text.to_string(),
                value_encoding: Encoding::Utf8,
            },
            Err(_) => Value {
                value: BASE64.encode(bytes),
                value_encoding: Encoding::Base64,
            },
        }
    }

    /// The value in a table cell: text with control characters escaped, or
    /// `base64:` followed by the encoding.
    pub fn cell(&self) -> String {
        match self.value_encoding {
            Encoding::Utf8 => escape_controls(&self.value),
            Encoding::Base64 => format!("{BASE64_MARKER}{}", self.value),
        }
    }
}

/// Escapes control characters (except newline and tab, which tables lay out), so that
/// printing a value cannot move the cursor or change the terminal.
pub(crate) fn escape_controls(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A result that can be shown in every output format.
pub trait View: Serialize {
    /// The table form, without a trailing newline.
    fn table(&self) -> String;
}

/// Renders `view` in `format`, ending with a newline.
pub fn render<V: View>(view: &V, format: OutputFormat) -> anyhow::Result<String> {
    let mut text = match format {
        OutputFormat::Table => view.table(),
        OutputFormat::Json => serde_json::to_string_pretty(view)?,
        OutputFormat::Yaml => serde_yaml_ng::to_string(view)?,
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Writes `text` to standard output. A closed pipe (`moorctl var list | head`) is not an
/// error: the reader has what it wanted.
pub fn emit(text: &str) -> anyhow::Result<()> {
    if cfg!(test) {
        // The test harness captures `print!`, not writes to the stdout handle.
        print!("{text}");
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A borderless table in the style of kubectl: columns two spaces apart, no trailing blanks.
pub(crate) fn grid(
    header: Option<&[&str]>,
    rows: Vec<Vec<String>>,
    right_aligned: &[usize],
) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    if let Some(h) = header {
        t.set_header(h.to_vec());
    }
    for row in rows {
        t.add_row(row);
    }
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for &i in right_aligned {
        if let Some(column) = t.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    t.trim_fmt()
}

/// Label / value lines, for a single result.
pub(crate) fn fields(rows: Vec<(&str, String)>) -> String {
    grid(
        None,
        rows.into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
        &[],
    )
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

// ---- cluster ----

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
}

impl From<&api::Member> for MemberView {
    fn from(m: &api::Member) -> Self {
        MemberView {
            id: m.id,
            addr: m.addr.clone(),
            role: if m.voter { "voter" } else { "learner" },
            matched_index: m.matched_index,
            lag: m.lag,
        }
    }
}

fn members_table(members: &[MemberView]) -> String {
    grid(
        Some(&["ID", "ADDR", "ROLE", "MATCHED", "LAG"]),
        members
            .iter()
            .map(|m| {
                vec![
                    m.id.to_string(),
                    m.addr.clone(),
                    m.role.to_string(),
                    opt(m.matched_index),
                    opt(m.lag),
                ]
            })
            .collect(),
        &[0, 3, 4],
    )
}

/// `cluster status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    /// The member that answered.
    pub member: u64,
    pub state: String,
    pub leader_id: Option<u64>,
    pub leader_addr: String,
    pub term: u64,
    pub last_log_index: u64,
    pub committed_index: u64,
    pub applied_index: u64,
    pub snapshot_index: u64,
    pub purged_index: u64,
    pub log_appends: u64,
    pub log_entries: u64,
    pub fsyncs: u64,
    pub members: Vec<MemberView>,
}

impl From<&api::ClusterStatusResponse> for StatusView {
    fn from(s: &api::ClusterStatusResponse) -> Self {
        let mut members: Vec<MemberView> = s.members.iter().map(MemberView::from).collect();
        members.sort_by_key(|m| m.id);
        StatusView {
            member: s.id,
            state: s.state.clone(),
            leader_id: s.leader_id,
            leader_addr: s.leader_addr.clone(),
            term: s.term,
            last_log_index: s.last_log_index,
            committed_index: s.committed_index,
            applied_index: s.applied_index,
            snapshot_index: s.snapshot_index,
            purged_index: s.purged_index,
            log_appends: s.log_appends,
            log_entries: s.log_entries,
            fsyncs: s.fsyncs,
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
        let head = fields(vec![
            ("member", self.member.to_string()),
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
        ]);
        format!("{head}\n\n{}", members_table(&self.members))
    }
}

/// `cluster init`.
#[derive(Debug, Clone, Serialize)]
pub struct InitView {
    pub initialized: bool,
    /// The initial voters asked for; empty: the member that received the request, alone.
    pub members: Vec<MemberView>,
}

impl View for InitView {
    fn table(&self) -> String {
        if self.members.is_empty() {
            "cluster initialized: the receiving member is its only voter".to_string()
        } else {
            let rows = self
                .members
                .iter()
                .map(|m| vec![m.id.to_string(), m.addr.clone()])
                .collect();
            format!(
                "cluster initialized with {} voters\n\n{}",
                self.members.len(),
                grid(Some(&["ID", "ADDR"]), rows, &[0])
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

// ---- variables ----

/// A key and its value.
#[derive(Debug, Clone, Serialize)]
pub struct KvView {
    pub key: String,
    #[serde(flatten)]
    pub value: Value,
    /// Log index of the write that created the key.
    pub create_index: u64,
    /// Log index of the write that last changed it.
    pub mod_index: u64,
}

impl From<&api::KeyValue> for KvView {
    fn from(kv: &api::KeyValue) -> Self {
        KvView {
            key: kv.key.clone(),
            value: Value::from_bytes(&kv.value),
            create_index: kv.create_index,
            mod_index: kv.mod_index,
        }
    }
}

fn kv_table(kvs: &[KvView]) -> String {
    grid(
        Some(&["KEY", "VALUE", "CREATED", "MODIFIED"]),
        kvs.iter()
            .map(|kv| {
                vec![
                    escape_controls(&kv.key),
                    kv.value.cell(),
                    kv.create_index.to_string(),
                    kv.mod_index.to_string(),
                ]
            })
            .collect(),
        &[2, 3],
    )
}

fn prev_cell(prev: &Option<KvView>) -> String {
    prev.as_ref()
        .map_or_else(|| "(none)".to_string(), |kv| kv.value.cell())
}

/// `var get`.
#[derive(Debug, Clone, Serialize)]
pub struct GetView {
    #[serde(flatten)]
    pub kv: KvView,
    /// Applied index the read was served at.
    pub read_index: u64,
}

impl View for GetView {
    fn table(&self) -> String {
        kv_table(std::slice::from_ref(&self.kv))
    }
}

/// `var put`.
#[derive(Debug, Clone, Serialize)]
pub struct PutView {
    pub key: String,
    pub log_index: u64,
    /// The value replaced, if the key existed.
    pub prev: Option<KvView>,
}

impl View for PutView {
    fn table(&self) -> String {
        fields(vec![
            ("key", escape_controls(&self.key)),
            ("log index", self.log_index.to_string()),
            ("previous value", prev_cell(&self.prev)),
        ])
    }
}

/// `var del`.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteView {
    pub key: String,
    /// False when the key did not exist.
    pub deleted: bool,
    pub log_index: u64,
    pub prev: Option<KvView>,
}

impl View for DeleteView {
    fn table(&self) -> String {
        fields(vec![
            ("key", escape_controls(&self.key)),
            (
                "deleted",
                if self.deleted {
                    "yes"
                } else {
                    "no (no such key)"
                }
                .to_string(),
            ),
            ("log index", self.log_index.to_string()),
            ("previous value", prev_cell(&self.prev)),
        ])
    }
}

/// `var cas`.
#[derive(Debug, Clone, Serialize)]
pub struct CasView {
    pub key: String,
    pub succeeded: bool,
    /// The value found before the swap, whether or not the swap happened.
    pub current: Option<KvView>,
    pub log_index: u64,
}

impl View for CasView {
    fn table(&self) -> String {
        fields(vec![
            ("key", escape_controls(&self.key)),
            (
                "swapped",
                if self.succeeded { "yes" } else { "no" }.to_string(),
            ),
            ("value found", prev_cell(&self.current)),
            ("log index", self.log_index.to_string()),
        ])
    }
}

/// `var list`.
#[derive(Debug, Clone, Serialize)]
pub struct ListView {
    pub kvs: Vec<KvView>,
    /// True when more keys match than were listed (`--limit` reached).
    pub more: bool,
    /// Applied index the last page was read at (each page is a separate read).
    pub read_index: u64,
}

impl View for ListView {
    fn table(&self) -> String {
        kv_table(&self.kvs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_status() -> api::ClusterStatusResponse {
        api::ClusterStatusResponse {
            id: 1,
            state: "Leader".into(),
            leader_id: Some(1),
            leader_addr: "127.0.0.1:7401".into(),
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
                },
                api::Member {
                    id: 1,
                    addr: "127.0.0.1:7401".into(),
                    voter: true,
                    matched_index: Some(120),
                    lag: Some(0),
                },
                api::Member {
                    id: 4,
                    addr: "127.0.0.1:7404".into(),
                    voter: false,
                    matched_index: None,
                    lag: None,
                },
            ],
            log_appends: 40,
            log_entries: 120,
            fsyncs: 41,
        }
    }

    #[test]
    fn values_are_utf8_or_base64() {
        let v = Value::from_bytes("héllo".as_bytes());
        assert_eq!(v.value_encoding, Encoding::Utf8);
        assert_eq!(v.value, "héllo");
        assert_eq!(v.cell(), "héllo");

        let v = Value::from_bytes(&[0xff, 0x00, 0x01]);
        assert_eq!(v.value_encoding, Encoding::Base64);
        assert_eq!(v.value, "/wAB");
        assert_eq!(v.cell(), "base64:/wAB");

        let v = Value::from_bytes(b"");
        assert_eq!((v.value.as_str(), v.value_encoding), ("", Encoding::Utf8));

        // Valid UTF-8 with an escape sequence: kept as is for programs, defused in tables.
        let v = Value::from_bytes(b"a\x1b[2Jb\nc");
        assert_eq!(v.value_encoding, Encoding::Utf8);
        assert_eq!(v.cell(), "a\\u{1b}[2Jb\nc");
    }

    #[test]
    fn value_json_says_the_encoding() {
        let kv = KvView::from(&api::KeyValue {
            key: "k".into(),
            value: vec![0xc3, 0x28],
            create_index: 5,
            mod_index: 7,
        });
        let json: serde_json::Value = serde_json::to_value(&kv).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "key": "k", "value": "wyg=", "value_encoding": "base64",
                "create_index": 5, "mod_index": 7
            })
        );
    }

    #[test]
    fn status_table() {
        let text = render(&StatusView::from(&sample_status()), OutputFormat::Table).unwrap();
        let expected = "\
member           1
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

ID  ADDR            ROLE     MATCHED  LAG
 1  127.0.0.1:7401  voter        120    0
 2  127.0.0.1:7402  voter        117    3
 4  127.0.0.1:7404  learner        -    -
";
        assert_eq!(text, expected, "\n{text}");
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

    #[test]
    fn kv_outputs() {
        let view = ListView {
            kvs: vec![
                KvView::from(&api::KeyValue {
                    key: "app/a".into(),
                    value: b"one".to_vec(),
                    create_index: 3,
                    mod_index: 9,
                }),
                KvView::from(&api::KeyValue {
                    key: "app/b".into(),
                    value: vec![0, 159, 146, 150],
                    create_index: 10,
                    mod_index: 10,
                }),
            ],
            more: false,
            read_index: 12,
        };
        let table = view.table();
        assert_eq!(
            table,
            "KEY    VALUE            CREATED  MODIFIED\n\
             app/a  one                    3         9\n\
             app/b  base64:AJ+Slg==       10        10"
        );
        let yaml = render(&view, OutputFormat::Yaml).unwrap();
        assert!(yaml.contains("value_encoding: base64"), "{yaml}");

        let put = PutView {
            key: "k".into(),
            log_index: 4,
            prev: None,
        };
        assert!(
            put.table().contains("previous value  (none)"),
            "{}",
            put.table()
        );
        let json = render(&put, OutputFormat::Json).unwrap();
        assert!(json.contains("\"prev\": null"), "{json}");
    }
}
