//! The targets, one file each: what each feeds, how it makes inputs, what it checks.

pub mod apply;
pub mod blueprint;
pub mod codec;
pub mod duration;
pub mod group;
pub mod peer;
pub mod proto;
pub mod site;
pub mod template;
pub mod waves;
pub mod webhook;

use crate::engine::Target;

/// Every target, in the order `--target all` runs them.
pub const ALL: &[Target] = &[
    blueprint::TARGET,
    site::TARGET,
    group::TARGET,
    waves::TARGET,
    duration::TARGET,
    template::TARGET,
    codec::TARGET,
    apply::TARGET,
    proto::TARGET,
    peer::TARGET,
    webhook::TARGET,
];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<&'static Target> {
    ALL.iter().find(|t| t.name == name)
}
