//! `moor-sitesim` over TLS (security issue §6): whoever can call a site can send any fence
//! token, so over TLS a site answers `SiteAgent` calls from member certificates only. The
//! attack (a certificate of the right CA that is not a member's, fence token 2^63), clients
//! that cannot even finish the handshake, the real member still served afterwards, nothing of
//! the refused calls in the journal; certificates rotated without a restart; the binary's
//! TLS flags.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moor_proto::site::site_agent_client::SiteAgentClient;
use moor_proto::site::site_sim_admin_client::SiteSimAdminClient;
use moor_proto::site::{
    ApplyRequest, ApplyResponse, DeleteRequest, IdempotencyKey, ObserveRequest, Outcome,
    ResourceRef, SiteSimStatsRequest,
};
use moor_site::journal::read_journal;
use moor_site::{JournalOp, RunningSim, SimConfig};
use moor_tls::connector::TlsConnector;
use moor_tls::dev::{write_bundle, Bundle};
use moor_tls::{tls_failure, ClientAuth, TlsFailure, TlsFiles, TlsReloader};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

type Agent = SiteAgentClient<Channel>;

/// A bound on every call a test makes, so a bug shows as a failure, not a hung test.
const TEST_CALL_BOUND: Duration = Duration::from_secs(20);

/// A CA with member 1, the admin client and a site certificate for 127.0.0.1.
fn bundle(dir: &Path) -> Bundle {
    write_bundle(dir, &[1], &["127.0.0.1".into()]).expect("dev certificates")
}

fn files((cert, key): (PathBuf, PathBuf), ca: &Path) -> TlsFiles {
    TlsFiles {
        cert,
        key,
        ca: ca.to_path_buf(),
    }
}

/// A sitesim serving TLS with `b`'s site certificate, its CA, and a journal at `journal`.
async fn tls_sim(b: &Bundle, journal: &Path) -> RunningSim {
    RunningSim::start(SimConfig {
        tls: Some(files(b.site(), &b.ca)),
        journal: Some(journal.to_path_buf()),
        ..SimConfig::default()
    })
    .await
    .expect("sitesim over TLS")
}

/// A channel that dials `addr` over TLS with `client` (its certificate is the client
/// certificate, its CA the roots), checking the server's certificate names 127.0.0.1: what a
/// member's driver does.
fn tls_channel(addr: SocketAddr, client: TlsFiles) -> Channel {
    let tls = TlsReloader::new(client, ClientAuth::Required).expect("client TLS files");
    let connector = TlsConnector::new(tls, "127.0.0.1").expect("server name");
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_with_connector_lazy(connector)
}

fn agent(addr: SocketAddr, client: TlsFiles) -> Agent {
    SiteAgentClient::new(tls_channel(addr, client))
}

fn target(resource: &str) -> Option<ResourceRef> {
    Some(ResourceRef {
        site: "s1".into(),
        environment: "shop".into(),
        resource: resource.into(),
        resource_type: "sim.resource".into(),
    })
}

fn apply_req(exec: &str, token: u64) -> ApplyRequest {
    ApplyRequest {
        target: target("web"),
        key: Some(IdempotencyKey {
            execution_id: exec.into(),
            step: 1,
        }),
        attempt: 1,
        fence_token: token,
        properties_json: r#"{"replicas":3}"#.into(),
        desired_digest: format!("digest-{exec}"),
    }
}

async fn apply(agent: &mut Agent, req: ApplyRequest) -> Result<ApplyResponse, Status> {
    tokio::time::timeout(TEST_CALL_BOUND, agent.apply(req))
        .await
        .expect("apply answered in time")
        .map(|r| r.into_inner())
}

/// The TLS failure behind a refused call; panics when the call failed for another reason.
fn handshake_failure(status: &Status) -> TlsFailure {
    let failure = tls_failure(status).unwrap_or_else(|| panic!("not a TLS failure: {status:?}"));
    assert!(failure.in_handshake(), "{failure:?}");
    failure
}

#[tokio::test]
async fn only_member_certificates_can_call_a_site_and_an_attacker_cannot_fence_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = bundle(&dir.path().join("ours"));
    let theirs = bundle(&dir.path().join("theirs"));
    let journal = dir.path().join("journal.jsonl");
    let sim = tls_sim(&ours, &journal).await;
    let addr = sim.addr();

    // THE attack: a certificate of the site's own CA that is not a member's (the admin's: CN
    // admin, no member-<id>.moor name) sends the highest fence token there is.
    let mut attacker = agent(addr, files(ours.admin(), &ours.ca));
    let status = apply(&mut attacker, apply_req("attack", 1 << 63))
        .await
        .expect_err("a non-member is refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().starts_with(
            "only Moor members (certificate DNS name member-<id>.moor) may call a site"
        ),
        "{status:?}"
    );
    assert!(status.message().contains("CN admin"), "{status:?}");
    // Every SiteAgent call, not only Apply.
    let delete = DeleteRequest {
        target: target("web"),
        key: Some(IdempotencyKey {
            execution_id: "attack".into(),
            step: 2,
        }),
        attempt: 1,
        fence_token: u64::MAX,
    };
    let status = attacker.delete(delete).await.expect_err("delete refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let observe = ObserveRequest { target: target("") };
    let status = attacker
        .observe(observe)
        .await
        .expect_err("observe refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // No certificate at all: the handshake fails (certificate required).
    let ca_pem = std::fs::read_to_string(&ours.ca).expect("CA file");
    let anonymous = Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&ca_pem))
                .domain_name("127.0.0.1"),
        )
        .expect("client TLS config")
        .connect_lazy();
    let status = apply(
        &mut SiteAgentClient::new(anonymous),
        apply_req("anon", 1 << 63),
    )
    .await
    .expect_err("no certificate, no call");
    assert_eq!(
        handshake_failure(&status),
        TlsFailure::CertificateRefused {
            alert: "CertificateRequired".into()
        }
    );

    // A member certificate of another CA (it trusts ours, so only the site can refuse it):
    // refused in the handshake, the member name on it counts for nothing.
    let mut stranger = agent(addr, files(theirs.member(1), &ours.ca));
    let status = apply(&mut stranger, apply_req("stranger", 1 << 63))
        .await
        .expect_err("another CA, no call");
    assert_eq!(
        handshake_failure(&status),
        TlsFailure::CertificateRefused {
            alert: "UnknownCA".into()
        }
    );

    // Plaintext to a TLS site: not served either.
    let plain = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_lazy();
    apply(
        &mut SiteAgentClient::new(plain),
        apply_req("plain", 1 << 63),
    )
    .await
    .expect_err("no TLS, no call");

    // The real member, with an ordinary term as its token: applied, so nobody fenced the site.
    let mut member = agent(addr, files(ours.member(1), &ours.ca));
    let r = apply(&mut member, apply_req("real", 5))
        .await
        .expect("a member is served");
    assert_eq!(Outcome::try_from(r.outcome), Ok(Outcome::Applied), "{r:?}");
    assert_eq!(r.highest_token, 5);

    // SiteSimAdmin is served to any certificate of the CA (test control, not the protocol).
    let mut admin = SiteSimAdminClient::new(tls_channel(addr, files(ours.admin(), &ours.ca)));
    let stats = admin
        .stats(SiteSimStatsRequest {})
        .await
        .expect("admin stats over TLS")
        .into_inner();
    assert_eq!((stats.applied, stats.fenced, stats.sites), (1, 0, 1));

    // The journal holds the member's call and nothing of the refused ones.
    sim.sim().flush_journal().await.expect("flush");
    let lines = read_journal(&journal).expect("journal").lines;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let record = &lines[0].record;
    assert_eq!(record.execution_id, "real");
    assert_eq!(record.fence_token, 5);
    assert_eq!(record.op, JournalOp::Apply);
    sim.stop().await.expect("clean stop");
}

#[tokio::test]
async fn rotated_certificates_are_served_after_a_reload_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = dir.path().join("live");
    let old = bundle(&live);
    let new = bundle(&dir.path().join("new"));
    let sim = tls_sim(&old, &dir.path().join("journal.jsonl")).await;
    let addr = sim.addr();

    let mut old_member = agent(addr, files(old.member(1), &old.ca));
    let r = apply(&mut old_member, apply_req("before", 3))
        .await
        .expect("old CA served");
    assert_eq!(Outcome::try_from(r.outcome), Ok(Outcome::Applied));
    // A member of the new CA: the site does not trust it yet.
    let status = apply(
        &mut agent(addr, files(new.member(1), &new.ca)),
        apply_req("x", 3),
    )
    .await
    .expect_err("new CA not yet trusted");
    handshake_failure(&status);

    // Rotate: the new bundle's site certificate, key and CA replace the old files, and the
    // reload the watcher would run is run now.
    for name in ["ca.pem", "site.pem", "site.key"] {
        std::fs::copy(new.dir.join(name), live.join(name)).expect("replace a TLS file");
    }
    let tls = sim.tls().expect("serving TLS");
    assert!(
        tls.reload_if_changed().expect("new files load"),
        "files changed"
    );

    let r = apply(
        &mut agent(addr, files(new.member(1), &new.ca)),
        apply_req("after", 4),
    )
    .await
    .expect("new CA served after the reload");
    assert_eq!(Outcome::try_from(r.outcome), Ok(Outcome::Applied));
    // New connections of the old CA are refused now (the site no longer trusts it).
    let status = apply(
        &mut agent(addr, files(old.member(1), &old.ca)),
        apply_req("y", 4),
    )
    .await
    .expect_err("old CA no longer trusted");
    handshake_failure(&status);
    sim.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_binary_serves_tls_with_the_tls_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = bundle(&dir.path().join("tls"));
    let (cert, key) = b.site();
    let mut child = Command::new(env!("CARGO_BIN_EXE_moor-sitesim"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--tls-ca")
        .arg(&b.ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start moor-sitesim");
    let stdout = child.stdout.take().expect("stdout");
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reader")
    .expect("first stdout line");
    let addr: SocketAddr = moor_site::listening_addr(&first)
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .expect("an address");

    let r = apply(
        &mut agent(addr, files(b.member(1), &b.ca)),
        apply_req("real", 2),
    )
    .await
    .expect("a member is served");
    assert_eq!(Outcome::try_from(r.outcome), Ok(Outcome::Applied));
    let status = apply(
        &mut agent(addr, files(b.admin(), &b.ca)),
        apply_req("attack", 1 << 63),
    )
    .await
    .expect_err("a non-member is refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // SAFETY: kill(2) on a child we started and have not reaped; no memory is touched.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM sent");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < TEST_CALL_BOUND,
            "moor-sitesim did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "clean exit, got {status:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr readable");
    assert!(stderr.contains("moor-sitesim: TLS with"), "{stderr}");
    assert!(stderr.contains("fenced 0"), "{stderr}");
}

#[test]
fn the_binary_refuses_part_of_the_tls_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_moor-sitesim"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert", "site.pem"])
        .stdin(Stdio::null())
        .output()
        .expect("run moor-sitesim");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--tls-cert given, --tls-key, --tls-ca missing"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no address announced");
}
