//! A seeded data dir (a restore): opens as an initialised member at the seed's log id, with
//! the application restored, the log purged up to it, and the seeding member's vote; a
//! directory that ever held Raft state is refused.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use common::{open_all, set, KvApp, KvConfig};
use moor_raft_store::{open, Seed, StoreError};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::log_id;
use openraft::{Membership, Vote};

fn seed_of(map: &[(&str, &str)]) -> Seed<KvConfig> {
    let map: BTreeMap<String, String> = map
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Seed {
        last_log_id: log_id(1_000_007, 1, 42),
        membership: Membership::new(vec![[1u64, 2, 3].into()], None),
        app: rmp_serde::to_vec_named(&map).expect("encode"),
    }
}

#[tokio::test]
async fn a_seeded_dir_opens_at_the_seed() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path()).expect("open");
        store
            .seed(1, seed_of(&[("a", "1"), ("b", "2")]))
            .expect("seed");
    }
    let (_store, mut log, mut sm, app) = open_all(dir.path());
    assert_eq!(app.read().expect("lock").map.len(), 2);
    let (applied, membership) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(log_id(1_000_007, 1, 42)));
    assert_eq!(membership.voter_ids().collect::<Vec<_>>(), vec![1, 2, 3]);
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1_000_007, 1, 42)));
    assert_eq!(state.last_log_id, Some(log_id(1_000_007, 1, 42)));
    assert_eq!(
        log.read_vote().await.expect("vote"),
        Some(Vote::new(1_000_007, 1))
    );
    assert_eq!(
        log.read_committed().await.expect("committed"),
        Some(log_id(1_000_007, 1, 42))
    );
    // The next entry continues the log after the seed.
    sm.apply([set(1_000_008, 43, "c", "3")])
        .await
        .expect("apply");
    assert_eq!(app.read().expect("lock").map.len(), 3);
}

#[tokio::test]
async fn a_dir_that_held_raft_state_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (_store, mut log, _sm, _app) = open_all(dir.path());
        log.save_vote(&Vote::new(3, 2)).await.expect("vote");
    }
    let store = open(dir.path()).expect("open");
    let err = store.seed(1, seed_of(&[])).expect_err("refused");
    assert!(matches!(err, StoreError::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("a vote"), "{err}");
    // Seeding twice is refused too: the first seed is the directory's state.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let store2 = open(dir2.path()).expect("open");
    store2.seed(1, seed_of(&[("a", "1")])).expect("seed");
    assert!(store2.seed(1, seed_of(&[])).is_err());
    drop(store2);
    let app = Arc::new(RwLock::new(KvApp::default()));
    let store2 = open(dir2.path()).expect("reopen");
    let _sm = store2
        .state_machine::<KvConfig, KvApp>(Arc::clone(&app))
        .expect("sm");
    assert_eq!(app.read().expect("lock").map.len(), 1);
}

/// Bytes of the files in `dir` whose names end in `suffix`.
fn bytes_of(dir: &std::path::Path, suffix: &str) -> u64 {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| e.metadata().expect("metadata").len())
        .sum()
}

#[tokio::test]
async fn a_seed_is_in_table_files_not_left_in_the_wal() {
    // Left in the WAL, a snapshot the size of the state is replayed into a memtable and
    // flushed again on the member's first open, all of it held at once.
    let dir = tempfile::tempdir().expect("tempdir");
    let value = common::filler(7, 1 << 20);
    {
        let store = open(dir.path()).expect("open");
        store.seed(1, seed_of(&[("big", &value)])).expect("seed");
    }
    let wal = bytes_of(dir.path(), ".log");
    assert!(wal < 64 << 10, "{wal} bytes left in the WAL");
    assert!(bytes_of(dir.path(), ".sst") > 0, "no table file");
    let (_store, _log, _sm, app) = open_all(dir.path());
    assert_eq!(app.read().expect("lock").map["big"], value);
}
