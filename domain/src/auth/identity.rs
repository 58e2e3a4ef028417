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
#[path = "tests/identity_unit.rs"]
mod tests;
