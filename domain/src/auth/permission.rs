//! May this identity do this operation on this object? Deny by default: a role grants an
//! operation or it does not, and a deployer's writes and a custom role's `names` narrow it
//! further to the objects their patterns match.
//!
//! A refusal names the missing permission precisely (`role "viewer" lacks "rollout.start"`),
//! so the person refused knows what to ask an admin for.
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

use super::identity::Identity;
use super::operation::Operation;
use super::pattern::{matches_any, show};
use super::role::{BuiltinRole, RoleDef, DEPLOYER_WRITES};
use super::state::AuthState;
pub use super::target::Target;

/// A refused operation: `missing` says which permission, for whom.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{missing}")]
pub struct Denied {
    pub missing: String,
}

fn denied(missing: String) -> Result<(), Denied> {
    Err(Denied { missing })
}

impl AuthState {
    /// Whether `identity` may do `op` on `target` in this state.
    pub fn authorize(
        &self,
        identity: &Identity,
        op: Operation,
        target: &Target,
    ) -> Result<(), Denied> {
        let role = identity.role.as_str();
        if let Some(builtin) = BuiltinRole::from_name(role) {
            if !builtin.grants(op) {
                return denied(format!("role {role:?} lacks {:?}", op.name()));
            }
            if builtin == BuiltinRole::Deployer && DEPLOYER_WRITES.contains(&op) {
                return deployer_scope(identity, op, target);
            }
            return Ok(());
        }
        let Some(def) = self.roles.get(role) else {
            return denied(format!(
                "role {role:?} does not exist: ask an admin to create it (`moorctl auth role put`)"
            ));
        };
        if !def.grants(op) {
            return denied(format!("role {role:?} lacks {:?}", op.name()));
        }
        custom_scope(def, op, target)
    }

    /// Every operation `identity` may call on some object (what `auth whoami` lists): a
    /// deployer's writes only when its scope allows any object at all.
    pub fn operations_for(&self, identity: &Identity) -> Vec<Operation> {
        let builtin = BuiltinRole::from_name(&identity.role);
        let custom = self.roles.get(&identity.role);
        Operation::ALL
            .iter()
            .copied()
            .filter(|op| match (builtin, custom) {
                (Some(BuiltinRole::Deployer), _) if DEPLOYER_WRITES.contains(op) => {
                    !identity.blueprints.is_empty()
                        || (*op == Operation::RolloutStart && !identity.groups.is_empty())
                }
                (Some(b), _) => b.grants(*op),
                (None, Some(def)) => def.grants(*op),
                (None, None) => false,
            })
            .collect()
    }
}

/// A deployer's writes: rollouts on its groups (and blueprints, when it has blueprint
/// patterns), executions and environments of its blueprints only.
fn deployer_scope(identity: &Identity, op: Operation, target: &Target) -> Result<(), Denied> {
    let who = identity.describe();
    let (groups, blueprints) = (&identity.groups, &identity.blueprints);
    let verb = match op {
        Operation::RolloutStart => "start rollouts",
        Operation::ExecutionStart => "start executions",
        _ => "create environments",
    };
    let mut group_matched = false;
    if op == Operation::RolloutStart {
        if let Some(group) = &target.group {
            if groups.is_empty() {
                return denied(format!(
                    "{who} may start rollouts on no group (its scope names none), not {group:?}: ask an admin for a token with `--group <pattern>`"
                ));
            }
            if !matches_any(groups, group) {
                return denied(format!(
                    "{who} may start rollouts only on groups matching {}, not {group:?}",
                    show(groups)
                ));
            }
            group_matched = true;
        }
    }
    if blueprints.is_empty() {
        if group_matched {
            return Ok(());
        }
        return denied(format!(
            "{who} may not {verb}: its scope names no blueprint pattern (ask an admin for a token with `--blueprint <pattern>`)"
        ));
    }
    match &target.blueprint {
        Some(b) if matches_any(blueprints, b) => Ok(()),
        Some(b) => denied(format!(
            "{who} may {verb} only of blueprints matching {}, not {b:?}",
            show(blueprints)
        )),
        None => denied(format!(
            "{who} may {verb} only of blueprints matching {}, and this request names no blueprint",
            show(blueprints)
        )),
    }
}

/// A custom role's `names`: the object (its name, else its group, else its blueprint) must
/// match one of them; no `names` means any object.
fn custom_scope(def: &RoleDef, op: Operation, target: &Target) -> Result<(), Denied> {
    if def.names.is_empty() {
        return Ok(());
    }
    let object = target
        .name
        .as_ref()
        .or(target.group.as_ref())
        .or(target.blueprint.as_ref());
    match object {
        Some(o) if matches_any(&def.names, o) => Ok(()),
        Some(o) => denied(format!(
            "role {:?} may {:?} only on names matching {}, not {o:?}",
            def.name,
            op.name(),
            show(&def.names)
        )),
        None => denied(format!(
            "role {:?} may {:?} only on names matching {}, and this request names no object",
            def.name,
            op.name(),
            show(&def.names)
        )),
    }
}

#[cfg(test)]
#[path = "tests/permission_unit.rs"]
mod tests;
