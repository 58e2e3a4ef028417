//! The client's security against fake members: the bearer header on the wire, access
//! control answers that are final, and TLS handshakes that fail for a reason moorctl names.

use std::time::Duration;

use tonic::Code;

use super::*;
use crate::fake::tls::{write, TestPki};
use crate::fake::{count, serve, Mode};

const SECRET: &str = "mt_t1.very-secret-value";

fn with_token(transport: Transport) -> Security {
    Security {
        transport,
        token: Some(Token::new(SECRET).unwrap()),
    }
}

fn tls(pki: &TestPki, dir: &std::path::Path, client_cert: bool, name: Option<&str>) -> Transport {
    let ca = write(dir, "ca.pem", &pki.ca);
    let identity = client_cert.then(|| {
        let cert = write(dir, "client.pem", &pki.client_cert);
        (
            cert,
            pki.client_cert.clone().into_bytes(),
            pki.client_key.clone().into_bytes(),
        )
    });
    let tls = Tls::new(ca, pki.ca.as_bytes(), identity, name.map(String::from)).unwrap();
    Transport::Tls(Box::new(tls))
}

fn client(addr: &str, security: Security) -> Client {
    Client::new(&[addr.to_string()], Duration::from_secs(5), security)
}

#[tokio::test]
async fn every_request_carries_the_bearer_token() {
    let m = serve(Mode::Ok, None).await;
    let mut c = client(&m.addr, with_token(Transport::Plaintext));
    c.put("k".into(), b"v".to_vec()).await.unwrap();
    c.whoami().await.unwrap();
    let seen = m.seen.lock().unwrap().clone();
    let bearer = Some(format!("Bearer {SECRET}"));
    assert_eq!(seen, vec![bearer.clone(), bearer]);

    let m = serve(Mode::Ok, None).await;
    let mut c = client(&m.addr, Security::plaintext());
    c.whoami().await.unwrap();
    assert_eq!(m.seen.lock().unwrap().clone(), vec![None]);
}

#[tokio::test]
async fn access_control_answers_are_final() {
    for mode in [Mode::Unauthenticated, Mode::PermissionDenied] {
        let refusing = serve(mode, None).await;
        let ok = serve(Mode::Ok, None).await;
        let endpoints = [refusing.addr.clone(), ok.addr.clone()];
        let mut c = Client::new(&endpoints, Duration::from_secs(5), Security::plaintext());
        // A write and a read: neither goes to the next member.
        let err = c.put("k".into(), b"v".to_vec()).await.unwrap_err();
        let expected = match mode {
            Mode::Unauthenticated => Code::Unauthenticated,
            _ => Code::PermissionDenied,
        };
        assert_eq!(err.code(), Some(expected), "{err}");
        let err = c.whoami().await.unwrap_err();
        assert_eq!(err.code(), Some(expected), "{err}");
        assert_eq!((count(&refusing.calls), count(&ok.calls)), (2, 0));
    }
}

#[tokio::test]
async fn tls_with_the_right_ca_carries_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("moor test CA");
    let m = serve(Mode::Ok, Some(pki.server(false))).await;
    let mut c = client(&m.addr, with_token(tls(&pki, dir.path(), false, None)));
    c.put("k".into(), b"v".to_vec()).await.unwrap();
    assert_eq!(
        m.seen.lock().unwrap().clone(),
        vec![Some(format!("Bearer {SECRET}"))]
    );
    // A client certificate, when the member asks for one.
    let m = serve(Mode::Ok, Some(pki.server(true))).await;
    let mut c = client(
        &m.addr,
        Security {
            transport: tls(&pki, dir.path(), true, None),
            token: None,
        },
    );
    c.whoami().await.unwrap();
}

/// The error of a call to `addr` with `transport`.
async fn failure(addr: &str, transport: Transport) -> String {
    let mut c = client(addr, with_token(transport));
    let err = c.whoami().await.unwrap_err();
    assert!(matches!(err, RpcError::Unavailable { .. }), "{err}");
    let text = err.to_string();
    assert!(!text.contains("very-secret"), "{text}");
    text
}

#[tokio::test]
async fn failed_handshakes_name_the_cause_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::new("moor test CA");
    let other = TestPki::new("another CA");
    let m = serve(Mode::Ok, Some(pki.server(false))).await;

    let text = failure(&m.addr, tls(&other, dir.path(), false, None)).await;
    assert!(text.contains("not signed by the CA in"), "{text}");
    assert!(text.contains("--ca-file"), "{text}");

    let text = failure(&m.addr, tls(&pki, dir.path(), false, Some("other.example"))).await;
    assert!(
        text.contains("not issued for the name \"other.example\""),
        "{text}"
    );
    assert!(text.contains("--tls-server-name"), "{text}");

    let plain = serve(Mode::Ok, None).await;
    let text = failure(&plain.addr, tls(&pki, dir.path(), false, None)).await;
    assert!(text.contains("did not answer in TLS"), "{text}");
    assert!(text.contains("--insecure-plaintext"), "{text}");
    assert_eq!(count(&plain.calls), 0);

    let mtls = serve(Mode::Ok, Some(pki.server(true))).await;
    let text = failure(&mtls.addr, tls(&pki, dir.path(), false, None)).await;
    assert!(text.contains("--cert-file"), "{text}");
    // With TLS 1.3 the refusal comes with the first request, yet it is a refused
    // handshake: a write was not applied, its outcome is known.
    let mut c = client(&mtls.addr, with_token(tls(&pki, dir.path(), false, None)));
    let err = c.put("k".into(), b"v".to_vec()).await.unwrap_err();
    assert!(matches!(err, RpcError::Unavailable { .. }), "{err}");
    assert_eq!(count(&mtls.calls), 0);
}

#[tokio::test]
async fn plaintext_to_a_tls_member_says_so() {
    let pki = TestPki::new("moor test CA");
    let m = serve(Mode::Ok, Some(pki.server(false))).await;
    let text = failure(&m.addr, Transport::Plaintext).await;
    assert!(text.contains("--insecure-plaintext"), "{text}");
}
