//! Unit tests of `permission.rs`, kept out of the file that apply runs (test code may unwrap).

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
        refusal(
            &s,
            &deployer,
            Operation::RolloutStart,
            &target(None, Some("core-1"), None)
        ),
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
    assert_eq!(count(&identity("viewer", &[], &[])), 25);
    assert_eq!(count(&identity("deployer", &[], &[])), 25);
    assert_eq!(count(&identity("deployer", &["e*"], &[])), 26);
    assert_eq!(count(&identity("deployer", &[], &["w"])), 28);
    // 51 before secrets at rest, + var.put_secret.
    assert_eq!(count(&identity("operator", &[], &[])), 52);
    assert_eq!(count(&identity("nobody", &[], &[])), 0);
}
