//! Certificate rotation without a restart: a writer keeps writing (on a long-lived
//! connection, and on new connections, each a new handshake) while the member's certificate
//! files are replaced; the member starts presenting the new certificate and no write fails.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::PutRequest;
use moor_tls::dev::{write_private, DevCa};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use common::secure::{start_with, with_token};

async fn channel(addr: &str, ca_pem: &str, server_name: Option<&str>) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
    if let Some(n) = server_name {
        tls = tls.domain_name(n);
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn certificates_rotate_while_a_writer_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::new().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).unwrap();
    let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let v1 = ca.member(1, &hosts).unwrap();
    let (cert, key) = v1.write(dir.path(), "live").unwrap();
    let (c, k, a) = (cert.clone(), key.clone(), ca_path.clone());
    let m = start_with(move |config| {
        config.tls.cert = Some(c);
        config.tls.key = Some(k);
        config.tls.ca = Some(a);
        config.tls.reload_interval_ms = 100;
    })
    .await;
    let admin = m.admin_token();
    let ca_pem = ca.cert_pem();

    // Before the rotation the member has no certificate for "rotated.test".
    assert!(channel(&m.client_addr, &ca_pem, Some("rotated.test"))
        .await
        .is_err());

    let stop = Arc::new(AtomicBool::new(false));
    let (writes, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let writer = {
        let (stop, writes, failures) = (stop.clone(), writes.clone(), failures.clone());
        let (addr, ca_pem, admin) = (m.client_addr.clone(), ca_pem.clone(), admin.clone());
        tokio::spawn(async move {
            let long_lived = MoorApiClient::new(channel(&addr, &ca_pem, None).await.unwrap());
            let (mut n, mut since_new) = (0u64, 0u32);
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                since_new += 1;
                // Every fifth write on a new connection: a handshake during the rotation.
                let mut client = if since_new == 5 {
                    since_new = 0;
                    match channel(&addr, &ca_pem, None).await {
                        Ok(ch) => MoorApiClient::new(ch),
                        Err(e) => {
                            eprintln!("connect failed: {e}");
                            failures.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                } else {
                    long_lived.clone()
                };
                let put = PutRequest {
                    key: format!("k{}", n % 50),
                    value: n.to_be_bytes().to_vec(),
                };
                match client.put(with_token(put, &admin)).await {
                    Ok(_) => writes.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("write failed: {e:?}");
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        })
    };

    // Wait for some writes, then rotate: a new certificate (same CA) that also names
    // "rotated.test", each file replaced atomically.
    while writes.load(Ordering::Relaxed) < 20 {
        tokio::task::yield_now().await;
    }
    let mut names = hosts.clone();
    names.push("rotated.test".into());
    let v2 = ca.member(1, &names).unwrap();
    write_private(&key, v2.key_pem.as_bytes()).unwrap();
    write_private(&cert, v2.cert_pem.as_bytes()).unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if channel(&m.client_addr, &ca_pem, Some("rotated.test"))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the member never presented the new certificate"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // poll interval
    }
    let at_rotation = writes.load(Ordering::Relaxed);
    while writes.load(Ordering::Relaxed) < at_rotation + 20 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "writes failed during the rotation"
    );
    assert!(writes.load(Ordering::Relaxed) >= 40);
}
