//! What moorctl prints: one view struct per kind of result, each rendered as a table for
//! people or as JSON / YAML for programs (the [`View`] trait).
//!
//! Views are plain serde structs built from the wire messages, so the JSON and YAML field
//! names are a stable, documented surface independent of the generated proto types. Values
//! are bytes: they are shown as text when they are valid UTF-8 and as base64 otherwise, and
//! the machine formats say which (`value_encoding`). Tables escape control characters, so a
//! value cannot drive the terminal.
//!
//! Why a folder: every command and every watch display prints through these types and
//! helpers, so a result looks the same wherever it is shown. One file per subject
//! (`cluster.rs`, `backup.rs`, `vars.rs`, `blueprint.rs`, `validate.rs`, `auth.rs`,
//! `audit.rs`, `config.rs`, `diff.rs`, `receiver.rs`, `source.rs`, `trigger.rs`, ...) and the
//! shared pieces (`render.rs`, `paint.rs` (colour on a terminal only), `table.rs`,
//! `cells.rs`, `time.rs`, `value.rs`, `drift.rs` (a drift policy, shown by environments and
//! groups), `rollout.rs`'s failure budget (shown by rollouts and triggers)). Views only
//! format: they make no calls and decide no exit code.

pub mod apply;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod blueprint;
pub mod cells;
pub mod cluster;
pub mod config;
pub mod diff;
pub mod drift;
pub mod env;
pub mod exec;
pub mod formation;
pub mod group;
pub mod message;
pub mod paint;
pub mod receiver;
mod render;
pub mod rollout;
pub mod sealed;
pub mod secrets;
pub mod site;
pub mod source;
pub mod table;
pub mod time;
pub mod timeline;
pub mod trigger;
pub mod validate;
pub mod value;
pub mod vars;

pub use paint::Paint;
pub use render::{emit, render, show, View};
