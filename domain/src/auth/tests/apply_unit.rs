//! Unit tests of `apply.rs` (and helpers other tests use), kept out of the file that apply runs (test code may unwrap).

use super::*;
use crate::auth::audit::tests::stamp;
use crate::auth::operation::Operation;
use crate::auth::token::{tests::token, token_hash};

pub(crate) fn record(id: &str, role: &str) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        hash: token_hash(&token(id, 'z')),
        role: role.into(),
        groups: vec![],
        blueprints: vec![],
        description: "test".into(),
        created_by: "cert:root".into(),
        created_at_ms: 1,
        expires_at_ms: 0,
        revoked_at_ms: None,
    }
}

fn refused(r: AuthResult) -> String {
    match r {
        AuthResult::Refused(reason) => reason,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn create_token_refuses_what_it_cannot_store_and_changes_nothing() {
    let mut s = AuthState::default();
    let ok = record("0123456789ab", "viewer");
    assert_eq!(
        s.apply(&AuthCommand::CreateToken { record: ok.clone() }),
        AuthResult::Token(ok.clone())
    );
    let before = s.clone();
    let mut scoped = record("111111111111", "operator");
    scoped.groups = vec!["edge-*".into()];
    let mut no_hash = record("222222222222", "viewer");
    no_hash.hash.clear();
    let cases = [
        (ok.clone(), "exists already"),
        (record("XYZ", "viewer"), "12 lowercase hex"),
        (record("333333333333", "root"), "\"root\" does not exist"),
        (scoped, "deployer role only"),
        (no_hash, "no hash"),
    ];
    for (r, want) in cases {
        let reason = refused(s.apply(&AuthCommand::CreateToken { record: r }));
        assert!(reason.contains(want), "{reason}");
    }
    assert_eq!(s, before);
}

#[test]
fn revoking_twice_keeps_the_first_time() {
    let mut s = AuthState::default();
    s.apply(&AuthCommand::CreateToken {
        record: record("0123456789ab", "viewer"),
    });
    let revoke = |now_ms| AuthCommand::RevokeToken {
        id: "0123456789ab".into(),
        now_ms,
    };
    s.apply(&revoke(10));
    s.apply(&revoke(20));
    assert_eq!(s.tokens["0123456789ab"].revoked_at_ms, Some(10));
    let unknown = AuthCommand::RevokeToken {
        id: "ffffffffffff".into(),
        now_ms: 1,
    };
    assert!(refused(s.apply(&unknown)).contains("not known"));
}

#[test]
fn roles_are_validated_and_deleted_only_when_no_live_token_uses_them() {
    let mut s = AuthState::default();
    let role = RoleDef {
        name: "bot".into(),
        operations: vec!["var.*".into()],
        names: vec![],
    };
    assert_eq!(
        s.apply(&AuthCommand::PutRole { role: role.clone() }),
        AuthResult::Role(role)
    );
    let bad = RoleDef {
        name: "admin".into(),
        operations: vec!["*".into()],
        names: vec![],
    };
    assert!(refused(s.apply(&AuthCommand::PutRole { role: bad })).contains("built in"));
    s.apply(&AuthCommand::CreateToken {
        record: record("0123456789ab", "bot"),
    });
    let delete = AuthCommand::DeleteRole { name: "bot".into() };
    let reason = refused(s.apply(&delete));
    assert!(
        reason.contains("used by tokens 0123456789ab: revoke them first"),
        "{reason}"
    );
    s.apply(&AuthCommand::RevokeToken {
        id: "0123456789ab".into(),
        now_ms: 5,
    });
    assert_eq!(s.apply(&delete), AuthResult::Done);
    assert!(refused(s.apply(&delete)).contains("does not exist"));
    let builtin = AuthCommand::DeleteRole {
        name: "viewer".into(),
    };
    assert!(refused(s.apply(&builtin)).contains("built in"));
}

#[test]
fn record_denied_only_appends_to_the_trail() {
    let mut s = AuthState::default();
    let st = stamp("0123456789ab", Operation::RolloutStart, 7);
    let cmd = AuthCommand::RecordDenied {
        stamp: st,
        reason: "unknown token".into(),
    };
    assert_eq!(s.apply(&cmd), AuthResult::Done);
    let (page, _) = s.audit.list(0, "", "", 0, 0);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].outcome, "denied: unknown token");
    assert!(s.tokens.is_empty() && s.roles.is_empty());
}
