//! Git sources: a branch of a repository and a folder in it whose blueprint files become
//! blueprint revisions.
//!
//! Fetching is I/O, so it happens on the leader (`node`'s `exec/sources.rs`); the state
//! keeps what a fetch needs and what it found. A fetch is asked for by a matching push, a
//! sync or the poll interval (`pending`, numbered by `asks`); the leader fetches, parses
//! every blueprint file, and proposes all of them with the commit, or the failure. Apply
//! takes the whole commit or nothing, and clears `pending` only when no newer ask arrived
//! while the fetch ran (that ask gets a fetch of its own).
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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::blueprint::BlueprintSpec;

/// Shortest poll interval (0 turns polling off).
pub const MIN_POLL_MS: u64 = 10_000;
/// Blueprint files one source may hold.
pub const MAX_SOURCE_FILES: usize = 1_000;

/// A source as a client sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSpec {
    pub name: String,
    /// `https://…` or `file://…`, without credentials.
    pub url: String,
    pub branch: String,
    /// Folder in the repository ("" = the root), without leading or trailing `/`.
    pub path: String,
    /// A file every member can read holding the credentials (the state keeps the path).
    pub credentials_file: Option<String>,
    /// 0: no polling (webhooks and syncs only).
    pub poll_ms: u64,
}

impl SourceSpec {
    /// Every problem with the fields, for a clear refusal.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = crate::site::validate_name("source", &self.name) {
            out.push(e);
        }
        let url = self.url.trim();
        if !(url.starts_with("https://") || url.starts_with("file://")) {
            out.push(format!(
                "source url {url:?} must start with https:// or file:// (ssh and git:// are not supported; for a private repository over https use --credentials-file)"
            ));
        } else if url
            .split_once("://")
            .is_some_and(|(_, rest)| rest.split('/').next().is_some_and(|h| h.contains('@')))
        {
            out.push("the source url holds credentials (user@ or user:password@): remove them and pass --credentials-file instead, so they never enter the replicated state".into());
        }
        if self.branch.is_empty()
            || self.branch.starts_with('-')
            || self.branch.contains("..")
            || self
                .branch
                .bytes()
                .any(|b| b <= b' ' || b"~^:?*[\\".contains(&b))
        {
            out.push(format!(
                "branch {:?} is not a valid branch name (e.g. main)",
                self.branch
            ));
        }
        if self.path.split('/').any(|part| part == "..") || self.path.starts_with('/') {
            out.push(format!(
                "path {:?} must be a folder inside the repository (relative, no ..)",
                self.path
            ));
        }
        if let Some(f) = &self.credentials_file {
            if !f.starts_with('/') {
                out.push(format!(
                    "credentials file {f:?} must be an absolute path (the members read it)"
                ));
            }
        }
        if self.poll_ms != 0 && self.poll_ms < MIN_POLL_MS {
            out.push(format!(
                "poll interval {} ms is below the shortest, {MIN_POLL_MS} ms (0 turns polling off)",
                self.poll_ms
            ));
        }
        out
    }

    /// Does a fetch of `other` read the same thing? (If not, a fetch of this spec that is
    /// under way is stale.)
    pub fn same_origin(&self, other: &SourceSpec) -> bool {
        self.url == other.url
            && self.branch == other.branch
            && self.path == other.path
            && self.credentials_file == other.credentials_file
    }
}

/// Why a fetch is wanted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFetch {
    pub asked_ms: u64,
    /// `created`, `sync`, `poll` or `delivery <receiver>/<id>`.
    pub by: String,
    /// The commit a push named, if one did.
    pub commit: Option<String>,
}

/// The last fetch that failed, if the latest one did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceError {
    pub message: String,
    pub commit: Option<String>,
    pub at_ms: u64,
}

/// What a fetch under way was started against: stale if either moved since.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchBasis {
    /// The source's `version` then.
    pub version: u64,
    /// The source's `asks` then.
    pub asks: u64,
}

/// One blueprint file of a fetched commit, parsed and validated by the leader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchedFile {
    /// Path in the repository.
    pub path: String,
    pub spec: BlueprintSpec,
    /// The file's text (kept as the revision's source).
    pub text: String,
}

/// A source and what its last fetch found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub spec: SourceSpec,
    /// Bumped when the URL, branch, path or credentials change.
    pub version: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The commit whose blueprints are applied.
    pub commit: Option<String>,
    pub fetched_ms: u64,
    pub error: Option<SourceError>,
    pub pending: Option<PendingFetch>,
    /// Asks for a fetch so far.
    pub asks: u64,
    /// Blueprint files of `commit`: path → (blueprint, the revision its content made).
    pub blueprints: BTreeMap<String, (String, u64)>,
    /// When the leader last asked for a poll (so polling is spread by the interval).
    pub polled_ms: u64,
}

impl Source {
    pub(crate) fn ask(&mut self, by: String, commit: Option<String>, now_ms: u64) {
        self.asks = self.asks.saturating_add(1);
        self.pending = Some(PendingFetch {
            asked_ms: now_ms,
            by,
            commit,
        });
    }

    /// Is a fetch started at `basis` still about this source as it is now?
    pub fn basis_is_current(&self, basis: FetchBasis) -> bool {
        basis.version == self.version
    }

    /// The basis a fetch starting now runs against.
    pub fn basis(&self) -> FetchBasis {
        FetchBasis {
            version: self.version,
            asks: self.asks,
        }
    }

    /// Clears `pending` when nothing asked since `basis`.
    pub(crate) fn settle(&mut self, basis: FetchBasis) {
        if self.asks == basis.asks {
            self.pending = None;
        }
    }
}
