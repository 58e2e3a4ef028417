//! The fake member's `AuthApi`: fixed tokens and roles, and an audit log of
//! [`FAKE_AUDIT_ENTRIES`] entries paged like a member pages it.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use moor_proto::auth::auth_api_server::AuthApi;
use moor_proto::auth::*;
use tonic::{Request, Response, Status};

use super::{answer, Mode};

/// The token a fake member's `CreateToken` returns.
pub const FAKE_TOKEN: &str = "mt_t7.fake-created-secret";

/// How many entries a fake member's audit log holds (seq 1 to this).
pub const FAKE_AUDIT_ENTRIES: u64 = 250;

pub(super) struct FakeAuth {
    mode: Mode,
    calls: Arc<AtomicUsize>,
}

impl FakeAuth {
    pub(super) fn new(mode: Mode, calls: Arc<AtomicUsize>) -> FakeAuth {
        FakeAuth { mode, calls }
    }
}

fn info(id: &str, role: &str) -> TokenInfo {
    TokenInfo {
        id: id.into(),
        role: role.into(),
        created_by: "token:admin0".into(),
        created_at_ms: 1_700_000_000_000,
        ..Default::default()
    }
}

#[tonic::async_trait]
impl AuthApi for FakeAuth {
    async fn create_token(
        &self,
        r: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        let r = r.into_inner();
        answer(self.mode, &self.calls, || CreateTokenResponse {
            token: FAKE_TOKEN.into(),
            info: Some(TokenInfo {
                groups: r.groups,
                blueprints: r.blueprints,
                description: r.description,
                expires_at_ms: if r.ttl_seconds == 0 {
                    0
                } else {
                    1_700_000_000_000 + r.ttl_seconds * 1000
                },
                ..info("t7", &r.role)
            }),
        })
        .await
    }
    async fn list_tokens(
        &self,
        r: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensResponse>, Status> {
        let all = r.into_inner().include_revoked;
        answer(self.mode, &self.calls, || {
            let mut tokens = vec![info("admin0", "admin"), info("t7", "viewer")];
            if all {
                tokens.push(TokenInfo {
                    revoked: true,
                    revoked_at_ms: 1_700_000_100_000,
                    ..info("t3", "deployer")
                });
            }
            ListTokensResponse { tokens }
        })
        .await
    }
    async fn revoke_token(
        &self,
        r: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenResponse>, Status> {
        let id = r.into_inner().id;
        answer(self.mode, &self.calls, || RevokeTokenResponse {
            info: Some(TokenInfo {
                revoked: true,
                revoked_at_ms: 1_700_000_100_000,
                ..info(&id, "viewer")
            }),
        })
        .await
    }
    async fn who_am_i(
        &self,
        _: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIResponse>, Status> {
        answer(self.mode, &self.calls, || WhoAmIResponse {
            identity: "token:t7".into(),
            role: "viewer".into(),
            operations: vec!["kv.get".into(), "kv.list".into()],
            ..Default::default()
        })
        .await
    }
    async fn put_role(&self, r: Request<PutRoleRequest>) -> Result<Response<Role>, Status> {
        let role = r.into_inner().role.unwrap_or_default();
        answer(self.mode, &self.calls, || role).await
    }
    async fn list_roles(
        &self,
        _: Request<ListRolesRequest>,
    ) -> Result<Response<ListRolesResponse>, Status> {
        answer(self.mode, &self.calls, || ListRolesResponse {
            roles: vec![Role {
                name: "admin".into(),
                operations: vec!["*".into()],
                names: vec![],
                builtin: true,
            }],
        })
        .await
    }
    async fn delete_role(
        &self,
        _: Request<DeleteRoleRequest>,
    ) -> Result<Response<DeleteRoleResponse>, Status> {
        answer(self.mode, &self.calls, DeleteRoleResponse::default).await
    }
    /// Pages through seq 1..=[`FAKE_AUDIT_ENTRIES`] like a member: after `after_seq`, at most
    /// `limit` (0: 100).
    async fn list_audit(
        &self,
        r: Request<ListAuditRequest>,
    ) -> Result<Response<ListAuditResponse>, Status> {
        let r = r.into_inner();
        let limit = if r.limit == 0 {
            100
        } else {
            u64::from(r.limit)
        };
        answer(self.mode, &self.calls, || {
            let last = (r.after_seq + limit).min(FAKE_AUDIT_ENTRIES);
            let entries = (r.after_seq + 1..=last)
                .map(|seq| AuditEntry {
                    seq,
                    at_ms: 1_700_000_000_000 + seq,
                    who: "token:admin0".into(),
                    operation: "kv.put".into(),
                    object: format!("app/{seq}"),
                    peer: "127.0.0.1:5000".into(),
                    outcome: "ok".into(),
                    member: 1,
                })
                .collect();
            ListAuditResponse {
                entries,
                next_after_seq: (last < FAKE_AUDIT_ENTRIES).then_some(last),
            }
        })
        .await
    }
}
