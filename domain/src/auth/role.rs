//! Roles: the four built-in ones, written in code (never stored, so no command can weaken
//! or delete them), and custom ones ([`RoleDef`]) an admin stores through the log.
//!
//! Deny by default: a role grants exactly the operations listed here or matched by its
//! patterns; everything else is refused.
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

use serde::{Deserialize, Serialize};

use super::operation::Operation;
use super::pattern;

/// The writes a deployer may make, each only inside its token's scope (groups, blueprints).
pub const DEPLOYER_WRITES: [Operation; 3] = [
    Operation::RolloutStart,
    Operation::ExecutionStart,
    Operation::EnvironmentCreate,
];

/// Longest role name, and most patterns a role may hold: bounds for apply's work.
pub const MAX_ROLE_NAME_LEN: usize = 63;
pub const MAX_ROLE_PATTERNS: usize = 100;

/// A role defined in code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRole {
    /// Every operation.
    Admin,
    /// Every read and every day-to-day write; no membership, credentials or audit trail.
    Operator,
    /// Every read, plus starting rollouts, executions and environments inside its scope.
    Deployer,
    /// Every read.
    Viewer,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 4] = [
        BuiltinRole::Admin,
        BuiltinRole::Operator,
        BuiltinRole::Deployer,
        BuiltinRole::Viewer,
    ];

    /// The role's name, as tokens and certificates name it.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinRole::Admin => "admin",
            BuiltinRole::Operator => "operator",
            BuiltinRole::Deployer => "deployer",
            BuiltinRole::Viewer => "viewer",
        }
    }

    /// The built-in role with this name.
    pub fn from_name(name: &str) -> Option<BuiltinRole> {
        BuiltinRole::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether the role grants `op` at all. For a deployer's writes the identity's scope
    /// decides as well (see `permission.rs`).
    pub fn grants(self, op: Operation) -> bool {
        match self {
            BuiltinRole::Admin => true,
            BuiltinRole::Operator => !op.is_admin_only(),
            BuiltinRole::Deployer => op.is_read() || DEPLOYER_WRITES.contains(&op),
            BuiltinRole::Viewer => op.is_read(),
        }
    }

    /// The role as a [`RoleDef`], for listings: its operations by name, any object.
    pub fn def(self) -> RoleDef {
        RoleDef {
            name: self.name().to_string(),
            operations: Operation::ALL
                .iter()
                .filter(|op| self.grants(**op))
                .map(|op| op.name().to_string())
                .collect(),
            names: Vec::new(),
        }
    }
}

/// A custom role: the operations it grants and the objects it may act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    /// `[a-z0-9._-]+`, not a built-in role's name.
    pub name: String,
    /// Operation names or patterns over them (`rollout.*`, `*`).
    pub operations: Vec<String>,
    /// Patterns over the names of the objects the role may act on; empty: any object.
    pub names: Vec<String>,
}

impl RoleDef {
    /// Whether the role grants `op` (on some object).
    pub fn grants(&self, op: Operation) -> bool {
        pattern::matches_any(&self.operations, op.name())
    }

    /// Why the role cannot be stored, if it cannot; the message says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        check_role_name(&self.name)?;
        if BuiltinRole::from_name(&self.name).is_some() {
            return Err(format!(
                "role {:?} is built in and cannot be replaced: choose another name",
                self.name
            ));
        }
        if self.operations.is_empty() {
            return Err(format!(
                "role {:?} grants no operation: list operation names (`rollout.start`) or patterns (`rollout.*`)",
                self.name
            ));
        }
        if self.operations.len() + self.names.len() > MAX_ROLE_PATTERNS {
            return Err(format!(
                "role {:?} holds {} patterns: at most {MAX_ROLE_PATTERNS}",
                self.name,
                self.operations.len() + self.names.len()
            ));
        }
        for p in &self.operations {
            pattern::check(p).map_err(|e| format!("role {:?}: operation {e}", self.name))?;
            if !Operation::ALL
                .iter()
                .any(|op| pattern::matches(p, op.name()))
            {
                return Err(format!(
                    "role {:?}: {p:?} matches no operation: use a name from the permission table such as `rollout.start`, or a pattern such as `rollout.*`",
                    self.name
                ));
            }
        }
        for p in &self.names {
            pattern::check(p).map_err(|e| format!("role {:?}: name {e}", self.name))?;
        }
        Ok(())
    }
}

/// Why `name` is not a valid role name, if it is not.
fn check_role_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a role needs a name".into());
    }
    if name.len() > MAX_ROLE_NAME_LEN {
        return Err(format!(
            "role name of {} characters: at most {MAX_ROLE_NAME_LEN}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-'))
    {
        return Err(format!(
            "role name {name:?} holds {c:?}: use lowercase letters, digits, `.`, `_` and `-` only"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests/role_unit.rs"]
mod tests;
