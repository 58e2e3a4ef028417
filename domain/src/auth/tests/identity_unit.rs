//! Unit tests of `identity.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;
use crate::auth::token::tests::token;

const ID: &str = "0123456789ab";

fn state_with(text: &str, role: &str, expires_at_ms: u64) -> AuthState {
    let mut s = AuthState::default();
    s.tokens.insert(
        ID.into(),
        TokenRecord {
            id: ID.into(),
            hash: token_hash(text),
            role: role.into(),
            groups: vec!["edge-*".into()],
            blueprints: vec![],
            description: "ci".into(),
            created_by: "cert:root".into(),
            created_at_ms: 1,
            expires_at_ms,
            revoked_at_ms: None,
        },
    );
    s
}

#[test]
fn the_right_token_authenticates() {
    let text = token(ID, 'k');
    let id = state_with(&text, "deployer", 0)
        .authenticate(&text, 5)
        .unwrap();
    assert_eq!(id.who, "token:0123456789ab");
    assert_eq!(id.describe(), "token 0123456789ab");
    assert_eq!((id.role.as_str(), id.groups.len()), ("deployer", 1));
}

#[test]
fn refusals_say_what_to_do_and_never_show_the_secret() {
    let text = token(ID, 'k');
    let secret = "k".repeat(43);
    let s = state_with(&text, "viewer", 100);
    let mut revoked = s.clone();
    revoked.tokens.get_mut(ID).unwrap().revoked_at_ms = Some(1_740_830_400_000);
    let gone_role = state_with(&text, "release-bot", 0);
    let wrong = token(ID, 'j');
    let cases = [
        (s.authenticate(&wrong, 5), "secret does not match"),
        (s.authenticate(&token("ba9876543210", 'k'), 5), "not known"),
        (
            revoked.authenticate(&text, 5),
            "revoked at 2025-03-01T12:00:00Z: ask an admin",
        ),
        (s.authenticate(&text, 100), "expired at"),
        (
            gone_role.authenticate(&text, 5),
            "\"release-bot\", which this cluster",
        ),
        (s.authenticate("", 5), "malformed token: the token is empty"),
        (s.authenticate(&format!("mor_{ID}_{secret}"), 5), "moor_"),
        (
            s.authenticate(&format!("moor__{ID}_{secret}"), 5),
            "12 lowercase hex",
        ),
        (
            s.authenticate(&format!("moor_{ID}_{secret}!"), 5),
            "base64url",
        ),
        (
            s.authenticate(&format!("moor_01234_{secret}"), 5),
            "12 lowercase hex",
        ),
    ];
    for (result, want) in cases {
        let err = result.unwrap_err();
        let (shown, debug) = (err.to_string(), format!("{err:?}"));
        assert!(shown.contains(want), "{shown}");
        assert!(
            !shown.contains(&secret) && !debug.contains(&secret),
            "{debug}"
        );
    }
    assert!(s.authenticate(&text, 99).is_ok());
}

#[test]
fn resolve_rechecks_revocation_expiry_and_roles() {
    let text = token(ID, 'k');
    let mut s = state_with(&text, "operator", 50);
    let p = Principal::Token { id: ID.into() };
    assert_eq!(s.resolve(&p, 49).unwrap().role, "operator");
    assert!(matches!(s.resolve(&p, 50), Err(AuthError::Expired { .. })));
    s.tokens.get_mut(ID).unwrap().revoked_at_ms = Some(7);
    assert!(matches!(
        s.resolve(&p, 1),
        Err(AuthError::Revoked { at_ms: 7, .. })
    ));
    let unknown = Principal::Token {
        id: "ffffffffffff".into(),
    };
    assert!(matches!(
        s.resolve(&unknown, 1),
        Err(AuthError::UnknownToken { .. })
    ));
}

#[test]
fn certificates_name_their_role_in_the_organization() {
    let s = AuthState::default();
    let cert = |subject: &str, role: &str| Principal::Cert {
        subject: subject.into(),
        role: role.into(),
    };
    let id = s.resolve(&cert("ci", "deployer"), 0).unwrap();
    assert_eq!(
        (id.who.as_str(), id.describe()),
        ("cert:ci", "certificate \"ci\"".into())
    );
    assert!(id.groups.is_empty() && id.blueprints.is_empty());
    let err = s.resolve(&cert("ci", "root"), 0).unwrap_err().to_string();
    assert!(
        err.contains("\"root\"") && err.contains("Organization"),
        "{err}"
    );
    let err = s.resolve(&cert("", "admin"), 0).unwrap_err().to_string();
    assert!(err.contains("no subject CN"), "{err}");
}
