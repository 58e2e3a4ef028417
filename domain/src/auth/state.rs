//! [`AuthState`]: the replicated tokens, custom roles and audit log. Its behaviour lives
//! next door, one concern per file, as `impl` blocks: `identity.rs` (who is calling),
//! `permission.rs` (may they), `apply.rs` (the commands that change it).
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

use super::audit::AuditState;
use super::role::{BuiltinRole, RoleDef};
use super::token::TokenRecord;

/// Tokens, custom roles and the audit log. Empty in a cluster that has never used them, and
/// then left out of snapshots, so their encoding (and digest) is what it was before auth
/// existed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthState {
    /// Every token ever created (revoked ones too: the audit trail names them), by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<String, TokenRecord>,
    /// Custom roles by name; built-in roles are code, never stored.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, RoleDef>,
    #[serde(default, skip_serializing_if = "AuditState::is_empty")]
    pub audit: AuditState,
}

impl AuthState {
    /// True when nothing was ever stored: no token, no custom role, no audit record.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.roles.is_empty() && self.audit.is_empty()
    }

    /// True when `name` is a built-in or a stored custom role.
    pub fn role_exists(&self, name: &str) -> bool {
        BuiltinRole::from_name(name).is_some() || self.roles.contains_key(name)
    }

    /// Every role, built-in ones first (with the flag set), then custom ones by name: what
    /// `auth role list` shows.
    pub fn list_roles(&self) -> Vec<(RoleDef, bool)> {
        BuiltinRole::ALL
            .into_iter()
            .map(|r| (r.def(), true))
            .chain(self.roles.values().map(|r| (r.clone(), false)))
            .collect()
    }

    /// Checks the namespace's own invariants; the first one broken, described.
    pub fn invariants(&self) -> Result<(), String> {
        for (id, t) in &self.tokens {
            if *id != t.id {
                return Err(format!("token stored under {id} has id {}", t.id));
            }
        }
        for (name, r) in &self.roles {
            if *name != r.name {
                return Err(format!("role stored under {name} is named {}", r.name));
            }
        }
        self.audit.invariants()
    }
}
