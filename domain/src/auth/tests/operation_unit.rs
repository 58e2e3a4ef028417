//! Unit tests of `operation.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

#[test]
fn names_round_trip_and_are_unique() {
    assert_eq!(Operation::ALL.len(), 69);
    for op in Operation::ALL {
        assert_eq!(Operation::from_name(op.name()), Some(*op));
        let n = Operation::ALL
            .iter()
            .filter(|o| o.name() == op.name())
            .count();
        assert_eq!(n, 1, "{op} appears twice");
    }
    assert_eq!(Operation::from_name("rollout.*"), None);
    assert_eq!(Operation::from_name(""), None);
}

#[test]
fn the_serde_form_is_the_name() {
    let json = serde_json::to_string(&Operation::RolloutSetParallel).unwrap();
    assert_eq!(json, "\"rollout.set_parallel\"");
    let back: Operation = serde_json::from_str("\"audit.list\"").unwrap();
    assert_eq!(back, Operation::AuditList);
}

#[test]
fn reads_and_admin_only_operations() {
    let reads: Vec<_> = Operation::ALL.iter().filter(|o| o.is_read()).collect();
    assert_eq!(reads.len(), 25);
    assert!(Operation::AuthWhoami.is_read());
    assert!(!Operation::AuditList.is_read() && Operation::AuditList.is_admin_only());
    assert!(!Operation::AuthWhoami.is_admin_only());
    let admin: Vec<_> = Operation::ALL
        .iter()
        .filter(|o| o.is_admin_only())
        .map(|o| o.name())
        .collect();
    assert_eq!(
        admin,
        [
            "cluster.init",
            "cluster.member.add",
            "cluster.member.promote",
            "cluster.member.remove",
            "cluster.snapshot.save",
            "cluster.upgrade.finalize",
            "secrets.status",
            "secrets.reseal",
            "auth.token.create",
            "auth.token.list",
            "auth.token.revoke",
            "auth.role.put",
            "auth.role.list",
            "auth.role.delete",
            "audit.list",
            "receiver.put",
            "receiver.delete"
        ]
    );
}
