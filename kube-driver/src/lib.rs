//! `moor-kube`: the Kubernetes side of Moor's site protocol, for a cluster Moor drives
//! directly. moord adapts [`KubeSite`] to its `SiteDriver`; nothing else in the workspace
//! knows Kubernetes exists, and this crate knows nothing of moord (no moor-node, moor-domain
//! or moor-ctl dependency): it speaks in its own request and [`Outcome`] types, which mirror
//! `moor.site.v1`.
//!
//! What a call does, in the protocol's order (each step in its own file):
//! - [`manifest_of`] (`properties.rs`): a `kubernetes.manifest` resource's properties are
//!   the manifest plus an optional top-level `force`, read the same way by every caller.
//! - [`Manifest`] (`manifest.rs`): the manifest is checked before any request (a mapping with
//!   apiVersion, kind and metadata.name, names safe in a URL, at most
//!   [`APPLIED_MAX_BYTES`]); a bad one is FAILED, not retryable, with the reason.
//! - fence (`fence.rs`, rule 1): a `moor-system/moor-fence` ConfigMap holds the highest token;
//!   a lower one is FENCED before anything else is sent; a higher one is written by
//!   `resourceVersion` compare-and-swap. A caller that fences every call itself in a durable
//!   store (`moor-agent`) sets [`Fencing::Caller`] and the fence object is left alone.
//! - discovery (`discovery.rs`): the type's plural and scope, cached per group version.
//! - dedupe (`dedupe.rs`, rule 2): an object already carrying the call's
//!   `moor.dev/idempotency-key` is DUPLICATE with its recorded `moor.dev/desired-digest`.
//! - apply (`apply.rs`): server-side apply, `fieldManager=moor`, `force=true` on request; a
//!   409 names the conflicting managers. Delete (`delete.rs`): foreground propagation, a
//!   missing object is success, only Moor's own objects are deleted.
//! - observe (`observe.rs`, `diff.rs`): a dry-run apply of the recorded manifest compared with
//!   the live object, field by field.
//! - `retry.rs`: timeouts, transport errors, 429 and 5xx are retried with backoff within the
//!   call's deadline; what stays unanswered is FAILED and retryable, never FENCED or
//!   DUPLICATE. `errors.rs`: [`Failure`], and reading the API server's Status answers.
//!
//! What Moor writes on every object it applies: labels `app.kubernetes.io/managed-by: moor`,
//! `moor.dev/environment`, `moor.dev/resource`; annotations `moor.dev/idempotency-key`
//! (`<execution>/<step>`), `moor.dev/desired-digest`, `moor.dev/fence-token` and
//! `moor.dev/applied` (the manifest as applied, compact JSON, at most 128 KiB).
//!
//! Permissions Moor's credentials need: get/create/update the fence ConfigMap and create
//! namespaces; get/patch/delete the blueprint's types; list them across all namespaces (for
//! observe); the discovery documents.
//!
//! Why kube 2.0: kube 3.0 and later need Rust 1.88 or newer and the workspace builds on
//! 1.85; kube 2.0.1 is the newest release that builds there. It is compiled for its client
//! only (no runtime, derive, ws, oauth or oidc), with rustls on ring (no OpenSSL, no
//! aws-lc-rs: `cargo tree -p moor-kube -i aws-lc-sys` and `-i openssl-sys` are empty). kube
//! 2.0 requires k8s-openapi 0.26, so the workspace uses that one version with one Kubernetes
//! feature (`v1_33`) for this crate and the chart validation test alike. This crate does
//! not use k8s-openapi's types (the few answers it reads are small structs of its own that
//! tolerate trimmed answers); it depends on it only to choose that feature for kube.
//! Build cost (measured 2026-11-30 on the 2-core machine, other builds running): a cold
//! `cargo build --release -p moor-kube` takes 3–4 minutes; of its 387 s of compile units,
//! about 140 s are crates new to the workspace (k8s-openapi 49 s, which replaces the 0.29
//! the chart test built before, kube-client 18 s, jsonpath-rust and pest 15 s, kube-core
//! 10 s); tokio, hyper, rustls and serde are shared with moord.
//! Requests are built by hand over `kube::Client::send`, so the exact method, path, query
//! and content type of every request are visible here and checked by the tests.
//! `testing` (feature `testing`, for tests only, this crate's and its callers'): a scripted
//! API server to put under `kube::Client`.

// Outside tests, a failure is an answer, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod apply;
mod config;
mod dedupe;
mod delete;
mod diff;
mod discovery;
mod errors;
mod fence;
mod manifest;
mod observe;
mod outcome;
mod properties;
mod retry;
mod site;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{default_observe_kinds, Fencing, RetryPolicy, Settings, Source};
pub use diff::{FieldDiff, DRIFT_DIGEST_PREFIX};
pub use errors::{ConnectError, Failure};
pub use fence::{FenceOutcome, FENCE_KEY};
pub use manifest::{
    Manifest, ManifestError, TypeRef, APPLIED_ANNOTATION, APPLIED_MAX_BYTES, DIGEST_ANNOTATION,
    ENVIRONMENT_LABEL, FENCE_ANNOTATION, KEY_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    RESOURCE_LABEL,
};
pub use observe::{ObserveRequest, ObservedResource};
pub use outcome::{ApplyRequest, DeleteRequest, IdempotencyKey, Outcome};
pub use properties::{manifest_of, MANIFEST_TYPE};
pub use site::{KubeSite, APPLY_PATCH};

// kube-core needs exactly one Kubernetes version feature of k8s-openapi chosen by the crate
// that links it; this crate chooses the workspace's (see the module docs).
use k8s_openapi as _;
