//! A member with TLS on both listeners and authentication on, started in-process: who gets
//! in, who is refused and why, and what the audit log shows. Each refusal must change
//! nothing.

mod common;

use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{GetRequest, PutRequest};
use moor_proto::auth::auth_api_client::AuthApiClient;
use moor_proto::auth::{CreateTokenRequest, ListAuditRequest, RevokeTokenRequest, WhoAmIRequest};
use moor_proto::raft::raft_peer_client::RaftPeerClient;
use moor_proto::raft::RaftPayload;
use moor_tls::dev::{write_bundle, DevCa};
use tonic::Code;

use common::secure::{start, with_token};

fn put(key: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: b"v".to_vec(),
    }
}

#[tokio::test]
async fn tokens_roles_revocation_and_audit() {
    let m = start().await;
    let admin = m.admin_token();
    let ch = m.channel(None).await.unwrap();
    let mut kv = MoorApiClient::new(ch.clone());
    let mut auth = AuthApiClient::new(ch);

    // No credential: refused, saying what to send; nothing written.
    let e = kv.put(put("k")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("credential"), "{}", e.message());
    // A made-up token: refused.
    let e = kv
        .put(with_token(
            put("k"),
            "moor_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

    // Health needs no credential (probes, bootstrap), and shows no secret.
    let status = kv
        .cluster_status(moor_proto::api::ClusterStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.id, 1);
    // `cluster init` without a credential on a member that has a cluster: the answer
    // `cluster bootstrap` reads as "formed" (a refusal there would make it drop the admin
    // token another member returned), and nothing changes.
    let e = kv
        .cluster_init(moor_proto::api::ClusterInitRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains("already initialised"),
        "{}",
        e.message()
    );

    // The bootstrap admin token works.
    kv.put(with_token(put("k"), &admin)).await.unwrap();
    let me = auth
        .who_am_i(with_token(WhoAmIRequest {}, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.role, "admin");

    // A viewer reads but may not write: denied with the permission named, and audited.
    let viewer = auth
        .create_token(with_token(
            CreateTokenRequest {
                role: "viewer".into(),
                description: "test viewer".into(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let e = kv
        .put(with_token(put("k2"), &viewer.token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("var.put"), "{}", e.message());
    let got = kv
        .get(with_token(
            GetRequest {
                key: "k2".into(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(got.kv.is_none(), "a denied write changed nothing: {got:?}");
    kv.get(with_token(
        GetRequest {
            key: "k".into(),
            ..Default::default()
        },
        &viewer.token,
    ))
    .await
    .unwrap();
    let e = auth
        .list_audit(with_token(ListAuditRequest::default(), &viewer.token))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // An operator writes until revoked; then every request fails.
    let op = auth
        .create_token(with_token(
            CreateTokenRequest {
                role: "operator".into(),
                ttl_seconds: 3600,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    kv.put(with_token(put("k3"), &op.token)).await.unwrap();
    let op_id = op.info.unwrap().id;
    auth.revoke_token(with_token(RevokeTokenRequest { id: op_id.clone() }, &admin))
        .await
        .unwrap();
    let e = kv.put(with_token(put("k4"), &op.token)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("revoked"), "{}", e.message());

    // The audit log: the admin's write, the viewer's denial, the operator's write.
    let entries = auth
        .list_audit(with_token(ListAuditRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let line = |e: &moor_proto::auth::AuditEntry| {
        format!("{} {} {} {}", e.who, e.operation, e.object, e.outcome)
    };
    let lines: Vec<String> = entries.iter().map(line).collect();
    let viewer_id = viewer.info.unwrap().id;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("token:{viewer_id} var.put")) && l.contains("denied")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("token:{op_id} var.put var k3 ok"))),
        "{lines:#?}"
    );
    assert!(entries.iter().all(|e| !e.peer.is_empty() && e.at_ms > 0));
    // No secret anywhere in the trail.
    assert!(lines
        .iter()
        .all(|l| !l.contains(&admin) && !l.contains(&op.token)));
}

#[tokio::test]
async fn certificates_refused_for_the_right_reason() {
    let m = start().await;

    // The admin client certificate (CN admin, O admin) authenticates by itself.
    let ch = m.channel(Some(m.bundle.admin())).await.unwrap();
    MoorApiClient::new(ch.clone()).put(put("c")).await.unwrap();
    let me = AuthApiClient::new(ch)
        .who_am_i(WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (me.identity.as_str(), me.role.as_str()),
        ("cert:admin", "admin")
    );

    // A certificate of another CA, and an expired one of ours: no connection.
    let dir = tempfile::tempdir().unwrap();
    let other = write_bundle(&dir.path().join("other"), &[1], &["127.0.0.1".into()]).unwrap();
    let ch = m.channel(Some(other.admin())).await;
    let refused = match ch {
        Err(e) => e,
        Ok(ch) => format!(
            "{:?}",
            MoorApiClient::new(ch).put(put("x")).await.unwrap_err()
        ),
    };
    assert!(
        refused.to_lowercase().contains("cert")
            || refused.contains("handshake")
            || refused.contains("transport"),
        "{refused}"
    );

    let ca = DevCa::new().unwrap();
    let expired = ca.expired_client("old", &["admin"]).unwrap();
    let (c, k) = expired.write(dir.path(), "old").unwrap();
    let ch = m.channel(Some((c, k))).await;
    assert!(match ch {
        Err(_) => true,
        Ok(ch) => MoorApiClient::new(ch).put(put("y")).await.is_err(),
    });

    // The peer listener: a member certificate of the right CA, but member 9 is not in the
    // membership; refused before anything is decoded.
    let (c, k) = m.bundle.member(9);
    let tls = moor_tls::TlsReloader::new(
        moor_tls::TlsFiles {
            cert: c,
            key: k,
            ca: m.bundle.ca.clone(),
        },
        moor_tls::ClientAuth::Required,
    )
    .unwrap();
    let connector = moor_tls::connector::TlsConnector::new(tls, "member-1.moor").unwrap();
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", m.peer_addr))
        .unwrap()
        .connect_with_connector(connector)
        .await
        .unwrap();
    let e = RaftPeerClient::new(ch.clone())
        .vote(RaftPayload {
            data: vec![1, 2, 3],
            cluster_id: String::new(),
            feature_level: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("member 9"), "{}", e.message());
    // Nor may it hand writes to the leader, one or several at once: refused undecoded.
    for batch in [false, true] {
        let mut peer = RaftPeerClient::new(ch.clone());
        let payload = RaftPayload {
            data: vec![1, 2, 3],
            cluster_id: String::new(),
            feature_level: 0,
        };
        let e = if batch {
            peer.forward_writes(payload).await
        } else {
            peer.forward(payload).await
        }
        .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    }
    // Entries from member 9 as a leader of a term older than the member's: refused too
    // (a lagging member takes entries from an unknown leader only of its term or newer).
    let stale = openraft::raft::AppendEntriesRequest::<moor_node::raft::types::TypeConfig> {
        vote: openraft::Vote::new_committed(0, 9),
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    };
    let e = RaftPeerClient::new(ch)
        .append_entries(RaftPayload {
            data: moor_domain::codec::encode("raft request", &stale).unwrap(),
            cluster_id: String::new(),
            feature_level: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("member 9"), "{}", e.message());
}
