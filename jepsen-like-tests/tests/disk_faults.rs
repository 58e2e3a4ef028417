//! Issue 16 §4: a member whose disk is damaged refuses to start with an error that names the
//! file and the runbook step, the other two members go on serving without losing an
//! acknowledged write, and the runbook (deploy/README.md, "Corrupted disk") replaces it with
//! a new member that catches up. A table that goes bad under a running leader stops it
//! (exit status 1) at the first read of a damaged block, and the other two go on.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moor_jepsen_like_tests::harness::{
    bin_dir, flip_bytes_in, get_request, largest_file, put_request, Cluster, MemberSettings,
};
use moor_proto::api::{
    AddMemberRequest, PromoteMemberRequest, ReadConsistency, RemoveMemberRequest,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ELECTION: Duration = Duration::from_secs(20);
/// What every corruption error tells the operator to do (moor-raft-store's `RUNBOOK`).
const RUNBOOK: &str = "this member's disk is damaged: stop it, wipe its data dir and add it \
                       back as a new member (deploy/README.md, 'Corrupted disk')";
/// Values LZ4 cannot shrink much, so the member's tables hold many data blocks.
const VALUE_BYTES: usize = 1024;

fn value(i: u64) -> String {
    hex_text(i, VALUE_BYTES)
}

/// `len` random hex digits from `seed`: text LZ4 cannot shrink much (no repeats).
fn hex_text(seed: u64, len: usize) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

/// Writes keys `d/{i}` for `range` through the members in `via` in turn; records each
/// acknowledged write and returns the last log index.
async fn write(
    cluster: &Cluster,
    via: &[u64],
    range: std::ops::Range<u64>,
    acked: &mut BTreeMap<String, String>,
) -> u64 {
    let mut last = 0;
    for i in range {
        let member = via[i as usize % via.len()];
        let (key, value) = (format!("d/{i:04}"), value(i));
        let reply = cluster
            .client(member)
            .put(put_request(&key, &value))
            .await
            .unwrap_or_else(|s| panic!("put {key} via {member}: {s}"));
        last = reply.into_inner().log_index;
        acked.insert(key, value);
    }
    last
}

/// Every acknowledged write reads back through member `via` at `consistency`.
async fn assert_all_read(
    cluster: &Cluster,
    via: u64,
    consistency: ReadConsistency,
    acked: &BTreeMap<String, String>,
) {
    for (key, expected) in acked {
        let kv = cluster
            .client(via)
            .get(get_request(key, consistency))
            .await
            .unwrap_or_else(|s| panic!("get {key} via {via}: {s}"))
            .into_inner()
            .kv;
        let found = kv.map(|kv| String::from_utf8(kv.value).expect("utf-8"));
        assert_eq!(found.as_ref(), Some(expected), "{key} via member {via}");
    }
}

/// Waits until member `id` answers and has applied `index`.
async fn wait_caught_up(cluster: &Cluster, id: u64, index: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster
        .status(id)
        .await
        .is_none_or(|s| s.applied_index < index)
    {
        assert!(
            Instant::now() < deadline,
            "member {id} did not apply {index} in time:\n{}",
            cluster.log_tail(id, 20)
        );
        // Polls a condition the member reports.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `moord --config config` as the operator would and waits (bounded) for it to exit;
/// returns its exit status and what it printed on stderr (its log).
fn run_until_exit(config: &Path, timeout: Duration) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(bin_dir().join("moord"))
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start moord");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for moord") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("moord on a damaged disk was still running after {timeout:?}");
        }
        // Polls the child's exit.
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().expect("stderr reader"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_with_a_damaged_table_refuses_to_start_and_the_runbook_replaces_it() {
    let mut cluster = Cluster::start(3, MemberSettings::default()).await.unwrap();
    let leader = cluster.wait_leader(ELECTION).await.unwrap();
    let victim = cluster
        .running()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    let survivors: Vec<u64> = cluster
        .running()
        .into_iter()
        .filter(|id| *id != victim)
        .collect();
    let mut acked = BTreeMap::new();
    let mut last = write(&cluster, &cluster.running(), 0..120, &mut acked).await;

    // A restart moves the victim's WAL into tables (RocksDB flushes what it replays at open),
    // so there is a table to damage.
    wait_caught_up(&cluster, victim, last).await;
    cluster.stop_within(victim, ELECTION).unwrap();
    cluster.restart(victim).unwrap();
    wait_caught_up(&cluster, victim, last).await;
    cluster.stop_within(victim, ELECTION).unwrap();

    let raft = cluster.members[&victim].data_dir.join("raft");
    let table = largest_file(&raft, "sst")
        .unwrap()
        .unwrap_or_else(|| panic!("no table in {}", raft.display()));
    flip_bytes_in(&table).unwrap();
    let (status, stderr) = run_until_exit(&cluster.members[&victim].config_path, ELECTION);
    assert!(
        !status.success(),
        "moord started on a damaged disk:\n{stderr}"
    );
    let file = table.display().to_string();
    assert!(
        stderr.contains(&file),
        "the error does not name {file}:\n{stderr}"
    );
    assert!(stderr.contains(RUNBOOK), "no runbook step:\n{stderr}");

    // The other two go on: writes and linearizable reads, nothing acknowledged lost.
    last = write(&cluster, &survivors, 120..180, &mut acked).await;
    for id in &survivors {
        assert_all_read(&cluster, *id, ReadConsistency::Linearizable, &acked).await;
    }

    // The runbook: remove it, wipe its data dir, and add it back as a new member (a new id:
    // see deploy/README.md, "Corrupted disk"), which catches up from the others.
    cluster
        .client(survivors[0])
        .remove_member(RemoveMemberRequest { id: victim })
        .await
        .unwrap_or_else(|s| panic!("remove {victim}: {s}"));
    cluster.wipe(victim).unwrap();
    let new_id = 4;
    cluster.add_process(new_id).unwrap();
    let addr = cluster.peer_addr(new_id).to_string();
    cluster
        .client(survivors[1])
        .add_member(AddMemberRequest {
            id: new_id,
            addr,
            wait_caught_up: true,
        })
        .await
        .unwrap_or_else(|s| panic!("add member {new_id}: {s}"));
    let view = cluster
        .client(survivors[0])
        .promote_member(PromoteMemberRequest { id: new_id })
        .await
        .unwrap_or_else(|s| panic!("promote {new_id}: {s}"))
        .into_inner();
    assert!(view.members.iter().any(|m| m.id == new_id && m.voter));
    assert!(!view.members.iter().any(|m| m.id == victim));
    wait_caught_up(&cluster, new_id, last).await;
    assert_all_read(&cluster, new_id, ReadConsistency::Stale, &acked).await;
}

/// Large values: 400 of them (50 MB) outgrow RocksDB's block cache (32 MiB by default), so
/// the earliest entries are read from the table file again when they are next needed.
const BIG_VALUE_BYTES: usize = 128 * 1024;

/// Inverts 8 bytes at each of `fractions` of `file`'s length, in place, under whoever has it
/// open: what a disk going bad does to a running member's table.
fn damage_in_place(file: &Path, fractions: &[f64]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .expect("open the table");
    let len = f.metadata().expect("table size").len();
    for fraction in fractions {
        let at = (len as f64 * fraction) as u64;
        let mut bytes = [0u8; 8];
        f.read_exact_at(&mut bytes, at).expect("read");
        bytes.iter_mut().for_each(|b| *b = !*b);
        f.write_all_at(&bytes, at).expect("write");
    }
    f.sync_all().expect("sync");
}

/// Damage met while a member runs, end to end: a table of the leader goes bad after it
/// opened (so the checks at open passed); the next read of a damaged block — here to send a
/// member that was away the entries it missed — stops the leader with exit status 1 and a
/// log line naming the file and the runbook step. The other two elect a leader and serve
/// every acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_table_goes_bad_while_it_runs_stops_and_the_others_go_on() {
    // Default settings: appends are cut at raft.max_append_bytes, so catching up 50 MB goes
    // in many calls, each well inside an AppendEntries deadline.
    let mut cluster = Cluster::start(3, MemberSettings::default()).await.unwrap();
    let first = cluster.wait_leader(ELECTION).await.unwrap();
    let away = cluster
        .running()
        .into_iter()
        .find(|id| *id != first)
        .expect("a follower");
    let others: Vec<u64> = cluster
        .running()
        .into_iter()
        .filter(|id| *id != away)
        .collect();
    cluster.stop_within(away, ELECTION).unwrap();

    // 50 MB of entries the member away misses.
    let mut acked = BTreeMap::new();
    let mut last = 0;
    for i in 0..400u64 {
        let key = format!("big/{i:03}");
        let v = hex_text(1_000_000 + i, BIG_VALUE_BYTES);
        let reply = cluster
            .client(first)
            .put(put_request(&key, &v))
            .await
            .unwrap_or_else(|s| panic!("put {key}: {s}"));
        last = reply.into_inner().log_index;
        acked.insert(key, v);
    }
    // Restarts move both members' logs from the WAL into tables (RocksDB flushes what it
    // replays at open) and leave their block caches without the earliest entries.
    for id in &others {
        wait_caught_up(&cluster, *id, last).await;
    }
    for id in &others {
        cluster.stop_within(*id, ELECTION).unwrap();
    }
    for id in &others {
        cluster.restart(*id).unwrap();
    }
    let leader = cluster.wait_leader_among(&others, ELECTION).await.unwrap();
    let survivor = *others.iter().find(|id| **id != leader).unwrap();
    let raft = cluster.members[&leader].data_dir.join("raft");
    let table = largest_file(&raft, "sst")
        .unwrap()
        .unwrap_or_else(|| panic!("no table in {}", raft.display()));
    // The blocks of the earliest entries, which no read since the open has cached.
    damage_in_place(&table, &[0.01, 0.02, 0.03, 0.05, 0.08]);

    // The member away comes back: the leader reads what it missed from the damaged table.
    cluster.restart(away).unwrap();
    let status = cluster
        .wait_exit(leader, Duration::from_secs(60))
        .unwrap()
        .unwrap_or_else(|| {
            panic!(
                "the leader still runs on a damaged table:\n{}",
                cluster.log_tail(leader, 30)
            )
        });
    assert_eq!(status.code(), Some(1), "{status:?}");
    let log = std::fs::read_to_string(&cluster.members[&leader].log_path).unwrap();
    let file = table.file_name().unwrap().to_string_lossy().into_owned();
    let stopped = log
        .lines()
        .find(|l| l.contains("the Raft store is corrupted"))
        .unwrap_or_else(|| {
            panic!(
                "no line says why it stopped:\n{}",
                cluster.log_tail(leader, 30)
            )
        });
    assert!(
        stopped.contains(&file) && stopped.contains(RUNBOOK),
        "the line does not name {file} and the runbook step: {stopped}"
    );

    // The other two elect a leader; the member that was away catches up from the survivor,
    // and nothing acknowledged is lost.
    let survivors = [survivor, away];
    cluster
        .wait_leader_among(&survivors, ELECTION)
        .await
        .unwrap();
    wait_caught_up(&cluster, away, last).await;
    for id in survivors {
        assert_all_read(&cluster, id, ReadConsistency::Linearizable, &acked).await;
    }
}
