//! `moorctl cluster bootstrap` against real `moord` processes that start at the same time:
//! two bootstraps racing each other and the members' start-up form one cluster, a third run
//! initialises nothing, and a member whose data was wiped rejoins the existing cluster
//! instead of founding a new one. The members run with TLS and authentication on; moorctl
//! uses the cluster CA and the admin client certificate, the members' peer addresses for
//! `--member` and their client addresses for `--endpoints`.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use moor_jepsen_like_tests::harness::{bin_dir, Cluster, DevPki, MemberSettings};

/// What every bootstrap run of one cluster is given.
struct Formation {
    /// `ID=PEER_ADDR,...`
    members: String,
    /// The client addresses, comma-separated.
    endpoints: String,
    /// moorctl's TLS flags.
    security: Vec<String>,
    /// Where each run writes the admin token it may get (one file per run: two racing
    /// runs must not refuse each other's file).
    token_dir: std::path::PathBuf,
}

fn formation(cluster: &Cluster, ids: std::ops::RangeInclusive<u64>) -> Formation {
    let list = |f: &dyn Fn(u64) -> String| ids.clone().map(f).collect::<Vec<_>>().join(",");
    Formation {
        members: list(&|id| format!("{id}={}", cluster.peer_addr(id))),
        endpoints: list(&|id| cluster.addr(id).to_string()),
        security: cluster.security().moorctl_args(),
        token_dir: cluster.dir.clone(),
    }
}

fn bootstrap(f: &Formation) -> std::process::Child {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let token = f.token_dir.join(format!(
        "admin-{}.token",
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    Command::new(bin_dir().join("moorctl"))
        .args(&f.security)
        .args([
            "--timeout-ms",
            "60000",
            "-o",
            "json",
            "--endpoints",
            &f.endpoints,
            "cluster",
            "bootstrap",
            "--wait",
        ])
        .args(["--member", &f.members])
        .arg("--admin-token-out")
        .arg(&token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("moorctl runs")
}

fn outcomes(out: &Output) -> (Vec<String>, Option<u64>) {
    assert!(
        out.status.success(),
        "bootstrap failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json view");
    let outcomes = v["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["outcome"].as_str().unwrap().to_string())
        .collect();
    (outcomes, v["leader_id"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_started_together_are_bootstrapped_once_by_racing_bootstraps() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new_in(dir.path(), MemberSettings::default()).unwrap();
    for id in 1..=3 {
        cluster.add_process(id).unwrap();
    }
    let f = formation(&cluster, 1..=3);
    // Two operators (or a compose job and a human) at once, while the members still start.
    let a = bootstrap(&f);
    let b = bootstrap(&f);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (oa, la) = outcomes(&a);
    let (ob, lb) = outcomes(&b);
    assert!(la.is_some() && la == lb, "{oa:?} {ob:?}");
    let initialised = oa.iter().chain(&ob).filter(|o| *o == "initialised").count();
    assert!(initialised >= 1, "nobody initialised: {oa:?} {ob:?}");
    // Authentication is on: the run that initialised got the bootstrap admin token.
    let tokens: Vec<String> = std::fs::read_dir(&f.token_dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name()?.to_str()?.to_string();
            (name.starts_with("admin-") && name.ends_with(".token"))
                .then(|| std::fs::read_to_string(&path).unwrap())
        })
        .filter(|t| !t.trim().is_empty())
        .collect();
    assert!(
        tokens.iter().any(|t| t.starts_with("moor_")),
        "no admin token was written: {tokens:?}"
    );

    let leader = cluster.wait_leader(Duration::from_secs(20)).await.unwrap();
    let s = cluster.status(leader).await.unwrap();
    assert_eq!(s.members.iter().filter(|m| m.voter).count(), 3, "{s:?}");
    for m in &s.members {
        // Membership records the peer addresses the members reported.
        assert_eq!(m.addr, cluster.peer_addr(m.id), "{s:?}");
    }
    for id in 1..=3 {
        assert_eq!(cluster.status(id).await.unwrap().leader_id, Some(leader));
    }

    // Again, once formed: nothing is initialised.
    let (again, l) = outcomes(&bootstrap(&f).wait_with_output().unwrap());
    assert_eq!(again, vec!["already initialised"; 3]);
    assert!(l.is_some());

    // A follower loses its data: bootstrap must not make it found a second cluster; it
    // rejoins the one that exists and catches up.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.kill(follower).unwrap();
    cluster.wipe(follower).unwrap();
    cluster.restart(follower).unwrap();
    let (after_wipe, l) = outcomes(&bootstrap(&f).wait_with_output().unwrap());
    assert!(
        !after_wipe.iter().any(|o| o == "initialised"),
        "a wiped member was initialised again: {after_wipe:?}"
    );
    assert!(l.is_some());
    let leader = cluster.wait_leader(Duration::from_secs(20)).await.unwrap();
    let s = cluster.status(follower).await.unwrap();
    assert_eq!(s.leader_id, Some(leader));
    assert_eq!(s.members.iter().filter(|m| m.voter).count(), 3, "{s:?}");
}

#[test]
fn bootstrap_without_reachable_members_says_what_to_do() {
    // moorctl speaks TLS unless told otherwise, and needs a CA for it.
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("tls"), &[]).unwrap();
    let out = Command::new(bin_dir().join("moorctl"))
        .args(pki.security().moorctl_args())
        .args(["--timeout-ms", "1500", "cluster", "bootstrap"])
        .args(["--member", "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("every endpoint answers"), "{err}");
    assert!(err.contains("Start moord on every listed member"), "{err}");
    assert!(err.contains("127.0.0.1:2: "), "{err}");
}
