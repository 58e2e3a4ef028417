//! Handshakes over loopback: who gets in, who is refused, and rotation without a restart.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use moor_tls::dev::{write_bundle, DevCa};
use moor_tls::incoming::tls_incoming;
use moor_tls::{connector::TlsConnector, ClientAuth, TlsFiles, TlsReloader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower_service::Service;

fn member_files(b: &moor_tls::dev::Bundle, id: u64) -> TlsFiles {
    let (cert, key) = b.member(id);
    TlsFiles {
        cert,
        key,
        ca: b.ca.clone(),
    }
}

/// Serves one byte-echo per connection; returns the address.
async fn echo_server(tls: Arc<TlsReloader>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut incoming = tls_incoming(listener, tls);
    tokio::spawn(async move {
        while let Some(Ok(mut s)) = incoming.next().await {
            tokio::spawn(async move {
                let mut b = [0u8; 1];
                if s.read_exact(&mut b).await.is_ok() {
                    let _ = s.write_all(&b).await;
                    let _ = s.flush().await;
                }
            });
        }
    });
    addr
}

async fn echo(connector: &mut TlsConnector, addr: &str) -> Result<(), String> {
    echo_io(connector, addr).await.map_err(|e| e.to_string())
}

async fn echo_io(connector: &mut TlsConnector, addr: &str) -> Result<(), std::io::Error> {
    let uri: tonic::codegen::http::Uri = format!("http://{addr}").parse().unwrap();
    let io = tokio::time::timeout(Duration::from_secs(5), connector.call(uri))
        .await
        .map_err(|_| std::io::Error::other("timeout"))??;
    let mut s = io.into_inner();
    s.write_all(b"x").await?;
    let mut b = [0u8; 1];
    // A refused client certificate shows up at the first read (TLS 1.3 client auth).
    s.read_exact(&mut b).await?;
    Ok(())
}

#[tokio::test]
async fn members_of_one_ca_talk_and_strangers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ours = write_bundle(&dir.path().join("ours"), &[1, 2], &["127.0.0.1".into()]).unwrap();
    let theirs = write_bundle(&dir.path().join("theirs"), &[2], &["127.0.0.1".into()]).unwrap();

    let server = TlsReloader::new(member_files(&ours, 1), ClientAuth::Required).unwrap();
    let addr = echo_server(server).await;

    let peer = TlsReloader::new(member_files(&ours, 2), ClientAuth::Required).unwrap();
    let mut good = TlsConnector::new(peer.clone(), "member-1.moor").unwrap();
    echo(&mut good, &addr).await.unwrap();

    // The right CA but the wrong name: the server is member 1, not member 3.
    let mut wrong_name = TlsConnector::new(peer, "member-3.moor").unwrap();
    let e = echo(&mut wrong_name, &addr).await.unwrap_err();
    assert!(
        e.contains("NotValidForName") || e.contains("not valid for name"),
        "{e}"
    );

    // A certificate from another CA: refused by the server; and the client does not trust
    // the server either.
    let stranger = TlsReloader::new(member_files(&theirs, 2), ClientAuth::Required).unwrap();
    let mut stranger = TlsConnector::new(stranger, "member-1.moor").unwrap();
    let e = echo(&mut stranger, &addr).await.unwrap_err();
    assert!(e.contains("UnknownIssuer") || e.contains("unknown"), "{e}");
}

#[tokio::test]
async fn an_expired_client_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::new().unwrap();
    let server = ca.member(1, &["127.0.0.1".into()]).unwrap();
    let (cert, key) = server.write(dir.path(), "member-1").unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).unwrap();
    let tls = TlsReloader::new(
        TlsFiles {
            cert,
            key,
            ca: ca_path.clone(),
        },
        ClientAuth::Required,
    )
    .unwrap();
    let addr = echo_server(tls).await;

    let expired = ca.expired_client("old", &["admin"]).unwrap();
    let (cert, key) = expired.write(dir.path(), "old").unwrap();
    let client = TlsReloader::new(
        TlsFiles {
            cert,
            key,
            ca: ca_path,
        },
        ClientAuth::Required,
    )
    .unwrap();
    let mut c = TlsConnector::new(client, "member-1.moor").unwrap();
    let e = echo(&mut c, &addr).await.unwrap_err();
    assert!(e.to_lowercase().contains("expired"), "{e}");
}

#[tokio::test]
async fn rotated_files_are_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let old = write_bundle(&live, &[1, 2], &["127.0.0.1".into()]).unwrap();
    let server = TlsReloader::new(member_files(&old, 1), ClientAuth::Required).unwrap();
    let addr = echo_server(server.clone()).await;

    // A client of the new CA only: refused before the rotation, served after it.
    let new = write_bundle(&dir.path().join("new"), &[1, 2], &["127.0.0.1".into()]).unwrap();
    let client = TlsReloader::new(member_files(&new, 2), ClientAuth::Required).unwrap();
    let mut c = TlsConnector::new(client, "member-1.moor").unwrap();
    assert!(echo(&mut c, &addr).await.is_err());

    // A half-written file: the reload fails and the old certificates keep serving.
    std::fs::write(&old.member(1).0, "-----BEGIN CERTIFICATE-----\ntrunc").unwrap();
    assert!(server.reload_if_changed().is_err());
    let old_client = TlsReloader::new(member_files(&old, 2), ClientAuth::Required).unwrap();
    echo(
        &mut TlsConnector::new(old_client, "member-1.moor").unwrap(),
        &addr,
    )
    .await
    .unwrap();

    for name in ["ca.pem", "member-1.pem", "member-1.key"] {
        std::fs::copy(new.dir.join(name), live.join(name)).unwrap();
    }
    assert!(server.reload_if_changed().unwrap());
    echo(&mut c, &addr).await.unwrap();
}

#[tokio::test]
async fn failures_are_told_apart() {
    use moor_tls::{tls_failure, TlsFailure};
    let dir = tempfile::tempdir().unwrap();
    let ours = write_bundle(&dir.path().join("ours"), &[1, 2], &["127.0.0.1".into()]).unwrap();
    let theirs = write_bundle(&dir.path().join("theirs"), &[2], &["127.0.0.1".into()]).unwrap();
    let server = TlsReloader::new(member_files(&ours, 1), ClientAuth::Required).unwrap();
    let addr = echo_server(server).await;
    let failure = |e: std::io::Error| tls_failure(&e).unwrap_or_else(|| panic!("not TLS: {e}"));

    let peer = TlsReloader::new(member_files(&ours, 2), ClientAuth::Required).unwrap();
    let mut wrong_name = TlsConnector::new(peer, "member-3.moor").unwrap();
    let f = failure(echo_io(&mut wrong_name, &addr).await.unwrap_err());
    assert!(matches!(f, TlsFailure::NameMismatch { .. }), "{f:?}");

    // We do not trust the server's CA: refused by us, before anything is sent.
    let distrust = TlsFiles {
        ca: theirs.ca.clone(),
        ..member_files(&ours, 2)
    };
    let distrust = TlsReloader::new(distrust, ClientAuth::Required).unwrap();
    let mut c = TlsConnector::new(distrust, "member-1.moor").unwrap();
    let f = failure(echo_io(&mut c, &addr).await.unwrap_err());
    assert_eq!(f, TlsFailure::UnknownServerCa);

    // The server does not trust our CA: it refuses our certificate in the handshake.
    let stranger = TlsFiles {
        ca: ours.ca.clone(),
        ..member_files(&theirs, 2)
    };
    let stranger = TlsReloader::new(stranger, ClientAuth::Required).unwrap();
    let mut c = TlsConnector::new(stranger, "member-1.moor").unwrap();
    let f = failure(echo_io(&mut c, &addr).await.unwrap_err());
    assert_eq!(
        f,
        TlsFailure::CertificateRefused {
            alert: "UnknownCA".into()
        }
    );
    assert!(f.in_handshake());
}
