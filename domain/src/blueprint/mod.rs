//! Blueprints: the declarative description of an environment, from YAML text to rendered
//! resources.
//!
//! A blueprint declares inputs, resources (which form a DAG through `depends_on`) and outputs.
//! The pipeline, one job per file:
//!
//! - [`yaml`]: YAML text → a tree that remembers the line and column of every node;
//! - [`parse`](mod@parse): that tree → a draft blueprint, reporting structural problems;
//! - [`validate`]: the draft → a [`BlueprintSpec`], reporting semantic problems (names,
//!   types, dependencies, cycles, references);
//! - [`template`]: the `${inputs.X}` / `${var:KEY}` reference syntax;
//! - [`render`](mod@render): spec + inputs + variables → [`Rendered`] resources with digests;
//! - [`dag`]: dependency order, reverse order, cycles.
//!
//! Everything here is pure (no I/O, no clock, no randomness) because it runs inside the
//! replicated state machine: every member must compute the same result from the same input.
//! Diagnostics are collected rather than returned at the first problem, so an author fixes a
//! blueprint in one round trip instead of one error at a time.

pub mod dag;
mod draft;
#[cfg(test)]
mod fixtures;
pub mod parse;
pub mod render;
mod spec;
pub mod template;
pub mod validate;
pub mod yaml;

pub use parse::parse;
pub use render::{digest, render};
pub use spec::*;
