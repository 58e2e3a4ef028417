//! Webhook receivers and the deliveries they recorded.
//!
//! The member that takes a delivery authenticates it (the receiver's secret, in constant
//! time) and reads what it needs from the body before proposing [`DeliveryIn`]; apply
//! decides what it triggers against the state at its index, so two members racing with
//! the same delivery id record it once: the second finds the first's record and gets it
//! back, triggering nothing.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

pub use crate::names::{DeliveryVerdict, ReceiverKind};

/// Deliveries kept per receiver, newest last; a redelivery of an older one (beyond this
/// many later deliveries) is recorded again. GitHub redelivers on request only, so this is
/// days of pushes for a busy repository.
pub const MAX_DELIVERIES: usize = 1_000;
/// Longest delivery id, event name, repository, ref or commit kept, in bytes.
pub const MAX_FIELD: usize = 200;
/// Longest detail text kept, in bytes.
pub const MAX_DETAIL: usize = 500;
/// Default cap on a delivery's body.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Largest cap a receiver may set.
pub const MAX_MAX_BODY_BYTES: u64 = 25 * 1024 * 1024;
/// Default deliveries per minute per member.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 120;
/// Default age a signed delivery's timestamp may have.
pub const DEFAULT_TOLERANCE_S: u64 = 300;

/// A receiver as a client sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverSpec {
    pub name: String,
    pub kind: ReceiverKind,
    /// The shared secret (never returned by a read).
    pub secret: String,
    /// 0: [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: u64,
    /// 0: [`DEFAULT_RATE_PER_MINUTE`].
    pub rate_per_minute: u32,
    /// 0: [`DEFAULT_TOLERANCE_S`].
    pub tolerance_s: u64,
}

impl ReceiverSpec {
    pub fn max_body_bytes(&self) -> u64 {
        if self.max_body_bytes == 0 {
            DEFAULT_MAX_BODY_BYTES
        } else {
            self.max_body_bytes
        }
    }

    pub fn rate_per_minute(&self) -> u32 {
        if self.rate_per_minute == 0 {
            DEFAULT_RATE_PER_MINUTE
        } else {
            self.rate_per_minute
        }
    }

    pub fn tolerance_s(&self) -> u64 {
        if self.tolerance_s == 0 {
            DEFAULT_TOLERANCE_S
        } else {
            self.tolerance_s
        }
    }

    /// Every problem with the fields, for a clear refusal.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = crate::site::validate_name("receiver", &self.name) {
            out.push(e);
        }
        if self.secret.trim().is_empty() {
            out.push("a receiver needs a secret: write one to a file and pass --secret-file (e.g. `openssl rand -hex 32 > hook.secret`)".into());
        } else if self.secret.len() < 16 {
            out.push(format!(
                "the secret has {} characters; use at least 16 (e.g. `openssl rand -hex 32`)",
                self.secret.len()
            ));
        } else if self.secret.len() > 4096 {
            out.push("the secret is longer than 4096 bytes: is the file the right one?".into());
        }
        if self.max_body_bytes > MAX_MAX_BODY_BYTES {
            out.push(format!(
                "max_body_bytes {} is above the largest allowed, {MAX_MAX_BODY_BYTES}",
                self.max_body_bytes
            ));
        }
        if self.tolerance_s > 86_400 {
            out.push(format!(
                "timestamp tolerance {} s is above a day: replays within it would be accepted",
                self.tolerance_s
            ));
        }
        out
    }
}

/// A receiver and its latest deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    pub spec: ReceiverSpec,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Newest last, at most [`MAX_DELIVERIES`].
    pub deliveries: VecDeque<Delivery>,
    /// Deliveries ever recorded.
    pub recorded: u64,
}

/// What a push delivery said, as the member read it from the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    Push {
        /// The repository's name for display (`acme/blueprints`).
        repository: String,
        /// Every URL the payload gives for the repository (clone, HTML, SSH): a source
        /// matches if its URL names the same repository as any of them.
        urls: Vec<String>,
        /// `refs/heads/main`, `refs/tags/v1`, …
        git_ref: String,
        /// The commit the ref points to after the push (all zeros: the ref was deleted).
        commit: String,
    },
    /// The CI system's test delivery.
    Ping,
    /// Any other event: recorded, ignored.
    Other { reason: String },
}

/// An authenticated delivery as the receiving member proposes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryIn {
    pub id: String,
    pub event: String,
    pub payload: Payload,
}

/// A recorded delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub received_ms: u64,
    pub event: String,
    pub verdict: DeliveryVerdict,
    pub detail: String,
    pub repository: String,
    pub branch: String,
    pub commit: String,
    /// The sources it asked to fetch.
    pub sources: Vec<String>,
    /// The member that received it.
    pub member: u64,
}

impl Receiver {
    /// The recorded delivery with this id, if still kept.
    pub fn delivery(&self, id: &str) -> Option<&Delivery> {
        self.deliveries.iter().find(|d| d.id == id)
    }

    /// Records `delivery`, dropping the oldest beyond [`MAX_DELIVERIES`].
    pub(crate) fn record(&mut self, delivery: Delivery) {
        self.deliveries.push_back(delivery);
        while self.deliveries.len() > MAX_DELIVERIES {
            self.deliveries.pop_front();
        }
        self.recorded = self.recorded.saturating_add(1);
    }
}

pub(crate) use crate::text::bounded;

/// The branch a ref names (`refs/heads/main` → `main`); None for tags and other refs.
pub fn branch_of(git_ref: &str) -> Option<&str> {
    git_ref
        .strip_prefix("refs/heads/")
        .filter(|b| !b.is_empty())
}

/// A repository URL reduced to what names the repository, so a source's URL matches the
/// URLs a push payload gives in any of its forms: `https://GitHub.com/acme/bp.git`,
/// `https://github.com/acme/bp`, `git@github.com:acme/bp.git` and `ssh://git@github.com/acme/bp`
/// all become `github.com/acme/bp` (hosted repositories' names are case-insensitive);
/// `file:///srv/bp.git` becomes `file:/srv/bp` (paths keep their case).
pub fn repo_key(url: &str) -> String {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        return format!("file:{}", trim_repo_path(path));
    }
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    // user@host:path (scp-like SSH) or user@host/path.
    let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
    let (host, path) = match rest.split_once(['/', ':']) {
        Some((host, path)) => (host, path),
        None => (rest, ""),
    };
    // A port (host:443/…) is not part of the name; an scp-like path after ':' is.
    let path = path
        .split_once('/')
        .filter(|(port, _)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .map(|(_, p)| p)
        .unwrap_or(path);
    format!("{}/{}", host, trim_repo_path(path.trim_start_matches('/'))).to_ascii_lowercase()
}

/// A repository path without trailing slashes and `.git`.
fn trim_repo_path(path: &str) -> &str {
    let p = path.trim_end_matches('/');
    p.strip_suffix(".git").unwrap_or(p)
}
