//! Who is calling: a token's text or a command's [`Principal`] → an [`Identity`], checked
//! against the tokens and roles of the state (revoked, expired, unknown role).
//!
//! The member runs [`AuthState::authenticate`] when a request arrives; apply runs
//! [`AuthState::resolve`] again at the audited entry's index, so a revocation committed
//! before that index wins whichever member took the request.
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

use subtle::ConstantTimeEq;

use super::state::AuthState;
use super::token::{parse_token, token_hash, Principal, TokenRecord};
use super::utc;

/// Who a request runs as, and what limits its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `token:<id>` or `cert:<subject>`.
    pub who: String,
    /// A built-in or custom role that exists.
    pub role: String,
    /// Deployer scope (tokens only): group and blueprint patterns.
    pub groups: Vec<String>,
    pub blueprints: Vec<String>,
    /// 0: never.
    pub expires_at_ms: u64,
}

impl Identity {
    /// How messages name the identity: `token 0123456789ab`, `certificate "ci"`.
    pub fn describe(&self) -> String {
        match self.who.split_once(':') {
            Some(("token", id)) => format!("token {id}"),
            Some(("cert", subject)) => format!("certificate {subject:?}"),
            _ => self.who.clone(),
        }
    }
}

/// Why a caller is not authenticated. Every variant is an UNAUTHENTICATED answer, and its
/// message says what to do. No variant holds token text, so neither `Display` nor `Debug`
/// can show a secret: `Malformed` names the rule broken, never the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed token: {reason}: a token reads moor_<12 hex characters>_<secret>; copy it whole from the output of `moorctl auth token create`")]
    Malformed { reason: &'static str },
    #[error("token {id} is not known to this cluster: ask an admin for a new one (`moorctl auth token create`)")]
    UnknownToken { id: String },
    #[error("token {id}: the secret does not match: copy the whole token again, or ask an admin for a new one (`moorctl auth token create`)")]
    WrongSecret { id: String },
    #[error("token {id} revoked at {}: ask an admin for a new one (`moorctl auth token create`)", utc::format_ms(*at_ms))]
    Revoked { id: String, at_ms: u64 },
    #[error("token {id} expired at {}: ask an admin for a new one (`moorctl auth token create`)", utc::format_ms(*at_ms))]
    Expired { id: String, at_ms: u64 },
    #[error("{who} has role {role:?}, which this cluster does not define: ask an admin to create it (`moorctl auth role put`) or for a token of another role")]
    UnknownRole { who: String, role: String },
    #[error("client certificate refused: {reason}")]
    Certificate { reason: String },
}

impl AuthState {
    /// Authenticates a token's text at `now_ms`: strict parse, lookup by id, hash compared
    /// in constant time, then revocation, expiry and role.
    pub fn authenticate(&self, token_text: &str, now_ms: u64) -> Result<Identity, AuthError> {
        let id = parse_token(token_text).map_err(|reason| AuthError::Malformed { reason })?;
        let record = self
            .tokens
            .get(id)
            .ok_or_else(|| AuthError::UnknownToken { id: id.to_string() })?;
        let presented = token_hash(token_text);
        if !bool::from(presented.as_bytes().ct_eq(record.hash.as_bytes())) {
            return Err(AuthError::WrongSecret { id: id.to_string() });
        }
        self.live_identity(record, now_ms)
    }

    /// The identity a command's principal stands for at `now_ms`. A token is looked up by
    /// id (the member already checked its secret); a certificate's subject and role come
    /// from the member's TLS check.
    pub fn resolve(&self, principal: &Principal, now_ms: u64) -> Result<Identity, AuthError> {
        match principal {
            Principal::Token { id } => {
                let record = self
                    .tokens
                    .get(id)
                    .ok_or_else(|| AuthError::UnknownToken { id: id.clone() })?;
                self.live_identity(record, now_ms)
            }
            Principal::Cert { subject, role } => {
                if subject.is_empty() {
                    return Err(AuthError::Certificate {
                        reason: "it has no subject CN: issue client certificates with CN = the user or system they identify".into(),
                    });
                }
                let who = principal.who();
                if !self.role_exists(role) {
                    return Err(AuthError::UnknownRole {
                        who: format!("certificate {subject:?} (its Organization)"),
                        role: role.clone(),
                    });
                }
                Ok(Identity {
                    who,
                    role: role.clone(),
                    groups: Vec::new(),
                    blueprints: Vec::new(),
                    expires_at_ms: 0,
                })
            }
        }
    }

    /// The identity of a stored token, unless revoked, expired or of a role gone since.
    fn live_identity(&self, record: &TokenRecord, now_ms: u64) -> Result<Identity, AuthError> {
        if let Some(at_ms) = record.revoked_at_ms {
            return Err(AuthError::Revoked {
                id: record.id.clone(),
                at_ms,
            });
        }
        if record.is_expired(now_ms) {
            return Err(AuthError::Expired {
                id: record.id.clone(),
                at_ms: record.expires_at_ms,
            });
        }
        if !self.role_exists(&record.role) {
            return Err(AuthError::UnknownRole {
                who: format!("token {}", record.id),
                role: record.role.clone(),
            });
        }
        Ok(Identity {
            who: format!("token:{}", record.id),
            role: record.role.clone(),
            groups: record.groups.clone(),
            blueprints: record.blueprints.clone(),
            expires_at_ms: record.expires_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
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
}
