//! The calls of `AuthApi`: tokens, roles, who am I, and the audit log.
//!
//! Creating a token is not idempotent (a retry would mint a second token) and revoking one
//! is a change: both are writes, never retried once sent (the folder's rules), and an
//! unknown outcome names `moorctl auth token list` to see what happened.

use moor_proto::auth::auth_api_client::AuthApiClient;
use moor_proto::auth::*;
use tonic::transport::Channel;

use super::{Call, Client, RpcError};

type Api = AuthApiClient<Channel>;

/// A token to create.
#[derive(Debug, Clone, Default)]
pub struct TokenSpec {
    pub role: String,
    pub groups: Vec<String>,
    pub blueprints: Vec<String>,
    /// 0: never expires.
    pub ttl_seconds: u64,
    pub description: String,
}

/// Which part of the audit log to read.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub since_ms: u64,
    pub who: String,
    pub operation: String,
    pub after_seq: u64,
    pub limit: u32,
}

impl Client {
    /// Creates a token; the answer carries the token, which exists nowhere else.
    pub async fn create_token(&mut self, spec: TokenSpec) -> Result<CreateTokenResponse, RpcError> {
        let msg = CreateTokenRequest {
            role: spec.role,
            groups: spec.groups,
            blueprints: spec.blueprints,
            ttl_seconds: spec.ttl_seconds,
            description: spec.description,
        };
        let how = Call::write("moorctl auth token list");
        self.call(
            how,
            msg,
            |mut c: Api, r| async move { c.create_token(r).await },
        )
        .await
    }

    /// The tokens (with `include_revoked`, revoked ones too); never their secrets.
    pub async fn list_tokens(
        &mut self,
        include_revoked: bool,
    ) -> Result<ListTokensResponse, RpcError> {
        let msg = ListTokensRequest { include_revoked };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_tokens(r).await
        })
        .await
    }

    /// Revokes the token `id`.
    pub async fn revoke_token(&mut self, id: String) -> Result<RevokeTokenResponse, RpcError> {
        let msg = RevokeTokenRequest { id };
        let how = Call::write("moorctl auth token list --all");
        self.call(
            how,
            msg,
            |mut c: Api, r| async move { c.revoke_token(r).await },
        )
        .await
    }

    /// The identity these credentials are, and what it may do.
    pub async fn whoami(&mut self) -> Result<WhoAmIResponse, RpcError> {
        let msg = WhoAmIRequest {};
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.who_am_i(r).await
        })
        .await
    }

    /// Creates or replaces a custom role.
    pub async fn put_role(&mut self, role: Role) -> Result<Role, RpcError> {
        let msg = PutRoleRequest { role: Some(role) };
        let how = Call::write("moorctl auth role list");
        self.call(how, msg, |mut c: Api, r| async move { c.put_role(r).await })
            .await
    }

    /// Every role, built-in ones included.
    pub async fn list_roles(&mut self) -> Result<ListRolesResponse, RpcError> {
        let msg = ListRolesRequest {};
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_roles(r).await
        })
        .await
    }

    /// Deletes a custom role.
    pub async fn delete_role(&mut self, name: String) -> Result<DeleteRoleResponse, RpcError> {
        let msg = DeleteRoleRequest { name };
        let how = Call::write("moorctl auth role list");
        self.call(
            how,
            msg,
            |mut c: Api, r| async move { c.delete_role(r).await },
        )
        .await
    }

    /// One page of the audit log.
    pub async fn list_audit(&mut self, page: AuditPage) -> Result<ListAuditResponse, RpcError> {
        let msg = ListAuditRequest {
            since_ms: page.since_ms,
            who: page.who,
            operation: page.operation,
            after_seq: page.after_seq,
            limit: page.limit,
        };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_audit(r).await
        })
        .await
    }
}
