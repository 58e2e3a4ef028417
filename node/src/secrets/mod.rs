//! Secrets at rest: the members' key file and the sealing of secret values.
//!
//! A secret (an input declared `secret: true`, a variable put as secret) is sealed by the
//! member that receives it, before it is proposed: the log, the snapshots, the backups and
//! every API answer hold only tokens ([`moor_domain::sealed`]). The executor opens them
//! when it calls a site ([`seal::open_value`]); nothing else does, except `env diff`, which
//! compares the opened values with what the site holds and shows both redacted.

pub mod keys;
pub mod seal;

pub use keys::{add_new_key, Keyring, SecretKeys};
pub use seal::{open_value, seal, OpenError};
