//! The commands that change tokens and roles, and the admission check of an audited
//! command. Pure and panic-free like all of apply: a command that cannot be carried out is
//! refused with what to fix, and changes nothing.
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

use serde::{Deserialize, Serialize};

use super::audit::AuditStamp;
use super::identity::Identity;
use super::pattern;
use super::role::{BuiltinRole, RoleDef, MAX_ROLE_PATTERNS};
use super::state::AuthState;
use super::token::{is_hash, is_token_id, TokenRecord};

/// Longest token description kept, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 1_024;
/// Tokens named in a refusal before "and N more".
const NAMED_IN_REFUSAL: usize = 10;

/// A change to tokens, roles or the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthCommand {
    /// Store a new token (its id and hash; the member generated the text).
    CreateToken { record: TokenRecord },
    /// Revoke a token from `now_ms` on; revoking twice keeps the first time.
    RevokeToken { id: String, now_ms: u64 },
    /// Create or replace a custom role.
    PutRole { role: RoleDef },
    /// Delete a custom role no live token uses.
    DeleteRole { name: String },
    /// Record a request the receiving member refused before proposing it (unknown token,
    /// missing permission): the trail shows denials, not only what was carried out.
    RecordDenied { stamp: AuditStamp, reason: String },
}

/// What an [`AuthCommand`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthResult {
    /// The token as stored (created, or after revocation).
    Token(TokenRecord),
    /// The role as stored.
    Role(RoleDef),
    Done,
    /// Nothing changed; the reason says what to fix.
    Refused(String),
}

impl AuthState {
    /// Applies `command`.
    pub fn apply(&mut self, command: &AuthCommand) -> AuthResult {
        let done = match command {
            AuthCommand::CreateToken { record } => self.create_token(record),
            AuthCommand::RevokeToken { id, now_ms } => self.revoke_token(id, *now_ms),
            AuthCommand::PutRole { role } => role.validate().map(|()| {
                self.roles.insert(role.name.clone(), role.clone());
                AuthResult::Role(role.clone())
            }),
            AuthCommand::DeleteRole { name } => self.delete_role(name),
            AuthCommand::RecordDenied { stamp, reason } => {
                self.audit.append(stamp, &format!("denied: {reason}"));
                Ok(AuthResult::Done)
            }
        };
        done.unwrap_or_else(AuthResult::Refused)
    }

    /// The identity an audited command runs as, if it may run: the principal resolved at
    /// the stamp's time and its permission checked, both against this state. A denial is
    /// recorded in the audit log (the only change) and returned as the reason.
    pub fn admit(&mut self, stamp: &AuditStamp) -> Result<Identity, String> {
        let checked = self
            .resolve(&stamp.principal, stamp.at_ms)
            .map_err(|e| e.to_string())
            .and_then(|identity| {
                self.authorize(&identity, stamp.operation, &stamp.target)
                    .map(|()| identity)
                    .map_err(|d| d.to_string())
            });
        if let Err(reason) = &checked {
            self.audit.append(stamp, &format!("denied: {reason}"));
        }
        checked
    }

    fn create_token(&mut self, record: &TokenRecord) -> Result<AuthResult, String> {
        let id = &record.id;
        if !is_token_id(id) {
            return Err(format!(
                "token id {id:?} is not 12 lowercase hex characters"
            ));
        }
        if self.tokens.contains_key(id) {
            return Err(format!("token {id} exists already: generate another id"));
        }
        if record.hash.is_empty() {
            return Err(format!(
                "token {id} has no hash: store sha256 of the token text"
            ));
        }
        if !is_hash(&record.hash) {
            return Err(format!(
                "token {id}: the hash is not a SHA-256 digest in lowercase hex"
            ));
        }
        if !self.role_exists(&record.role) {
            return Err(format!(
                "token {id}: role {:?} does not exist: use admin, operator, deployer, viewer or a role from `moorctl auth role list`",
                record.role
            ));
        }
        check_scope(record)?;
        if record.description.len() > MAX_DESCRIPTION_LEN {
            return Err(format!(
                "token {id}: description of {} bytes: at most {MAX_DESCRIPTION_LEN}",
                record.description.len()
            ));
        }
        if record.revoked_at_ms.is_some() {
            return Err(format!("token {id}: a new token cannot be revoked already"));
        }
        self.tokens.insert(id.clone(), record.clone());
        Ok(AuthResult::Token(record.clone()))
    }

    fn revoke_token(&mut self, id: &str, now_ms: u64) -> Result<AuthResult, String> {
        let record = self.tokens.get_mut(id).ok_or_else(|| {
            format!("token {id:?} is not known: `moorctl auth token list` shows the ids")
        })?;
        record.revoked_at_ms.get_or_insert(now_ms);
        Ok(AuthResult::Token(record.clone()))
    }

    fn delete_role(&mut self, name: &str) -> Result<AuthResult, String> {
        if BuiltinRole::from_name(name).is_some() {
            return Err(format!("role {name:?} is built in and cannot be deleted"));
        }
        if !self.roles.contains_key(name) {
            return Err(format!(
                "role {name:?} does not exist: `moorctl auth role list` shows the roles"
            ));
        }
        // Expiry needs a time this command does not carry: an expired token that was never
        // revoked still counts, which errs on the side of keeping the role.
        let users: Vec<&str> = self
            .tokens
            .values()
            .filter(|t| t.role == name && t.revoked_at_ms.is_none())
            .map(|t| t.id.as_str())
            .collect();
        if !users.is_empty() {
            let mut named = users
                .iter()
                .take(NAMED_IN_REFUSAL)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if users.len() > NAMED_IN_REFUSAL {
                named.push_str(&format!(" and {} more", users.len() - NAMED_IN_REFUSAL));
            }
            return Err(format!(
                "role {name:?} is used by tokens {named}: revoke them first (`moorctl auth token revoke <id>`)"
            ));
        }
        self.roles.remove(name);
        Ok(AuthResult::Done)
    }
}

/// A token's scope narrows a deployer; on any other role it would look like a limit and be
/// none, so it is refused there.
fn check_scope(record: &TokenRecord) -> Result<(), String> {
    let id = &record.id;
    let scoped = !record.groups.is_empty() || !record.blueprints.is_empty();
    if scoped && record.role != BuiltinRole::Deployer.name() {
        return Err(format!(
            "token {id}: groups and blueprints scope the deployer role only, not {:?}: drop them, or use a custom role with `names`",
            record.role
        ));
    }
    if record.groups.len() + record.blueprints.len() > MAX_ROLE_PATTERNS {
        return Err(format!(
            "token {id}: at most {MAX_ROLE_PATTERNS} group and blueprint patterns"
        ));
    }
    for p in record.groups.iter().chain(&record.blueprints) {
        pattern::check(p).map_err(|e| format!("token {id}: scope {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests/apply_unit.rs"]
pub(crate) mod tests;
