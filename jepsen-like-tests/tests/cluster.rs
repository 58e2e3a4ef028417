//! Layer-3 tests: a real 3-to-5-member cluster of `moord` processes on loopback, real gRPC,
//! real RocksDB directories, real SIGKILL. Every assertion is about acknowledged writes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moor_jepsen_like_tests::harness::{member_client, Cluster, MemberSettings, GOAWAY_SIGNS};
use moor_proto::api::{
    AddMemberRequest, CompareAndSwapRequest, GetRequest, ListRequest, PromoteMemberRequest,
    PutRequest, ReadConsistency, RemoveMemberRequest,
};
use moor_proto::raft::raft_peer_client::RaftPeerClient;
use moor_proto::raft::RaftPayload;
use tonic::Code;

const ELECTION: Duration = Duration::from_secs(20);

async fn put(cluster: &Cluster, via: u64, key: &str, value: &str) -> Result<u64, tonic::Status> {
    let r = cluster
        .client(via)
        .put(PutRequest {
            key: key.into(),
            value: value.as_bytes().to_vec(),
        })
        .await?;
    Ok(r.into_inner().log_index)
}

async fn get(
    cluster: &Cluster,
    via: u64,
    key: &str,
    consistency: ReadConsistency,
) -> Option<String> {
    let r = cluster
        .client(via)
        .get(GetRequest {
            key: key.into(),
            consistency: consistency as i32,
        })
        .await
        .unwrap_or_else(|s| panic!("get {key} via {via}: {s}"));
    r.into_inner()
        .kv
        .map(|kv| String::from_utf8(kv.value).unwrap())
}

/// All keys under `prefix` as one member's state holds them.
async fn dump(
    cluster: &Cluster,
    via: u64,
    prefix: &str,
    consistency: ReadConsistency,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut start_after = String::new();
    loop {
        let page = cluster
            .client(via)
            .list(ListRequest {
                prefix: prefix.into(),
                consistency: consistency as i32,
                limit: 500,
                start_after: start_after.clone(),
            })
            .await
            .unwrap_or_else(|s| panic!("list via {via}: {s}"))
            .into_inner();
        for kv in &page.kvs {
            out.insert(kv.key.clone(), String::from_utf8(kv.value.clone()).unwrap());
        }
        match (page.more, page.kvs.last()) {
            (true, Some(last)) => start_after = last.key.clone(),
            _ => return out,
        }
    }
}

/// Waits until member `id` has applied at least `index` (polls its reported status).
async fn wait_applied(cluster: &Cluster, id: u64, index: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = cluster.status(id).await {
            if s.applied_index >= index {
                return;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "member {id} did not apply index {index} in time:\n{}",
            cluster.log_tail(id, 30)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn follower_of(cluster: &Cluster, leader: u64) -> Vec<u64> {
    cluster
        .running()
        .into_iter()
        .filter(|id| *id != leader)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_writes_survive_leader_sigkill_and_restart() {
    let mut cluster = Cluster::start(3, MemberSettings::default()).await.unwrap();
    let leader = cluster.wait_leader(ELECTION).await.unwrap();
    let followers = follower_of(&cluster, leader);

    let mut acked = BTreeMap::new();
    for i in 0..60 {
        let via = followers[i % followers.len()];
        let key = format!("k/{i:03}");
        put(&cluster, via, &key, &format!("v{i}")).await.unwrap();
        acked.insert(key, format!("v{i}"));
    }
    // Linearizable reads through every member see every acknowledged write.
    for id in cluster.running() {
        assert_eq!(
            dump(&cluster, id, "k/", ReadConsistency::Linearizable).await,
            acked
        );
    }

    cluster.kill(leader).unwrap();
    let survivors = cluster.running();
    let new_leader = cluster
        .wait_leader_among(&survivors, ELECTION)
        .await
        .unwrap();
    assert_ne!(new_leader, leader, "a killed member cannot lead");

    // Writes through any survivor succeed under the new leader.
    let mut last_index = 0;
    for i in 60..90 {
        let via = survivors[i % survivors.len()];
        let key = format!("k/{i:03}");
        last_index = put(&cluster, via, &key, &format!("v{i}")).await.unwrap();
        acked.insert(key, format!("v{i}"));
    }
    for id in &survivors {
        assert_eq!(
            dump(&cluster, *id, "k/", ReadConsistency::Linearizable).await,
            acked
        );
    }

    // The killed member restarts from its own data and catches up.
    cluster.restart(leader).unwrap();
    wait_applied(&cluster, leader, last_index).await;
    assert_eq!(
        dump(&cluster, leader, "k/", ReadConsistency::Stale).await,
        acked
    );
    assert_eq!(
        dump(&cluster, leader, "k/", ReadConsistency::Linearizable).await,
        acked
    );
}

/// Issue 15 (P5): a leader paused (SIGSTOP) for 3 s while clients write through the
/// followers comes back as a follower of the leader elected meanwhile, in that leader's term
/// (no election of its making), serves a write through a peer connection at once, and no
/// member logs an HTTP/2 GOAWAY for too many resets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_comes_back_without_tearing_down_peer_connections() {
    let cluster = Arc::new(Cluster::start(3, MemberSettings::default()).await.unwrap());
    let leader = cluster.wait_leader(ELECTION).await.unwrap();
    let others = follower_of(&cluster, leader);
    put(&cluster, others[0], "before", "1").await.unwrap();

    // Clients keep writing through the followers: until they learn of a new leader, they
    // forward to the paused one, and each forward that times out is reset.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..32 {
        let (cluster, stop, via) = (cluster.clone(), stop.clone(), others[w % 2]);
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                // Failures while there is no leader are expected: only the peers' logs count.
                let _ = put(&cluster, via, &format!("w{w}/{i}"), "1").await;
                i += 1;
            }
        }));
    }
    let paused_at = Instant::now();
    cluster.signal(leader, libc::SIGSTOP).unwrap();
    let new_leader = cluster.wait_leader_among(&others, ELECTION).await.unwrap();
    let term = cluster.status(new_leader).await.unwrap().term;
    // The fault's length, not a wait for anything: the peers keep timing out on it.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(paused_at.elapsed())).await;
    cluster.signal(leader, libc::SIGCONT).unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }

    // It follows the leader elected meanwhile: no election of its making.
    assert_eq!(cluster.wait_leader(ELECTION).await.unwrap(), new_leader);
    assert_eq!(cluster.status(leader).await.unwrap().term, term);
    // A write through it crosses a peer connection (forwarded to the leader).
    put(&cluster, leader, "after", "1").await.unwrap();
    for id in cluster.running() {
        let lines = cluster.log_lines_with(id, &GOAWAY_SIGNS);
        assert!(
            lines.is_empty(),
            "member {id} logged a GOAWAY for too many resets:\n{}",
            lines.join("\n")
        );
    }
}

/// Issue 15 (P5): while a member is paused, its peers' requests to it time out and are reset
/// (RST_STREAM). When it resumes, its HTTP/2 server reads them all at once, before accepting
/// any; h2's guard against reset floods allows 20 such streams per connection by default and
/// then answers GOAWAY `too_many_resets`, tearing down the connection and every request on
/// it. This client does to a paused member what its peers do; the peer port must take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_member_takes_the_resets_of_its_peers_timed_out_requests() {
    let settings = MemberSettings {
        insecure_plaintext: true,
        ..MemberSettings::default()
    };
    let cluster = Cluster::start(3, settings).await.unwrap();
    cluster.wait_leader(ELECTION).await.unwrap();
    let victim = 3;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.peer_addr(victim)))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut peer = RaftPeerClient::new(channel);
    let vote = || RaftPayload {
        data: vec![1, 2, 3],
        cluster_id: String::new(),
        feature_level: 0,
    };
    // The connection works: a vote with garbage in it is refused for what it holds.
    let refused = |r: Result<_, tonic::Status>| match r {
        Ok(_) => panic!("a garbage vote was accepted"),
        Err(e) => assert!(
            matches!(
                e.code(),
                Code::InvalidArgument | Code::FailedPrecondition | Code::PermissionDenied
            ),
            "refused for its content, not by the transport: {e}"
        ),
    };
    refused(peer.vote(vote()).await);

    cluster.pause(victim).await.unwrap();
    for _ in 0..200 {
        // Each request is given up as a peer's timed-out request is: dropped, so reset.
        let r = tokio::time::timeout(Duration::from_millis(10), peer.clone().vote(vote())).await;
        assert!(r.is_err(), "a stopped member answered");
    }
    let mut last = peer.clone();
    let waiting = tokio::spawn(async move { last.vote(vote()).await });
    cluster.signal(victim, libc::SIGCONT).unwrap();
    refused(waiting.await.unwrap());
    refused(peer.vote(vote()).await);
    let lines = cluster.log_lines_with(victim, &GOAWAY_SIGNS);
    assert!(lines.is_empty(), "{}", lines.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_after_write_on_another_member_is_linearizable() {
    let cluster = Cluster::start(3, MemberSettings::default()).await.unwrap();
    for i in 0..100u64 {
        let writer = 1 + i % 3;
        let reader = 1 + (i + 1) % 3;
        let value = format!("x{i}");
        put(&cluster, writer, "reg", &value).await.unwrap();
        assert_eq!(
            get(&cluster, reader, "reg", ReadConsistency::Linearizable).await,
            Some(value),
            "read on member {reader} after write on member {writer}"
        );
    }
    // The members write their logs to a file here (human format): no terminal colour codes.
    for id in 1..=3 {
        let log = cluster.log_tail(id, 10_000);
        assert!(log.contains(" INFO "), "member {id} logged nothing: {log}");
        assert!(
            !log.contains('\u{1b}'),
            "member {id} wrote ANSI codes: {log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_compare_and_swap_loses_no_update() {
    let cluster = Arc::new(Cluster::start(3, MemberSettings::default()).await.unwrap());
    put(&cluster, 1, "counter", "0").await.unwrap();
    let clients = 6u64;
    let per_client = 15u64;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let cluster = cluster.clone();
        tasks.push(tokio::spawn(async move {
            let via = 1 + c % 3;
            let mut wins = 0u64;
            let mut failures = 0u64;
            while wins < per_client {
                let current = get(&cluster, via, "counter", ReadConsistency::Linearizable)
                    .await
                    .unwrap();
                let next = (current.parse::<u64>().unwrap() + 1).to_string();
                let r = cluster
                    .client(via)
                    .compare_and_swap(CompareAndSwapRequest {
                        key: "counter".into(),
                        expected: Some(current.clone().into_bytes()),
                        new_value: Some(next.into_bytes()),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                if r.succeeded {
                    wins += 1;
                } else {
                    failures += 1;
                    // A failed swap reports the value that beat us, never the one we expected.
                    assert_ne!(r.current.unwrap().value, current.into_bytes());
                }
            }
            failures
        }));
    }
    let mut contended = 0;
    for t in tasks {
        contended += t.await.unwrap();
    }
    let total = get(&cluster, 2, "counter", ReadConsistency::Linearizable)
        .await
        .unwrap();
    assert_eq!(total, (clients * per_client).to_string());
    // With six clients racing on one key some swaps must have lost; if none did, the test did
    // not exercise contention and proves nothing.
    assert!(contended > 0, "no CAS contention happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_member_catches_up_through_a_snapshot() {
    let settings = MemberSettings {
        raft: vec![
            "snapshot_every_entries = 50".into(),
            "keep_entries_after_snapshot = 10".into(),
        ],
        ..Default::default()
    };
    let mut cluster = Cluster::start(3, settings).await.unwrap();
    let leader = cluster.wait_leader(ELECTION).await.unwrap();
    let victim = follower_of(&cluster, leader)[0];

    cluster.kill(victim).unwrap();
    cluster.wipe(victim).unwrap();
    let mut acked = BTreeMap::new();
    let mut last = 0;
    for i in 0..300 {
        let key = format!("s/{i:03}");
        last = put(&cluster, leader, &key, "v").await.unwrap();
        acked.insert(key, "v".to_string());
    }
    let leader_status = cluster.status(leader).await.unwrap();
    assert!(
        leader_status.purged_index > 0,
        "the leader should have purged its log below the snapshot: {leader_status:?}"
    );

    // The wiped member comes back empty: the log it needs is gone, so only a snapshot helps.
    cluster.restart(victim).unwrap();
    wait_applied(&cluster, victim, last).await;
    let s = cluster.status(victim).await.unwrap();
    assert!(
        s.snapshot_index > 0,
        "member {victim} caught up without a snapshot: {s:?}"
    );
    assert_eq!(
        dump(&cluster, victim, "s/", ReadConsistency::Stale).await,
        acked
    );
}

/// Found by the long fault-injection profile (learner adds that never finished): a member
/// replaying the log from its start holds, for a while, a membership older than the
/// leader. It used to refuse that leader's entries as "not in this cluster's membership",
/// so it never caught up. Small appends make the first batch end on the founding
/// membership, which has none of the members that lead now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_catches_up_from_a_leader_its_first_entries_do_not_know() {
    let settings = MemberSettings {
        raft: vec!["max_entries_per_append = 8".into()],
        ..MemberSettings::default()
    };
    let mut cluster = Cluster::start(3, settings).await.unwrap();
    cluster.wait_leader(ELECTION).await.unwrap();
    for i in 0..40 {
        put(&cluster, 1 + i % 3, &format!("early/{i:02}"), "v")
            .await
            .unwrap();
    }
    let add = |cluster: &Cluster, via: u64, id: u64| {
        let addr = cluster.peer_addr(id).to_string();
        let mut c = cluster.client(via);
        async move {
            c.add_member(AddMemberRequest {
                id,
                addr,
                wait_caught_up: true,
            })
            .await
        }
    };
    for id in [4, 5] {
        cluster.add_process(id).unwrap();
        add(&cluster, 2, id).await.unwrap();
        cluster
            .client(2)
            .promote_member(PromoteMemberRequest { id })
            .await
            .unwrap();
    }
    // Only members that joined later remain: whoever leads now, the founding membership
    // (1, 2, 3) does not name it.
    for id in [1, 2, 3] {
        cluster
            .client(4)
            .remove_member(RemoveMemberRequest { id })
            .await
            .unwrap_or_else(|s| panic!("remove {id}: {s}"));
    }
    let leader = cluster.wait_leader_among(&[4, 5], ELECTION).await.unwrap();
    put(&cluster, leader, "late/1", "v").await.unwrap();
    cluster.add_process(6).unwrap();
    let added = tokio::time::timeout(Duration::from_secs(30), add(&cluster, leader, 6))
        .await
        .expect("the add answers within 30 s");
    assert!(
        added.is_ok(),
        "member 6 must catch up from leader {leader}: {added:?}\nmember 6 log:\n{}",
        cluster.log_tail(6, 20)
    );
    let index = put(&cluster, leader, "late/2", "v").await.unwrap();
    wait_applied(&cluster, 6, index).await;
}

/// Bytes that neither compress nor repeat: value `i` of `len` bytes.
fn noise(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Found while testing disk faults (a cluster of large entries without a leader for 20 s):
/// openraft gives an AppendEntries call one heartbeat interval (50 ms by default) to come
/// back, the follower's fsync included, and retries a call that timed out with the same
/// entries. Entries of many batched large writes never made it (with entries and appends
/// allowed up to 16 MiB, these writes time out), and a follower restarted after a few
/// seconds down campaigned before the leader's next try (its backoff reached 1 s), deposing
/// it. With the default settings, near-limit writes sent concurrently commit, and a member
/// that missed 48 MB of them catches up with no election.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_limit_writes_replicate_and_a_member_behind_by_many_catches_up() {
    const WRITES: u64 = 48;
    const WRITERS: u64 = 16;
    const VALUE: usize = 1_000_000;
    let mut cluster = Cluster::start(3, MemberSettings::default()).await.unwrap();
    let leader = cluster.wait_leader(ELECTION).await.unwrap();
    let followers = follower_of(&cluster, leader);
    let (away, present) = (followers[0], followers[1]);
    cluster.stop(away).unwrap();
    let term = cluster.status(leader).await.unwrap().term;

    // Concurrent writers through the leader and the member still up: the leader's batches
    // would hold many of them in one entry.
    let security = cluster.security().clone();
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let addr = cluster
                .addr(if w % 2 == 0 { leader } else { present })
                .to_string();
            let security = security.clone();
            tokio::spawn(async move {
                let mut client = member_client(&addr, &security);
                let mut last = 0;
                for i in (w..WRITES).step_by(WRITERS as usize) {
                    let r = client
                        .put(PutRequest {
                            key: format!("big/{i:02}"),
                            value: noise(i, VALUE),
                        })
                        .await
                        .unwrap_or_else(|s| panic!("write big/{i:02} via {addr}: {s}"));
                    last = last.max(r.into_inner().log_index);
                }
                last
            })
        })
        .collect();
    let mut last = 0;
    for w in writers {
        last = last.max(w.await.unwrap());
    }
    eprintln!(
        "{WRITES} writes of {VALUE} bytes committed in {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    cluster.restart(away).unwrap();
    wait_applied(&cluster, away, last).await;
    eprintln!("member {away} caught up in {:?}", started.elapsed());
    let after = cluster.status(leader).await.unwrap();
    assert_eq!(
        (after.term, after.leader_id),
        (term, Some(leader)),
        "no election while member {away} caught up; leader {leader}:\n{}\nmember {away}:\n{}",
        cluster.log_tail(leader, 40),
        cluster.log_tail(away, 20)
    );
    // What the member caught up on is what was written.
    for i in 0..WRITES {
        let kv = cluster
            .client(away)
            .get(GetRequest {
                key: format!("big/{i:02}"),
                consistency: ReadConsistency::Stale as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .kv
            .unwrap_or_else(|| panic!("big/{i:02} is missing on member {away}"));
        assert!(kv.value == noise(i, VALUE), "big/{i:02} differs on {away}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grow_to_five_and_shrink_to_three_while_writing() {
    let mut cluster = Cluster::start(3, MemberSettings::default()).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let addrs: Vec<String> = (1..=3).map(|id| cluster.addr(id).to_string()).collect();
    let security = cluster.security().clone();
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let addr = &addrs[(i % 3) as usize];
                let key = format!("m/{i:05}");
                let r = member_client(addr, &security)
                    .put(PutRequest {
                        key: key.clone(),
                        value: b"v".to_vec(),
                    })
                    .await;
                match r {
                    Ok(_) => {
                        acked.lock().unwrap().insert(key, "v".to_string());
                    }
                    // Membership changes may briefly leave no leader; those writes are not
                    // acknowledged and not counted. A removed member refuses every write
                    // (FAILED_PRECONDITION naming its removal): nothing applied either.
                    Err(s) => assert!(
                        matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded)
                            || (s.code() == Code::FailedPrecondition
                                && s.message().contains("was removed from the cluster")),
                        "unexpected error {s}"
                    ),
                }
                i += 1;
            }
            i
        })
    };

    for id in [4, 5] {
        cluster.add_process(id).unwrap();
        // Membership takes the peer address.
        let addr = cluster.peer_addr(id).to_string();
        cluster
            .client(2)
            .add_member(AddMemberRequest {
                id,
                addr,
                wait_caught_up: true,
            })
            .await
            .unwrap();
        let view = cluster
            .client(3)
            .promote_member(PromoteMemberRequest { id })
            .await
            .unwrap()
            .into_inner();
        assert!(view.members.iter().any(|m| m.id == id && m.voter));
    }
    let status = cluster.status(1).await.unwrap();
    assert_eq!(status.members.iter().filter(|m| m.voter).count(), 5);

    // Shrink back to three, removing the current leader among others.
    let leader = cluster.wait_leader(ELECTION).await.unwrap();
    let mut to_remove = vec![leader];
    to_remove.extend([4u64, 5].into_iter().filter(|id| *id != leader).take(1));
    if to_remove.len() < 2 {
        to_remove.push(1 + leader % 3);
    }
    let keep: Vec<u64> = (1..=5).filter(|id| !to_remove.contains(id)).collect();
    for id in &to_remove {
        let via = keep[0];
        cluster
            .client(via)
            .remove_member(RemoveMemberRequest { id: *id })
            .await
            .unwrap_or_else(|s| panic!("remove {id} via {via}: {s}"));
    }
    let new_leader = cluster.wait_leader_among(&keep, ELECTION).await.unwrap();
    assert!(keep.contains(&new_leader));
    stop.store(true, Ordering::Relaxed);
    let attempts = writer.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "only {} of {attempts} writes were acknowledged",
        acked.len()
    );
    let status = cluster.status(keep[0]).await.unwrap();
    assert_eq!(
        status.members.iter().filter(|m| m.voter).count(),
        3,
        "{status:?}"
    );
    for id in &keep {
        let state = dump(&cluster, *id, "m/", ReadConsistency::Linearizable).await;
        for key in acked.keys() {
            assert!(
                state.contains_key(key),
                "acknowledged {key} missing on member {id}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_member_cleanly_and_it_rejoins() {
    let mut cluster = Cluster::start(3, MemberSettings::default()).await.unwrap();
    let leader = cluster.wait_leader(ELECTION).await.unwrap();
    let victim = follower_of(&cluster, leader)[0];
    let status = cluster.stop(victim).unwrap();
    assert!(
        status.success(),
        "moord exited with {status} on SIGTERM:\n{}",
        cluster.log_tail(victim, 20)
    );
    let last = put(&cluster, leader, "after-stop", "v").await.unwrap();
    cluster.restart(victim).unwrap();
    wait_applied(&cluster, victim, last).await;
    assert_eq!(
        get(&cluster, victim, "after-stop", ReadConsistency::Stale).await,
        Some("v".into())
    );
}
