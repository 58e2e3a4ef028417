//! Views of secrets at rest: a variable stored sealed (`var put --secret`, never its value
//! nor its token), where stored secrets are sealed (`secrets status`), and what `secrets
//! reseal` moved.

use moor_proto::api;
use serde::Serialize;

use super::cells::escape_controls;
use super::table::{fields, grid};
use super::View;

/// What a `var put --secret` replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Replaced {
    /// The key did not exist.
    Nothing,
    /// A sealed value.
    Sealed,
    /// A value stored in clear.
    Clear,
}

/// `var put --secret`: where the value went, without the value or its token.
#[derive(Debug, Clone, Serialize)]
pub struct SecretPutView {
    pub key: String,
    /// The key that sealed it, read back at `log_index`; absent when that read failed or
    /// found a later write.
    pub sealed_with_key: Option<String>,
    pub log_index: u64,
    pub replaced: Replaced,
}

impl View for SecretPutView {
    fn table(&self) -> String {
        let key = escape_controls(&self.key);
        let sealed = match &self.sealed_with_key {
            Some(id) => format!("sealed (key {id})"),
            None => "sealed".to_string(),
        };
        let replaced = match self.replaced {
            Replaced::Nothing => "",
            Replaced::Sealed => "; it replaced a sealed value",
            Replaced::Clear => "; it replaced a value stored in clear",
        };
        format!(
            "{key} stored {sealed}, log index {}{replaced}",
            self.log_index
        )
    }
}

/// Stored secrets under one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyCountView {
    pub key_id: String,
    /// The answering member's key file holds the key.
    pub known: bool,
    /// It is the key new secrets are sealed with (the key file's first).
    pub sealing: bool,
    pub variables: u64,
    pub environment_inputs: u64,
    pub rollout_inputs: u64,
    pub running_steps: u64,
}

impl KeyCountView {
    /// Every stored value under this key.
    pub fn total(&self) -> u64 {
        self.variables + self.environment_inputs + self.rollout_inputs + self.running_steps
    }

    fn role(&self) -> &'static str {
        match (self.sealing, self.known) {
            (true, _) => "sealing",
            (false, true) => "older",
            (false, false) => "MISSING",
        }
    }
}

/// `secrets status`: per key, the stored secrets it sealed, as one member sees them.
#[derive(Debug, Clone, Serialize)]
pub struct SecretsStatusView {
    /// The answering member's key file; absent when it has none (secrets stored in clear).
    pub key_file: Option<String>,
    /// Its keys, the sealing key first.
    pub keys: Vec<String>,
    /// Every key of the file, in its order, then each key the file lacks that sealed
    /// something.
    pub sealed: Vec<KeyCountView>,
    /// Values of inputs declared secret that are stored in clear.
    pub clear_secret_inputs: u64,
    /// Stored secrets under keys of the file other than the sealing key.
    pub under_older_keys: u64,
    /// Stored secrets under keys the file does not hold.
    pub under_missing_keys: u64,
    pub read_index: u64,
}

impl From<&api::SecretsStatusResponse> for SecretsStatusView {
    fn from(r: &api::SecretsStatusResponse) -> Self {
        let count = |key_id: &str| r.sealed.iter().find(|c| c.key_id == key_id);
        let row = |key_id: &str, known: bool, c: Option<&api::SealedCount>| KeyCountView {
            key_id: key_id.to_string(),
            known,
            sealing: r.keys.first().is_some_and(|k| k == key_id),
            variables: c.map_or(0, |c| c.variables),
            environment_inputs: c.map_or(0, |c| c.environment_inputs),
            rollout_inputs: c.map_or(0, |c| c.rollout_inputs),
            running_steps: c.map_or(0, |c| c.running_steps),
        };
        let mut sealed: Vec<KeyCountView> = r.keys.iter().map(|k| row(k, true, count(k))).collect();
        let mut missing: Vec<KeyCountView> = r
            .sealed
            .iter()
            .filter(|c| !r.keys.contains(&c.key_id))
            .map(|c| row(&c.key_id, c.known, Some(c)))
            .collect();
        missing.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        sealed.extend(missing);
        let sum = |pick: fn(&KeyCountView) -> bool| {
            sealed
                .iter()
                .filter(|c| pick(c))
                .map(KeyCountView::total)
                .sum()
        };
        SecretsStatusView {
            key_file: (!r.key_file.is_empty()).then(|| r.key_file.clone()),
            keys: r.keys.clone(),
            under_older_keys: sum(|c| c.known && !c.sealing),
            under_missing_keys: sum(|c| !c.known),
            sealed,
            clear_secret_inputs: r.clear_secret_inputs,
            read_index: r.read_index,
        }
    }
}

impl SecretsStatusView {
    /// The key new secrets are sealed with.
    pub fn sealing_key(&self) -> Option<&str> {
        self.keys.first().map(String::as_str)
    }

    /// Keys holding stored secrets whose role is `pick`, for messages.
    pub fn keys_where(&self, pick: fn(&KeyCountView) -> bool) -> Vec<String> {
        self.sealed
            .iter()
            .filter(|c| pick(c) && c.total() > 0)
            .map(|c| c.key_id.clone())
            .collect()
    }
}

impl View for SecretsStatusView {
    fn table(&self) -> String {
        let older = self.keys.get(1..).unwrap_or_default();
        let head = fields(vec![
            (
                "key file",
                self.key_file.as_deref().map_or_else(
                    || "none (this member stores secrets in clear)".to_string(),
                    escape_controls,
                ),
            ),
            ("sealing key", self.sealing_key().unwrap_or("-").to_string()),
            (
                "older keys",
                if older.is_empty() {
                    "-".to_string()
                } else {
                    older.join(", ")
                },
            ),
            (
                "secret inputs in clear",
                self.clear_secret_inputs.to_string(),
            ),
            ("read index", self.read_index.to_string()),
        ]);
        let rows = self
            .sealed
            .iter()
            .map(|c| {
                vec![
                    c.key_id.clone(),
                    c.role().to_string(),
                    c.variables.to_string(),
                    c.environment_inputs.to_string(),
                    c.rollout_inputs.to_string(),
                    c.running_steps.to_string(),
                ]
            })
            .collect();
        let table = grid(
            Some(&[
                "KEY",
                "KEY FILE",
                "VARIABLES",
                "ENV INPUTS",
                "ROLLOUT INPUTS",
                "RUNNING STEPS",
            ]),
            rows,
            &[2, 3, 4, 5],
        );
        format!("{head}\n\n{table}")
    }
}

/// `secrets reseal`: what moved to the sealing key, and what could not.
#[derive(Debug, Clone, Serialize)]
pub struct ResealView {
    pub sealing_key: String,
    /// Variables moved.
    pub variables: u64,
    /// Environment input values moved.
    pub environment_values: u64,
    /// What could not be moved, and why, one line each.
    pub remaining: Vec<String>,
}

impl From<&api::ResealSecretsResponse> for ResealView {
    fn from(r: &api::ResealSecretsResponse) -> Self {
        ResealView {
            sealing_key: r.sealing_key.clone(),
            variables: r.variables,
            environment_values: r.environment_values,
            remaining: r.remaining.clone(),
        }
    }
}

impl View for ResealView {
    fn table(&self) -> String {
        let head = fields(vec![
            ("sealing key", escape_controls(&self.sealing_key)),
            ("variables moved", self.variables.to_string()),
            (
                "environment values moved",
                self.environment_values.to_string(),
            ),
            (
                "remaining",
                if self.remaining.is_empty() {
                    "none".to_string()
                } else {
                    self.remaining.len().to_string()
                },
            ),
        ]);
        let lines: Vec<String> = self
            .remaining
            .iter()
            .map(|line| format!("  {}", escape_controls(line)))
            .collect();
        if lines.is_empty() {
            head
        } else {
            format!("{head}\n{}", lines.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::views::render;

    fn status() -> api::SecretsStatusResponse {
        api::SecretsStatusResponse {
            key_file: "/etc/moor/secrets.keys".into(),
            keys: vec!["k3".into(), "k2".into()],
            sealed: vec![
                api::SealedCount {
                    key_id: "k1".into(),
                    variables: 1,
                    running_steps: 2,
                    known: false,
                    ..Default::default()
                },
                api::SealedCount {
                    key_id: "k3".into(),
                    environment_inputs: 4,
                    rollout_inputs: 1,
                    known: true,
                    ..Default::default()
                },
            ],
            clear_secret_inputs: 0,
            read_index: 12,
        }
    }

    #[test]
    fn every_key_of_the_file_then_the_missing_ones() {
        let view = SecretsStatusView::from(&status());
        let ids: Vec<&str> = view.sealed.iter().map(|c| c.key_id.as_str()).collect();
        assert_eq!(ids, ["k3", "k2", "k1"]);
        assert_eq!((view.under_older_keys, view.under_missing_keys), (0, 3));
        assert_eq!(view.keys_where(|c| !c.known), ["k1"]);
        let table = view.table();
        assert!(
            table.ends_with(
                "k3   sealing           0           4               1              0\n\
                 k2   older             0           0               0              0\n\
                 k1   MISSING           1           0               0              2"
            ),
            "{table}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&view, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(json["key_file"], "/etc/moor/secrets.keys");
        assert_eq!(json["keys"], serde_json::json!(["k3", "k2"]));
        assert_eq!(json["under_missing_keys"], 3);
        assert_eq!(
            json["sealed"][2],
            serde_json::json!({
                "key_id": "k1", "known": false, "sealing": false, "variables": 1,
                "environment_inputs": 0, "rollout_inputs": 0, "running_steps": 2
            })
        );
    }

    #[test]
    fn without_a_key_file() {
        let view = SecretsStatusView::from(&api::SecretsStatusResponse::default());
        assert!(view
            .table()
            .starts_with("key file                none (this member stores secrets in clear)\n"));
        let json = render(&view, OutputFormat::Json).unwrap();
        assert!(json.contains("\"key_file\": null"), "{json}");
    }

    #[test]
    fn a_reseal_with_nothing_left() {
        let view = ResealView::from(&api::ResealSecretsResponse {
            sealing_key: "k3".into(),
            variables: 2,
            environment_values: 0,
            remaining: Vec::new(),
        });
        assert!(
            view.table().ends_with("remaining                 none"),
            "{}",
            view.table()
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&view, OutputFormat::Json).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "sealing_key": "k3", "variables": 2, "environment_values": 0, "remaining": []
            })
        );
    }
}
