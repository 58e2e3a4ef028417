//! Unit tests of `role.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

fn def(name: &str, ops: &[&str], names: &[&str]) -> RoleDef {
    RoleDef {
        name: name.into(),
        operations: ops.iter().map(|s| s.to_string()).collect(),
        names: names.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn builtin_names_round_trip() {
    for r in BuiltinRole::ALL {
        assert_eq!(BuiltinRole::from_name(r.name()), Some(r));
    }
    assert_eq!(BuiltinRole::from_name("root"), None);
    assert_eq!(
        BuiltinRole::Admin.def().operations.len(),
        Operation::ALL.len()
    );
    assert!(BuiltinRole::Viewer
        .def()
        .operations
        .contains(&"auth.whoami".to_string()));
}

#[test]
fn a_valid_custom_role_grants_what_its_patterns_match() {
    let r = def("release-bot", &["rollout.*", "var.get"], &["edge-*"]);
    r.validate().unwrap();
    assert!(r.grants(Operation::RolloutPause));
    assert!(r.grants(Operation::VarGet));
    assert!(!r.grants(Operation::VarPut));
}

#[test]
fn invalid_roles_are_refused_with_what_to_fix() {
    let cases = [
        (def("", &["*"], &[]), "needs a name"),
        (def("Ops", &["*"], &[]), "lowercase"),
        (def("a b", &["*"], &[]), "lowercase"),
        (def("viewer", &["*"], &[]), "built in"),
        (def("x", &[], &[]), "grants no operation"),
        (def("x", &["rollouts.*"], &[]), "matches no operation"),
        (def("x", &["var.put "], &[]), "whitespace"),
        (def("x", &["var.get"], &[""]), "empty pattern"),
        (def(&"x".repeat(64), &["*"], &[]), "at most 63"),
    ];
    for (role, want) in cases {
        let err = role.validate().unwrap_err();
        assert!(err.contains(want), "{role:?}: {err}");
    }
    let many: Vec<String> = (0..101).map(|i| format!("n{i}")).collect();
    let big = RoleDef {
        name: "big".into(),
        operations: vec!["*".into()],
        names: many,
    };
    assert!(big.validate().unwrap_err().contains("at most 100"));
}
