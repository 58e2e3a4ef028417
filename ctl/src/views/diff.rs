//! [`DiffView`]: `env diff`, an environment's desired state against what its site holds,
//! resource by resource and, for a drifted one, field by field (`path: desired → observed`).
//!
//! Field values are JSON as the member sent them; the machine formats give them parsed
//! (`desired` / `observed`), and leave a key out when the field is absent on that side, so a
//! JSON `null` and "absent" stay different.

use serde::Serialize;

use moor_proto::workflow as pb;

use super::cells::{escape_controls, short_digest};
use super::paint::Paint;
use super::time::utc;
use super::View;

/// The resource states of a diff, as the proto names them (`ResourceDiff.state`);
/// `moor_proto::names` has no list of them yet. Anything but [`IN_SYNC`] is a difference.
pub const IN_SYNC: &str = "in_sync";
const KNOWN_STATES: [&str; 4] = [IN_SYNC, "drifted", "missing", "unexpected"];

/// One field that differs.
#[derive(Debug, Clone, Serialize)]
pub struct FieldDiffView {
    /// JSON pointer (`/spec/replicas`); empty for the whole value.
    pub path: String,
    /// Absent: the desired state does not have the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<serde_json::Value>,
    /// Absent: the site does not have the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<serde_json::Value>,
    /// `changed`, `only_desired` or `only_at_site` (the blueprint does not set it: the
    /// site's default or an addition there); absent from a member that does not say.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// A secret: it differs, and both sides are `***`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

impl FieldDiffView {
    /// The words after a field's line that say what it is when the values alone do not.
    fn note(&self) -> &'static str {
        match (self.kind.as_str(), self.secret) {
            (_, true) => "  (a secret value differs; neither side is shown)",
            ("only_at_site", _) => {
                "  (not set by the blueprint: the site's default or an addition)"
            }
            _ => "",
        }
    }
}

/// A JSON text as a value; empty is absent, and anything that does not parse is kept as a
/// string rather than lost.
fn json_value(text: &str) -> Option<serde_json::Value> {
    (!text.is_empty()).then(|| {
        serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.into()))
    })
}

impl From<&pb::FieldDiff> for FieldDiffView {
    fn from(f: &pb::FieldDiff) -> Self {
        FieldDiffView {
            path: f.path.clone(),
            desired: json_value(&f.desired_json),
            observed: json_value(&f.observed_json),
            kind: f.kind.clone(),
            secret: f.secret,
        }
    }
}

/// One resource, desired against observed.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceDiffView {
    pub resource: String,
    pub resource_type: String,
    pub desired_digest: String,
    /// Empty: the site does not have the resource.
    pub observed_digest: String,
    /// `in_sync`, `drifted`, `missing` (at the site) or `unexpected` (there, not desired).
    pub state: String,
    pub fields: Vec<FieldDiffView>,
}

impl From<&pb::ResourceDiff> for ResourceDiffView {
    fn from(r: &pb::ResourceDiff) -> Self {
        ResourceDiffView {
            resource: r.resource.clone(),
            resource_type: r.resource_type.clone(),
            desired_digest: r.desired_digest.clone(),
            observed_digest: r.observed_digest.clone(),
            state: r.state.clone(),
            fields: r.fields.iter().map(FieldDiffView::from).collect(),
        }
    }
}

impl ResourceDiffView {
    fn differs(&self) -> bool {
        self.state != IN_SYNC
    }

    /// The state as shown: a state this build does not know as `unknown(...)`.
    fn state_word(&self) -> String {
        if KNOWN_STATES.contains(&self.state.as_str()) {
            self.state.clone()
        } else {
            format!("unknown({})", escape_controls(&self.state))
        }
    }
}

/// `env diff`.
#[derive(Debug, Clone, Serialize)]
pub struct DiffView {
    pub environment: String,
    pub site: String,
    /// When the site was asked.
    pub observed_ms: u64,
    /// True when every resource is in sync (exit code 0; else 9).
    pub in_sync: bool,
    /// How many resources differ.
    pub differing: usize,
    pub resources: Vec<ResourceDiffView>,
}

impl From<&pb::EnvironmentDiffResponse> for DiffView {
    fn from(d: &pb::EnvironmentDiffResponse) -> Self {
        let resources: Vec<ResourceDiffView> =
            d.resources.iter().map(ResourceDiffView::from).collect();
        let differing = resources.iter().filter(|r| r.differs()).count();
        DiffView {
            environment: d.environment.clone(),
            site: d.site.clone(),
            observed_ms: d.observed_ms,
            in_sync: differing == 0,
            differing,
            resources,
        }
    }
}

/// A field's value for people: its JSON, or `(absent)`.
fn value_text(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(
        || "(absent)".to_string(),
        |v| escape_controls(&v.to_string()),
    )
}

impl DiffView {
    /// The line of one resource: its state and name (padded to `widths`) and type; what is
    /// not in sync in colour (padding outside the colour, so columns line up either way).
    fn resource_line(r: &ResourceDiffView, widths: (usize, usize), paint: Paint) -> String {
        let word = r.state_word();
        let pad = " ".repeat(widths.0 - word.chars().count());
        let word = if r.differs() {
            paint.bad(&word)
        } else {
            paint.good(&word)
        };
        let name = escape_controls(&r.resource);
        let type_ = escape_controls(&r.resource_type);
        format!("{word}{pad}  {name:<width$}  {type_}", width = widths.1)
    }

    /// The lines under a drifted resource: each field, or the digests when the site
    /// reported no fields.
    fn detail_lines(r: &ResourceDiffView, indent: &str, paint: Paint) -> Vec<String> {
        if r.state != "drifted" {
            return Vec::new();
        }
        if r.fields.is_empty() {
            return vec![format!(
                "{indent}digest: {} → {}",
                paint.good(&short_digest(&r.desired_digest)),
                paint.bad(&short_digest(&r.observed_digest))
            )];
        }
        r.fields
            .iter()
            .map(|f| {
                let path = if f.path.is_empty() {
                    "(whole value)".to_string()
                } else {
                    escape_controls(&f.path)
                };
                format!(
                    "{indent}{path}: {} → {}{}",
                    paint.good(&value_text(f.desired.as_ref())),
                    paint.bad(&value_text(f.observed.as_ref())),
                    f.note()
                )
            })
            .collect()
    }
}

impl View for DiffView {
    fn table(&self) -> String {
        self.painted(Paint::Plain)
    }

    fn painted(&self, paint: Paint) -> String {
        let mut lines = vec![format!(
            "environment {} at site {}, observed {}",
            escape_controls(&self.environment),
            escape_controls(&self.site),
            utc(self.observed_ms)
        )];
        let widest = |text: fn(&ResourceDiffView) -> String| {
            let widths = self.resources.iter().map(|r| text(r).chars().count());
            widths.max().unwrap_or(0)
        };
        let widths = (
            widest(ResourceDiffView::state_word),
            widest(|r| escape_controls(&r.resource)),
        );
        let indent = " ".repeat(widths.0 + 2);
        for r in &self.resources {
            lines.push(DiffView::resource_line(r, widths, paint));
            lines.extend(DiffView::detail_lines(r, &indent, paint));
        }
        let total = self.resources.len();
        lines.push(String::new());
        lines.push(if self.in_sync {
            paint.good(&format!("in sync: all {total} resources as desired"))
        } else {
            paint.bad(&format!(
                "{} of {total} resources differ from the desired state",
                self.differing
            ))
        });
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OutputFormat;
    use crate::views::render;

    fn field(path: &str, desired: &str, observed: &str) -> pb::FieldDiff {
        pb::FieldDiff {
            path: path.into(),
            desired_json: desired.into(),
            observed_json: observed.into(),
            kind: match (desired.is_empty(), observed.is_empty()) {
                (false, false) => "changed",
                (false, true) => "only_desired",
                _ => "only_at_site",
            }
            .into(),
            secret: desired == "\"***\"",
        }
    }

    fn resource(name: &str, state: &str, fields: Vec<pb::FieldDiff>) -> pb::ResourceDiff {
        pb::ResourceDiff {
            resource: name.into(),
            resource_type: "agent.file".into(),
            desired_digest: "aa".repeat(32),
            observed_digest: if state == "missing" {
                String::new()
            } else {
                "bb".repeat(32)
            },
            state: state.into(),
            fields,
        }
    }

    fn drifted() -> pb::EnvironmentDiffResponse {
        pb::EnvironmentDiffResponse {
            environment: "web-2".into(),
            site: "edge-1".into(),
            observed_ms: 1_700_000_000_000,
            resources: vec![
                resource("network", "in_sync", vec![]),
                resource(
                    "config",
                    "drifted",
                    vec![
                        field("/mode", "\"0644\"", "\"0666\""),
                        field("/owner", "", "\"root\""),
                        field("/password", "\"***\"", "\"***\""),
                        field("/spec/replicas", "3", ""),
                    ],
                ),
                resource("app", "drifted", vec![]),
                resource("db", "missing", vec![]),
                resource("stray", "hibernating", vec![]),
            ],
        }
    }

    #[test]
    fn plain_text_lists_each_difference() {
        let text = DiffView::from(&drifted()).table();
        assert_eq!(
            text,
            "environment web-2 at site edge-1, observed 2023-11-14T22:13:20Z\n\
             in_sync               network  agent.file\n\
             drifted               config   agent.file\n                      \
             /mode: \"0644\" → \"0666\"\n                      \
             /owner: (absent) → \"root\"  (not set by the blueprint: the site's default or an addition)\n                      \
             /password: \"***\" → \"***\"  (a secret value differs; neither side is shown)\n                      \
             /spec/replicas: 3 → (absent)\n\
             drifted               app      agent.file\n                      \
             digest: aaaaaaaaaaaa → bbbbbbbbbbbb\n\
             missing               db       agent.file\n\
             unknown(hibernating)  stray    agent.file\n\
             \n\
             4 of 5 resources differ from the desired state"
        );
        assert!(!text.contains('\x1b'));
        let coloured = DiffView::from(&drifted()).painted(Paint::Ansi);
        assert!(coloured.contains("\x1b[31mdrifted"), "{coloured}");
        assert!(coloured.contains("\x1b[32min_sync"), "{coloured}");
    }

    #[test]
    fn json_keeps_values_and_absence_apart() {
        let json = render(&DiffView::from(&drifted()), OutputFormat::Json).unwrap();
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["in_sync"], false);
        assert_eq!(json["differing"], 4);
        let fields = &json["resources"][1]["fields"];
        assert_eq!(fields[0]["desired"], "0644");
        assert_eq!(fields[0]["kind"], "changed");
        assert!(fields[0].get("secret").is_none(), "{fields}");
        assert_eq!(fields[1]["kind"], "only_at_site");
        assert!(fields[1].get("desired").is_none(), "{fields}");
        assert_eq!(fields[2]["secret"], true);
        assert_eq!(fields[3]["desired"], 3);
        assert_eq!(fields[3]["kind"], "only_desired");
        assert!(fields[3].get("observed").is_none(), "{fields}");
        assert_eq!(json["resources"][3]["observed_digest"], "");
    }

    #[test]
    fn in_sync_says_so() {
        let d = pb::EnvironmentDiffResponse {
            environment: "web-1".into(),
            site: "edge-1".into(),
            resources: vec![resource("network", "in_sync", vec![])],
            observed_ms: 0,
        };
        let view = DiffView::from(&d);
        assert!(view.in_sync);
        assert!(view
            .table()
            .ends_with("in_sync  network  agent.file\n\nin sync: all 1 resources as desired"));
    }
}
