//! `moorctl cluster bootstrap` against real `moord` processes that start at the same time:
//! two bootstraps racing each other and the members' start-up form one cluster, a third run
//! initialises nothing, and a member whose data was wiped rejoins the existing cluster
//! instead of founding a new one.

use std::process::{Command, Output};
use std::time::Duration;

use moor_jepsen_like_tests::harness::{bin_dir, Cluster, MemberSettings};

fn bootstrap(members: &str) -> std::process::Child {
    Command::new(bin_dir().join("moorctl"))
        .args([
            "--timeout-ms",
            "60000",
            "-o",
            "json",
            "cluster",
            "bootstrap",
            "--wait",
        ])
        .args(["--member", members])
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
    let mut cluster = Cluster::new_in(dir.path(), MemberSettings::default());
    for id in 1..=3 {
        cluster.add_process(id).unwrap();
    }
    let list = (1..=3)
        .map(|id| format!("{id}={}", cluster.addr(id)))
        .collect::<Vec<_>>()
        .join(",");
    // Two operators (or a compose job and a human) at once, while the members still start.
    let a = bootstrap(&list);
    let b = bootstrap(&list);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (oa, la) = outcomes(&a);
    let (ob, lb) = outcomes(&b);
    assert!(la.is_some() && la == lb, "{oa:?} {ob:?}");
    let initialised = oa.iter().chain(&ob).filter(|o| *o == "initialised").count();
    assert!(initialised >= 1, "nobody initialised: {oa:?} {ob:?}");

    let leader = cluster.wait_leader(Duration::from_secs(20)).await.unwrap();
    let s = cluster.status(leader).await.unwrap();
    assert_eq!(s.members.iter().filter(|m| m.voter).count(), 3, "{s:?}");
    for id in 1..=3 {
        assert_eq!(cluster.status(id).await.unwrap().leader_id, Some(leader));
    }

    // Again, once formed: nothing is initialised.
    let (again, l) = outcomes(&bootstrap(&list).wait_with_output().unwrap());
    assert_eq!(again, vec!["already initialised"; 3]);
    assert!(l.is_some());

    // A follower loses its data: bootstrap must not make it found a second cluster; it
    // rejoins the one that exists and catches up.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    cluster.kill(follower).unwrap();
    cluster.wipe(follower).unwrap();
    cluster.restart(follower).unwrap();
    let (after_wipe, l) = outcomes(&bootstrap(&list).wait_with_output().unwrap());
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
    let out = Command::new(bin_dir().join("moorctl"))
        .args(["--timeout-ms", "1500", "cluster", "bootstrap"])
        .args(["--member", "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("every listed member answers"), "{err}");
    assert!(err.contains("Start moord on every listed address"), "{err}");
    assert!(err.contains("member 2 at 127.0.0.1:2"), "{err}");
}
