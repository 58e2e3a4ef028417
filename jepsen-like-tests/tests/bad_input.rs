//! Bad input of every kind gets a clear error and changes nothing: config files, flags,
//! oversized and malformed requests, impossible membership changes.

use moor_jepsen_like_tests::harness::{bin_dir, Cluster, MemberSettings};
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{
    AddMemberRequest, ClusterInitRequest, GetRequest, PromoteMemberRequest, PutRequest,
    ReadConsistency, RemoveMemberRequest,
};
use moor_proto::raft::raft_peer_client::RaftPeerClient;
use moor_proto::raft::RaftPayload;
use moor_tls::dev::Bundle;
use std::process::Command;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::Code;

fn moord(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin_dir().join("moord"))
        .args(args)
        .output()
        .expect("run moord");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_config_key_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moord.toml");
    std::fs::write(&path, "id = 1\n[raft]\nheartbeat_ms = 50\n").unwrap();
    let (ok, err) = moord(&["--config", path.to_str().unwrap(), "--check-config"]);
    assert!(!ok);
    assert!(err.contains("heartbeat_ms"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn bad_values_are_named_in_the_error() {
    let (ok, err) = moord(&["--advertise-addr", "10.1.2.3", "--check-config"]);
    assert!(!ok);
    assert!(
        err.contains("advertise_addr") && err.contains("10.1.2.3"),
        "{err}"
    );

    let (ok, err) = moord(&["--id", "0", "--check-config"]);
    assert!(!ok);
    assert!(err.contains("id"), "{err}");

    let (ok, err) = moord(&["--listen-addr", "nonsense", "--check-config"]);
    assert!(!ok);
    assert!(err.contains("nonsense"), "{err}");

    // Without certificates a member refuses to start, and says what to do.
    let (ok, err) = moord(&["--id", "7", "--check-config"]);
    assert!(!ok);
    assert!(
        err.contains("tls.cert") && err.contains("--insecure-plaintext"),
        "{err}"
    );

    let (ok, out) = moord(&["--id", "7", "--insecure-plaintext", "--check-config"]);
    assert!(ok, "{out}");
}

/// A TLS channel to `addr` checking the server's certificate names `server_name`,
/// presenting `identity` (certificate, key) if any.
async fn tls_channel(
    bundle: &Bundle,
    addr: &str,
    server_name: &str,
    identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> Channel {
    let ca = std::fs::read(&bundle.ca).unwrap();
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name(server_name);
    if let Some((c, k)) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(c).unwrap(),
            std::fs::read(k).unwrap(),
        ));
    }
    tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_change_nothing() {
    let cluster = Cluster::start(3, MemberSettings::default()).await.unwrap();
    let mut c = cluster.client(2);
    let before = cluster.status(1).await.unwrap();

    // Oversized value (over limits.max_value_bytes, under the request cap).
    let err = c
        .put(PutRequest {
            key: "big".into(),
            value: vec![7u8; (1 << 20) + 1],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("limits.max_value_bytes"), "{err}");

    // Over the request size cap: refused by the transport before any handler runs.
    let err = c
        .put(PutRequest {
            key: "huge".into(),
            value: vec![7u8; 5 << 20],
        })
        .await
        .unwrap_err();
    assert_ne!(err.code(), Code::Ok);

    let err = c
        .put(PutRequest {
            key: String::new(),
            value: b"v".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let err = c
        .get(GetRequest {
            key: "big".into(),
            consistency: 42,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Membership: bad address, unknown learner, unknown member, second init.
    let err = c
        .add_member(AddMemberRequest {
            id: 9,
            addr: "not-an-address".into(),
            wait_caught_up: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    let err = c
        .promote_member(PromoteMemberRequest { id: 9 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    assert!(err.message().contains("cluster add"), "{err}");
    let err = c
        .remove_member(RemoveMemberRequest { id: 9 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err}");
    let err = c
        .cluster_init(ClusterInitRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");

    // Authentication is on: a TLS client without a credential is refused.
    let bundle = cluster
        .security()
        .bundle()
        .expect("harness clusters run TLS")
        .clone();
    let anonymous = tls_channel(&bundle, cluster.addr(2), "127.0.0.1", None).await;
    let err = MoorApiClient::new(anonymous)
        .put(PutRequest {
            key: "anonymous".into(),
            value: b"v".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");

    // Garbage on the peer service (its own port, mutual TLS: a member's certificate).
    let channel = tls_channel(
        &bundle,
        cluster.peer_addr(1),
        "member-1.moor",
        Some(bundle.member(2)),
    )
    .await;
    let mut peer = RaftPeerClient::new(channel);
    for data in [vec![], vec![1u8, 0xc1, 0xff], vec![99u8, 1, 2]] {
        for call in ["forward", "forward_writes", "append_entries"] {
            let payload = RaftPayload {
                data: data.clone(),
                cluster_id: String::new(),
                feature_level: 0,
            };
            let err = match call {
                "forward" => peer.forward(payload).await,
                "forward_writes" => peer.forward_writes(payload).await,
                _ => peer.append_entries(payload).await,
            }
            .unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{call} {data:?}: {err}");
        }
    }

    // Nothing changed: no key written, same members, same term, the cluster still serves.
    for key in ["big", "huge", "anonymous"] {
        let r = c
            .get(GetRequest {
                key: key.into(),
                consistency: ReadConsistency::Linearizable as i32,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(r.kv.is_none(), "{key} was written");
    }
    let after = cluster.status(1).await.unwrap();
    let ids = |s: &moor_proto::api::ClusterStatusResponse| {
        s.members
            .iter()
            .map(|m| (m.id, m.addr.clone(), m.voter))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&before), ids(&after));
    assert_eq!(
        before.last_log_index, after.last_log_index,
        "a rejected request wrote a log entry"
    );
    assert_eq!(before.term, after.term);
    c.put(PutRequest {
        key: "ok".into(),
        value: b"v".to_vec(),
    })
    .await
    .unwrap();
}
