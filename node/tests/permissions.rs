//! Every client RPC against every built-in role, over real gRPC with TLS: an RPC the role
//! allows gets past the gate (it may still fail on its empty request), one it does not
//! allow is PERMISSION_DENIED naming the operation, and the denial is in the audit log. The
//! expected table is the domain's (`BuiltinRole::grants`, itself pinned by the domain's
//! role-table test); this test proves each RPC path is gated as that operation.

mod common;

use moor_domain::auth::role::BuiltinRole;
use moor_node::api::auth::methods::METHODS;
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::ClusterStatusRequest;
use moor_proto::auth::auth_api_client::AuthApiClient;
use moor_proto::auth::{CreateTokenRequest, ListAuditRequest};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::Code;

use common::secure::{start_with, with_token};

/// Any request message: empty on the wire (every field at its default).
#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

#[tokio::test]
async fn each_role_against_each_rpc() {
    let m = start_with(|c| c.auth.denied_audit_per_minute = 10_000).await;
    let admin = m.admin_token();
    let ch = m.channel(None).await.unwrap();
    let mut auth = AuthApiClient::new(ch.clone());
    // A denial is written to the audit log only once the cluster's feature level knows the
    // operation's name (cluster.upgrade.finalize is new at level 2): wait until this member,
    // which finalizes by itself, is there, so every denial below is audited.
    let mut api = MoorApiClient::new(ch.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = api
            .cluster_status(with_token(ClusterStatusRequest {}, &admin))
            .await
            .unwrap()
            .into_inner();
        if status.feature_level >= moor_domain::feature::SUPPORTED.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the member did not reach feature level {} by itself: {status:?}",
            moor_domain::feature::SUPPORTED
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await; // poll interval
    }
    let mut report = Vec::new();
    let mut wrong = Vec::new();
    for role in [
        BuiltinRole::Operator,
        BuiltinRole::Deployer,
        BuiltinRole::Viewer,
    ] {
        let (groups, blueprints) = match role {
            BuiltinRole::Deployer => (vec!["edge-*".to_string()], vec!["web".to_string()]),
            _ => (vec![], vec![]),
        };
        let token = auth
            .create_token(with_token(
                CreateTokenRequest {
                    role: role.name().into(),
                    groups,
                    blueprints,
                    ..Default::default()
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner()
            .token;
        for (path, op) in METHODS {
            let mut grpc = tonic::client::Grpc::new(ch.clone());
            grpc.ready().await.unwrap();
            let codec = tonic_prost::ProstCodec::<Empty, Empty>::default();
            let got = grpc
                .unary(
                    with_token(Empty {}, &token),
                    PathAndQuery::from_static(path),
                    codec,
                )
                .await;
            let code = match &got {
                Ok(_) => Code::Ok,
                Err(s) => s.code(),
            };
            let allowed = role.grants(*op);
            let gated_out = matches!(code, Code::PermissionDenied | Code::Unauthenticated);
            report.push(format!("{:<9} {:<24} {:?}", role.name(), op.name(), code));
            // An allowed RPC must get past the gate; a refused one must be refused by it,
            // naming the operation. (An allowed write may still be refused by apply as out
            // of scope: that is PERMISSION_DENIED too, so a deployer's scoped writes are
            // checked in tests/security.rs, not here.)
            if allowed && gated_out && !matches!(role, BuiltinRole::Deployer) {
                wrong.push(format!(
                    "{} {} allowed but got {got:?}",
                    role.name(),
                    op.name()
                ));
            }
            if !allowed {
                let ok = match &got {
                    Err(s) => s.code() == Code::PermissionDenied && s.message().contains(op.name()),
                    Ok(_) => false,
                };
                if !ok {
                    wrong.push(format!(
                        "{} {} must be denied, got {got:?}",
                        role.name(),
                        op.name()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}\n{}", report.join("\n"));

    // Every denial reaches the audit log (written in the background after the answer).
    let expected: usize = [
        BuiltinRole::Operator,
        BuiltinRole::Deployer,
        BuiltinRole::Viewer,
    ]
    .iter()
    .map(|r| METHODS.iter().filter(|(_, op)| !r.grants(*op)).count())
    .sum();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let denied = count_denied(&mut auth, &admin).await;
        if denied >= expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{denied} denials audited, expected at least {expected}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await; // poll interval
    }
}

async fn count_denied(auth: &mut AuthApiClient<tonic::transport::Channel>, admin: &str) -> usize {
    let mut denied = 0;
    let mut after = 0;
    loop {
        let page = auth
            .list_audit(with_token(
                ListAuditRequest {
                    after_seq: after,
                    limit: 1000,
                    ..Default::default()
                },
                admin,
            ))
            .await
            .unwrap()
            .into_inner();
        denied += page
            .entries
            .iter()
            .filter(|e| e.outcome.starts_with("denied"))
            .count();
        match page.next_after_seq {
            Some(n) => after = n,
            None => return denied,
        }
    }
}
