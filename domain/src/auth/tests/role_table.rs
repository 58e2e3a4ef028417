//! The permission table of the built-in roles, written out by hand: every operation ×
//! every built-in role, plus a scoped deployer inside and outside its scope. A change to
//! what a role grants fails here until this table changes with it, on purpose: widening a
//! role is a security decision someone must see in review.

use crate::auth::identity::Identity;
use crate::auth::operation::Operation;
use crate::auth::permission::Target;
use crate::auth::state::AuthState;

/// Columns: admin, operator, deployer (no scope), deployer (groups [edge-*], blueprints
/// [web]) on group edge-1 / blueprint web, the same deployer on group core-1 / blueprint db,
/// viewer. `y` allowed, `.` denied.
const TABLE: &[(&str, &str)] = &[
    ("cluster.status", "yyyyyy"),
    ("cluster.init", "y....."),
    ("cluster.member.add", "y....."),
    ("cluster.member.promote", "y....."),
    ("cluster.member.remove", "y....."),
    ("cluster.snapshot.save", "y....."),
    ("cluster.upgrade.finalize", "y....."),
    ("secrets.status", "y....."),
    ("secrets.reseal", "y....."),
    ("var.put", "yy...."),
    ("var.put_secret", "yy...."),
    ("var.get", "yyyyyy"),
    ("var.delete", "yy...."),
    ("var.cas", "yy...."),
    ("var.list", "yyyyyy"),
    ("blueprint.apply", "yy...."),
    ("blueprint.list", "yyyyyy"),
    ("blueprint.get", "yyyyyy"),
    ("site.put", "yy...."),
    ("site.list", "yyyyyy"),
    ("site.get", "yyyyyy"),
    ("environment.create", "yy.y.."),
    ("environment.list", "yyyyyy"),
    ("environment.get", "yyyyyy"),
    ("environment.set_drift", "yy...."),
    ("environment.diff", "yyyyyy"),
    ("execution.start", "yy.y.."),
    ("execution.list", "yyyyyy"),
    ("execution.get", "yyyyyy"),
    ("execution.resume", "yy...."),
    ("execution.cancel", "yy...."),
    ("execution.rollback", "yy...."),
    ("execution.watch", "yyyyyy"),
    ("group.put", "yy...."),
    ("group.get", "yyyyyy"),
    ("group.list", "yyyyyy"),
    ("group.delete", "yy...."),
    ("rollout.start", "yy.y.."),
    ("rollout.get", "yyyyyy"),
    ("rollout.list", "yyyyyy"),
    ("rollout.pause", "yy...."),
    ("rollout.resume", "yy...."),
    ("rollout.cancel", "yy...."),
    ("rollout.approve", "yy...."),
    ("rollout.rollback", "yy...."),
    ("rollout.set_parallel", "yy...."),
    ("rollout.set_limits", "yy...."),
    ("auth.token.create", "y....."),
    ("auth.token.list", "y....."),
    ("auth.token.revoke", "y....."),
    ("auth.whoami", "yyyyyy"),
    ("auth.role.put", "y....."),
    ("auth.role.list", "y....."),
    ("auth.role.delete", "y....."),
    ("audit.list", "y....."),
    ("receiver.put", "y....."),
    ("receiver.get", "yyyyyy"),
    ("receiver.list", "yyyyyy"),
    ("receiver.delete", "y....."),
    ("receiver.deliveries", "yyyyyy"),
    ("source.put", "yy...."),
    ("source.get", "yyyyyy"),
    ("source.list", "yyyyyy"),
    ("source.delete", "yy...."),
    ("source.sync", "yy...."),
    ("trigger.put", "yy...."),
    ("trigger.get", "yyyyyy"),
    ("trigger.list", "yyyyyy"),
    ("trigger.delete", "yy...."),
];

fn identity(role: &str, groups: &[&str], blueprints: &[&str]) -> Identity {
    Identity {
        who: "token:0123456789ab".into(),
        role: role.into(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        blueprints: blueprints.iter().map(|s| s.to_string()).collect(),
        expires_at_ms: 0,
    }
}

fn target(name: &str, group: &str, blueprint: &str) -> Target {
    Target {
        name: Some(name.into()),
        group: Some(group.into()),
        blueprint: Some(blueprint.into()),
    }
}

#[test]
fn every_operation_and_every_builtin_role_as_specified() {
    let state = AuthState::default();
    let inside = target("web-1", "edge-1", "web");
    let outside = target("db-1", "core-1", "db");
    let scoped = identity("deployer", &["edge-*"], &["web"]);
    let columns = [
        ("admin", identity("admin", &[], &[]), &inside),
        ("operator", identity("operator", &[], &[]), &inside),
        ("deployer", identity("deployer", &[], &[]), &inside),
        ("deployer in scope", scoped.clone(), &inside),
        ("deployer out of scope", scoped, &outside),
        ("viewer", identity("viewer", &[], &[]), &inside),
    ];
    // The table names every operation exactly once, in the permission table's order.
    let names: Vec<&str> = TABLE.iter().map(|(name, _)| *name).collect();
    let all: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
    assert_eq!(names, all, "the table and Operation::ALL disagree");

    let mut wrong = Vec::new();
    for (name, row) in TABLE {
        let op = Operation::from_name(name).unwrap();
        assert_eq!(row.len(), columns.len(), "{name}: one mark per column");
        for ((column, id, target), mark) in columns.iter().zip(row.chars()) {
            let allowed = state.authorize(id, op, target).is_ok();
            if allowed != (mark == 'y') {
                wrong.push(format!(
                    "{name} × {column}: allowed = {allowed}, table says {mark}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn whoami_lists_what_the_table_allows() {
    let state = AuthState::default();
    let scoped = identity("deployer", &["edge-*"], &["web"]);
    let listed: Vec<&str> = state
        .operations_for(&scoped)
        .iter()
        .map(|op| op.name())
        .collect();
    let in_table: Vec<&str> = TABLE
        .iter()
        .filter(|(_, row)| row.chars().nth(3) == Some('y'))
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(listed, in_table);
}
