//! Views of variables: a key and its value, and the results of `var get / put / del / cas /
//! list`.

use moor_proto::api;
use serde::Serialize;

use super::cells::escape_controls;
use super::sealed::{sealed_cell, sealed_key_id};
use super::table::{fields, grid};
use super::value::Value;
use super::View;

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
    /// The key that sealed the value, when it is a sealed secret (`value` is then its token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_with_key: Option<String>,
}

impl From<&api::KeyValue> for KvView {
    fn from(kv: &api::KeyValue) -> Self {
        KvView {
            key: kv.key.clone(),
            value: Value::from_bytes(&kv.value),
            create_index: kv.create_index,
            mod_index: kv.mod_index,
            sealed_with_key: sealed_key_id(&kv.value).map(str::to_string),
        }
    }
}

impl KvView {
    /// The value in a table cell: `<sealed with key ID>` for a sealed secret, else the value.
    pub fn cell(&self) -> String {
        match &self.sealed_with_key {
            Some(key_id) => sealed_cell(key_id),
            None => self.value.cell(),
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
                    kv.cell(),
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
        .map_or_else(|| "(none)".to_string(), KvView::cell)
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
    use crate::cli::OutputFormat;
    use crate::views::render;

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
    fn sealed_values_show_their_key_in_tables_and_stay_whole_for_programs() {
        let token = crate::views::sealed::tests::token("k-new");
        let kv = KvView::from(&api::KeyValue {
            key: "db/pw".into(),
            value: token.clone().into_bytes(),
            create_index: 3,
            mod_index: 8,
        });
        let get = GetView { kv, read_index: 9 };
        let table = get.table();
        assert!(table.contains("db/pw  <sealed with key k-new>"), "{table}");
        assert!(!table.contains("moor-sealed"), "{table}");
        let json: serde_json::Value =
            serde_json::from_str(&render(&get, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(json["value"], token.as_str());
        assert_eq!(json["sealed_with_key"], "k-new");
        // A value that is not sealed has no such field.
        let plain = KvView::from(&api::KeyValue {
            key: "k".into(),
            value: b"[moor-sealed:v1:not a token]".to_vec(),
            create_index: 1,
            mod_index: 1,
        });
        assert_eq!(plain.cell(), "[moor-sealed:v1:not a token]");
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json.get("sealed_with_key").is_none(), "{json}");

        let put = PutView {
            key: "db/pw".into(),
            log_index: 10,
            prev: Some(get.kv.clone()),
        };
        assert!(
            put.table()
                .contains("previous value  <sealed with key k-new>"),
            "{}",
            put.table()
        );
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
