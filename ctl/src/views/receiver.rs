//! Views of webhook receivers: one receiver, the list, and the deliveries one recorded.
//! No view has a secret to show: the member never returns one, only its fingerprint.

use moor_proto::hooks as pb;
use moor_proto::names::{display, DeliveryVerdict, ReceiverKind};
use serde::Serialize;

use super::cells::{dash, escape_controls, short_digest};
use super::table::{fields, grid};
use super::time::{one_unit, utc};
use super::View;

/// One receiver. Limits of 0 are the member's defaults.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiverView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL path to configure in the CI system, on any member's client address.
    pub path: String,
    pub max_body_bytes: u64,
    pub rate_per_minute: u32,
    pub timestamp_tolerance_s: u64,
    /// The first 8 hex digits of the SHA-256 of the secret.
    pub secret_fingerprint: String,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Deliveries recorded (the latest are kept).
    pub deliveries: u64,
}

impl From<&pb::Receiver> for ReceiverView {
    fn from(r: &pb::Receiver) -> Self {
        ReceiverView {
            name: r.name.clone(),
            kind: r.r#type.clone(),
            path: r.path.clone(),
            max_body_bytes: r.max_body_bytes,
            rate_per_minute: r.rate_per_minute,
            timestamp_tolerance_s: r.timestamp_tolerance_s,
            secret_fingerprint: r.secret_fingerprint.clone(),
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
            deliveries: r.deliveries,
        }
    }
}

/// A limit for people: the value, or the member's default for 0.
fn limit(value: u64, show: impl FnOnce(u64) -> String) -> String {
    if value == 0 {
        "the member's default".to_string()
    } else {
        show(value)
    }
}

impl View for ReceiverView {
    fn table(&self) -> String {
        fields(vec![
            ("name", escape_controls(&self.name)),
            ("type", display::<ReceiverKind>(&self.kind)),
            ("path", dash(&self.path)),
            (
                "max body",
                limit(self.max_body_bytes, |b| format!("{b} bytes")),
            ),
            (
                "rate",
                limit(self.rate_per_minute.into(), |n| {
                    format!("{n} deliveries a minute per member")
                }),
            ),
            (
                "timestamp tolerance",
                limit(self.timestamp_tolerance_s, |s| one_unit(s * 1000)),
            ),
            (
                "secret",
                format!("fingerprint {}", dash(&self.secret_fingerprint)),
            ),
            ("created", utc(self.created_ms)),
            ("updated", utc(self.updated_ms)),
            ("deliveries", self.deliveries.to_string()),
        ])
    }
}

/// What `receiver create` answers: where the CI system must deliver, and how.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiverCreatedView {
    pub name: String,
    /// False: an existing receiver was replaced.
    pub created: bool,
    /// The URL path, on any member's client address.
    pub path: String,
    /// The URL on the first endpoint moorctl was given, as an example: the CI system needs
    /// an address of a member it can reach.
    pub example_url: String,
    pub content_type: String,
}

/// The content type CI systems must send deliveries with.
pub const CONTENT_TYPE: &str = "application/json";

impl ReceiverCreatedView {
    /// The answer for receiver `name` at `path`, with an example URL on `endpoint`.
    pub fn new(name: &str, created: bool, path: &str, endpoint: &str) -> ReceiverCreatedView {
        ReceiverCreatedView {
            name: name.to_string(),
            created,
            path: path.to_string(),
            example_url: format!("https://{endpoint}{path}"),
            content_type: CONTENT_TYPE.to_string(),
        }
    }
}

impl View for ReceiverCreatedView {
    fn table(&self) -> String {
        let done = if self.created { "created" } else { "replaced" };
        let name = escape_controls(&self.name);
        let path = escape_controls(&self.path);
        format!(
            "receiver {name} {done}: {path}\n\
             In the CI system, add a webhook with\n\
             {}",
            fields(vec![
                (
                    "  URL",
                    format!(
                        "https://<member>:<client port>{path} (any member the CI system can \
                         reach, e.g. {})",
                        escape_controls(&self.example_url)
                    )
                ),
                ("  content type", self.content_type.clone()),
                ("  secret", "the one in --secret-file".to_string()),
            ])
        )
    }
}

/// `receiver list`.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiverListView {
    pub receivers: Vec<ReceiverView>,
}

impl View for ReceiverListView {
    fn table(&self) -> String {
        grid(
            Some(&[
                "NAME",
                "TYPE",
                "PATH",
                "FINGERPRINT",
                "DELIVERIES",
                "CREATED",
            ]),
            self.receivers
                .iter()
                .map(|r| {
                    vec![
                        escape_controls(&r.name),
                        display::<ReceiverKind>(&r.kind),
                        dash(&r.path),
                        dash(&r.secret_fingerprint),
                        r.deliveries.to_string(),
                        utc(r.created_ms),
                    ]
                })
                .collect(),
            &[4],
        )
    }
}

/// One delivery a receiver recorded.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: String,
    pub received_ms: u64,
    pub event: String,
    /// `accepted`, `ignored` or `ping`.
    pub verdict: String,
    pub detail: String,
    pub repository: String,
    pub branch: String,
    pub commit: String,
    /// The sources it asked to fetch.
    pub sources: Vec<String>,
    /// The member that received it.
    pub member: u64,
}

impl From<&pb::Delivery> for DeliveryView {
    fn from(d: &pb::Delivery) -> Self {
        DeliveryView {
            id: d.id.clone(),
            received_ms: d.received_ms,
            event: d.event.clone(),
            verdict: d.verdict.clone(),
            detail: d.detail.clone(),
            repository: d.repository.clone(),
            branch: d.branch.clone(),
            commit: d.commit.clone(),
            sources: d.sources.clone(),
            member: d.member,
        }
    }
}

/// `receiver deliveries`: oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveriesView {
    pub receiver: String,
    pub deliveries: Vec<DeliveryView>,
}

impl View for DeliveriesView {
    fn table(&self) -> String {
        grid(
            Some(&[
                "RECEIVED",
                "ID",
                "EVENT",
                "VERDICT",
                "REPOSITORY",
                "BRANCH",
                "COMMIT",
                "SOURCES",
                "DETAIL",
            ]),
            self.deliveries
                .iter()
                .map(|d| {
                    vec![
                        utc(d.received_ms),
                        dash(&d.id),
                        dash(&d.event),
                        display::<DeliveryVerdict>(&d.verdict),
                        dash(&d.repository),
                        dash(&d.branch),
                        escape_controls(&short_digest(&d.commit)),
                        dash(&d.sources.join(",")),
                        dash(&d.detail),
                    ]
                })
                .collect(),
            &[],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_shows_its_limits_and_no_secret() {
        let r = pb::Receiver {
            name: "ci".into(),
            r#type: "github".into(),
            secret: "never-shown".into(),
            rate_per_minute: 30,
            timestamp_tolerance_s: 300,
            path: "/hooks/ci".into(),
            secret_fingerprint: "1a2b3c4d".into(),
            deliveries: 7,
            ..Default::default()
        };
        let view = ReceiverView::from(&r);
        let t = view.table();
        assert!(t.contains("path                 /hooks/ci"), "{t}");
        assert!(
            t.contains("max body             the member's default"),
            "{t}"
        );
        assert!(t.contains("30 deliveries a minute per member"), "{t}");
        assert!(t.contains("timestamp tolerance  5m"), "{t}");
        assert!(t.contains("fingerprint 1a2b3c4d"), "{t}");
        let json = serde_json::to_string(&view).unwrap();
        assert!(json.contains(r#""type":"github""#), "{json}");
        assert!(!json.contains("never-shown") && !t.contains("never-shown"));
        let odd = ReceiverView::from(&pb::Receiver {
            r#type: "bitbucket".into(),
            ..r
        });
        let list = ReceiverListView {
            receivers: vec![odd],
        }
        .table();
        assert!(list.contains("unknown(bitbucket)"), "{list}");
    }

    #[test]
    fn deliveries_table() {
        let d = pb::Delivery {
            id: "d-1".into(),
            received_ms: 1_700_000_000_000,
            event: "push".into(),
            verdict: "accepted".into(),
            detail: "asked shop to fetch".into(),
            repository: "acme/shop".into(),
            branch: "main".into(),
            commit: "0123456789abcdef0123".into(),
            sources: vec!["shop".into(), "shop-eu".into()],
            member: 2,
        };
        let replayed = pb::Delivery {
            verdict: "replayed".into(),
            commit: String::new(),
            sources: vec![],
            ..d.clone()
        };
        let t = DeliveriesView {
            receiver: "ci".into(),
            deliveries: vec![DeliveryView::from(&d), DeliveryView::from(&replayed)],
        }
        .table();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("RECEIVED"), "{t}");
        assert!(lines[1].contains("2023-11-14T22:13:20Z  d-1"), "{t}");
        assert!(lines[1].contains("0123456789ab "), "short commit: {t}");
        assert!(lines[1].contains("shop,shop-eu"), "{t}");
        assert!(lines[2].contains("unknown(replayed)"), "{t}");
    }
}
