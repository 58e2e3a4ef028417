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
mod tests {
    use super::*;

    fn identity(role: &str, groups: &[&str], blueprints: &[&str]) -> Identity {
        Identity {
            who: "token:0123456789ab".into(),
            role: role.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            blueprints: blueprints.iter().map(|s| s.to_string()).collect(),
            expires_at_ms: 0,
        }
    }

    fn target(name: Option<&str>, group: Option<&str>, blueprint: Option<&str>) -> Target {
        Target {
            name: name.map(Into::into),
            group: group.map(Into::into),
            blueprint: blueprint.map(Into::into),
        }
    }

    fn refusal(s: &AuthState, id: &Identity, op: Operation, t: &Target) -> String {
        s.authorize(id, op, t).unwrap_err().to_string()
    }

    #[test]
    fn refusals_name_the_missing_permission() {
        let s = AuthState::default();
        let t = Target::default();
        let viewer = identity("viewer", &[], &[]);
        assert_eq!(
            refusal(&s, &viewer, Operation::RolloutStart, &t),
            "role \"viewer\" lacks \"rollout.start\""
        );
        let deployer = identity("deployer", &["edge-*"], &[]);
        assert_eq!(
            refusal(&s, &deployer, Operation::RolloutStart, &target(None, Some("core-1"), None)),
            "token 0123456789ab may start rollouts only on groups matching [edge-*], not \"core-1\""
        );
        let err = refusal(&s, &identity("ghost", &[], &[]), Operation::VarGet, &t);
        assert!(err.contains("\"ghost\" does not exist"), "{err}");
    }

    #[test]
    fn deployer_scope_by_group_and_blueprint() {
        let s = AuthState::default();
        let start = Operation::RolloutStart;
        let by_group = identity("deployer", &["edge-*"], &[]);
        let ok = target(None, Some("edge-1"), Some("anything"));
        assert!(s.authorize(&by_group, start, &ok).is_ok());
        // No group named, no blueprint pattern: nothing to scope by.
        let err = refusal(&s, &by_group, start, &target(None, None, Some("web")));
        assert!(err.contains("names no blueprint pattern"), "{err}");

        let both = identity("deployer", &["edge-*"], &["web"]);
        assert!(s
            .authorize(&both, start, &target(None, Some("edge-1"), Some("web")))
            .is_ok());
        let err = refusal(&s, &both, start, &target(None, Some("edge-1"), Some("db")));
        assert!(
            err.contains("blueprints matching [web], not \"db\""),
            "{err}"
        );
        let err = refusal(&s, &both, start, &target(None, Some("edge-1"), None));
        assert!(err.contains("names no blueprint"), "{err}");

        let by_blueprint = identity("deployer", &[], &["web*"]);
        let err = refusal(
            &s,
            &by_blueprint,
            start,
            &target(None, Some("edge-1"), Some("web")),
        );
        assert!(err.contains("on no group"), "{err}");
        for op in [Operation::ExecutionStart, Operation::EnvironmentCreate] {
            assert!(s
                .authorize(&by_blueprint, op, &target(Some("e"), None, Some("web2")))
                .is_ok());
            let err = refusal(&s, &by_group, op, &target(Some("e"), None, Some("web")));
            assert!(err.contains("names no blueprint pattern"), "{err}");
        }
    }

    #[test]
    fn custom_roles_match_operations_and_object_names() {
        let mut s = AuthState::default();
        let def = RoleDef {
            name: "edge-ops".into(),
            operations: vec!["rollout.*".into(), "var.get".into()],
            names: vec!["edge-*".into()],
        };
        s.roles.insert(def.name.clone(), def);
        let id = identity("edge-ops", &[], &[]);
        let edge = target(None, Some("edge-2"), Some("web"));
        assert!(s.authorize(&id, Operation::RolloutPause, &edge).is_ok());
        assert!(s
            .authorize(&id, Operation::VarGet, &target(Some("edge-x"), None, None))
            .is_ok());
        let err = refusal(&s, &id, Operation::VarPut, &edge);
        assert_eq!(err, "role \"edge-ops\" lacks \"var.put\"");
        // The name, when set, is the object, even when the group would match.
        let err = refusal(
            &s,
            &id,
            Operation::RolloutGet,
            &target(Some("r-7"), Some("edge-1"), None),
        );
        assert!(
            err.contains("only on names matching [edge-*], not \"r-7\""),
            "{err}"
        );
        let err = refusal(&s, &id, Operation::RolloutList, &Target::default());
        assert!(err.contains("names no object"), "{err}");
        assert_eq!(s.operations_for(&id).len(), 11);
    }

    #[test]
    fn operations_for_follows_role_and_scope() {
        let s = AuthState::default();
        let count = |id: &Identity| s.operations_for(id).len();
        assert_eq!(count(&identity("admin", &[], &[])), Operation::ALL.len());
        assert_eq!(count(&identity("viewer", &[], &[])), 18);
        assert_eq!(count(&identity("deployer", &[], &[])), 18);
        assert_eq!(count(&identity("deployer", &["e*"], &[])), 19);
        assert_eq!(count(&identity("deployer", &[], &["w"])), 21);
        assert_eq!(count(&identity("operator", &[], &[])), 39);
        assert_eq!(count(&identity("nobody", &[], &[])), 0);
    }
}
