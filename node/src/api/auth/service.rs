//! `AuthApi`: tokens, roles, whoami and the audit log. The gate has already checked the
//! caller may call each RPC; writes carry the caller's audit stamp like every other write.

use std::sync::Arc;

use moor_domain::auth::audit::AuditRecord;
use moor_domain::auth::permission::Target;
use moor_domain::auth::role::RoleDef;
use moor_domain::auth::token::{token_hash, TokenRecord};
use moor_domain::auth::{AuthCommand, AuthResult};
use moor_domain::command::{Command, CommandResult};
use moor_proto::auth as pb;
use moor_proto::auth::auth_api_server::AuthApi;
use tonic::{Request, Response, Status};

use super::caller::{self, audited};
use super::tokens;
use crate::api::shared::read_state;
use crate::errors::ApiError;
use crate::exec::executor::now_ms;
use crate::raft::member::Member;

/// Longest token lifetime a request may ask for: ten years.
const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// Serves [`AuthApi`] for one member.
pub struct AuthService {
    member: Arc<Member>,
}

impl AuthService {
    pub fn new(member: Arc<Member>) -> Self {
        AuthService { member }
    }

    async fn write(&self, command: AuthCommand, object: String) -> Result<AuthResult, Status> {
        let command = audited(Command::Auth(command), Target::default(), object);
        match self.member.write(command).await? {
            (_, CommandResult::Auth(AuthResult::Refused(reason)))
            | (_, CommandResult::Refused(reason)) => {
                Err(ApiError::FailedPrecondition { reason }.into())
            }
            (_, CommandResult::Auth(r)) => Ok(r),
            (_, other) => {
                Err(ApiError::Internal(format!("an auth write answered {other:?}")).into())
            }
        }
    }
}

fn token_msg(t: &TokenRecord) -> pb::TokenInfo {
    pb::TokenInfo {
        id: t.id.clone(),
        role: t.role.clone(),
        groups: t.groups.clone(),
        blueprints: t.blueprints.clone(),
        description: t.description.clone(),
        created_by: t.created_by.clone(),
        created_at_ms: t.created_at_ms,
        expires_at_ms: t.expires_at_ms,
        revoked: t.revoked_at_ms.is_some(),
        revoked_at_ms: t.revoked_at_ms.unwrap_or(0),
    }
}

fn role_msg(r: &RoleDef, builtin: bool) -> pb::Role {
    pb::Role {
        name: r.name.clone(),
        operations: r.operations.clone(),
        names: r.names.clone(),
        builtin,
    }
}

fn audit_msg(r: AuditRecord) -> pb::AuditEntry {
    pb::AuditEntry {
        seq: r.seq,
        at_ms: r.at_ms,
        who: r.who,
        operation: r.operation,
        object: r.object,
        peer: r.peer,
        outcome: r.outcome,
        member: r.member,
    }
}

/// `token:<id>`, `cert:<subject>`, or `anonymous` (auth off).
fn current_who() -> String {
    caller::current()
        .and_then(|c| c.principal)
        .map(|p| p.who())
        .unwrap_or_else(|| "anonymous".into())
}

#[tonic::async_trait]
impl AuthApi for AuthService {
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let r = request.into_inner();
        if r.ttl_seconds > MAX_TTL_SECONDS {
            return Err(ApiError::invalid(
                "ttl_seconds",
                format!(
                    "{} is more than ten years; give a shorter --ttl",
                    r.ttl_seconds
                ),
            )
            .into());
        }
        let (id, text) = tokens::generate();
        let now = now_ms();
        let record = TokenRecord {
            id: id.clone(),
            hash: token_hash(&text),
            role: r.role,
            groups: r.groups,
            blueprints: r.blueprints,
            description: r.description,
            created_by: current_who(),
            created_at_ms: now,
            expires_at_ms: match r.ttl_seconds {
                0 => 0,
                s => now.saturating_add(s.saturating_mul(1000)),
            },
            revoked_at_ms: None,
        };
        let object = format!("token {id} (role {})", record.role);
        match self
            .write(AuthCommand::CreateToken { record }, object)
            .await?
        {
            AuthResult::Token(t) => Ok(Response::new(pb::CreateTokenResponse {
                token: text,
                info: Some(token_msg(&t)),
            })),
            other => Err(ApiError::Internal(format!("create token answered {other:?}")).into()),
        }
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let all = request.into_inner().include_revoked;
        read_state(&self.member, false, |s| {
            let now = now_ms();
            let tokens = s
                .auth
                .tokens
                .values()
                .filter(|t| all || (t.revoked_at_ms.is_none() && !t.is_expired(now)))
                .map(token_msg)
                .collect();
            Ok(Response::new(pb::ListTokensResponse { tokens }))
        })
        .await
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::RevokeTokenResponse>, Status> {
        let id = request.into_inner().id;
        let object = format!("token {id}");
        match self
            .write(
                AuthCommand::RevokeToken {
                    id,
                    now_ms: now_ms(),
                },
                object,
            )
            .await?
        {
            AuthResult::Token(t) => Ok(Response::new(pb::RevokeTokenResponse {
                info: Some(token_msg(&t)),
            })),
            other => Err(ApiError::Internal(format!("revoke token answered {other:?}")).into()),
        }
    }

    async fn who_am_i(
        &self,
        _request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = caller::current();
        let Some(identity) = caller.and_then(|c| c.identity) else {
            let operations = moor_domain::auth::operation::Operation::ALL
                .iter()
                .map(|o| o.name().to_string())
                .collect();
            return Ok(Response::new(pb::WhoAmIResponse {
                identity: "anonymous (authentication is off on this member)".into(),
                role: "admin".into(),
                operations,
                ..Default::default()
            }));
        };
        let state = self.member.state.read().expect("state lock poisoned");
        let operations = state
            .auth
            .operations_for(&identity)
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        Ok(Response::new(pb::WhoAmIResponse {
            identity: identity.who.clone(),
            role: identity.role.clone(),
            groups: identity.groups.clone(),
            blueprints: identity.blueprints.clone(),
            operations,
            expires_at_ms: identity.expires_at_ms,
        }))
    }

    async fn put_role(
        &self,
        request: Request<pb::PutRoleRequest>,
    ) -> Result<Response<pb::Role>, Status> {
        let Some(r) = request.into_inner().role else {
            return Err(ApiError::invalid("role", "is missing").into());
        };
        let role = RoleDef {
            name: r.name,
            operations: r.operations,
            names: r.names,
        };
        let object = format!("role {}", role.name);
        match self.write(AuthCommand::PutRole { role }, object).await? {
            AuthResult::Role(r) => Ok(Response::new(role_msg(&r, false))),
            other => Err(ApiError::Internal(format!("put role answered {other:?}")).into()),
        }
    }

    async fn list_roles(
        &self,
        _request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        read_state(&self.member, false, |s| {
            let roles = s
                .auth
                .list_roles()
                .iter()
                .map(|(r, b)| role_msg(r, *b))
                .collect();
            Ok(Response::new(pb::ListRolesResponse { roles }))
        })
        .await
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<pb::DeleteRoleResponse>, Status> {
        let name = request.into_inner().name;
        let object = format!("role {name}");
        self.write(AuthCommand::DeleteRole { name }, object).await?;
        Ok(Response::new(pb::DeleteRoleResponse {}))
    }

    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let r = request.into_inner();
        read_state(&self.member, false, |s| {
            let (records, next) =
                s.auth
                    .audit
                    .list(r.since_ms, &r.who, &r.operation, r.after_seq, r.limit);
            Ok(Response::new(pb::ListAuditResponse {
                entries: records.into_iter().map(audit_msg).collect(),
                next_after_seq: next,
            }))
        })
        .await
    }
}
