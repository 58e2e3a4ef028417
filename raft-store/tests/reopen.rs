//! What a restarted member finds: everything acknowledged before it stopped.
//!
//! Each test writes through the public API, drops every handle (closing RocksDB), reopens
//! the same directory and checks the state.

mod common;

use std::sync::{Arc, RwLock};

use common::{open_all, set, KvCommand, KvConfig};
use moor_raft_store::StoreError;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{blank_ent, log_id, membership_ent};
use openraft::{RaftLogReader, RaftSnapshotBuilder, Vote};

#[tokio::test]
async fn log_vote_committed_and_purge_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (store, mut log, _sm, _app) = open_all(dir.path());
        log.blocking_append((0..=10).map(|i| blank_ent::<KvConfig>(1, 0, i)))
            .await
            .expect("append");
        log.save_vote(&Vote::new(2, 1)).await.expect("save vote");
        log.save_committed(Some(log_id(1, 0, 7)))
            .await
            .expect("save committed");
        log.purge(log_id(1, 0, 3)).await.expect("purge");
        let stats = store.stats().snapshot();
        assert_eq!((stats.log_appends, stats.log_entries), (1, 11));
    }

    let (_store, mut log, _sm, _app) = open_all(dir.path());
    assert_eq!(
        log.read_vote().await.expect("read vote"),
        Some(Vote::new(2, 1))
    );
    assert_eq!(
        log.read_committed().await.expect("read committed"),
        Some(log_id(1, 0, 7))
    );
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 0, 3)));
    assert_eq!(state.last_log_id, Some(log_id(1, 0, 10)));
    let entries = log.try_get_log_entries(..).await.expect("read log");
    let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
    assert_eq!(indexes, (4..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn truncate_survives_reopen_and_the_log_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (_store, mut log, _sm, _app) = open_all(dir.path());
        log.blocking_append((0..=10).map(|i| blank_ent::<KvConfig>(1, 0, i)))
            .await
            .expect("append");
        log.truncate(log_id(1, 0, 6)).await.expect("truncate");
        log.blocking_append((6..=7).map(|i| blank_ent::<KvConfig>(2, 0, i)))
            .await
            .expect("append new term");
    }

    let (_store, mut log, _sm, _app) = open_all(dir.path());
    let state = log.get_log_state().await.expect("log state");
    assert_eq!(state.last_log_id, Some(log_id(2, 0, 7)));
    let entries = log.try_get_log_entries(5..).await.expect("read log");
    let ids: Vec<_> = entries.iter().map(|e| e.log_id).collect();
    assert_eq!(ids, vec![log_id(1, 0, 5), log_id(2, 0, 6), log_id(2, 0, 7)]);
}

#[tokio::test]
async fn a_built_snapshot_restores_the_app_and_last_applied_on_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let built = {
        let (_store, _log, mut sm, app) = open_all(dir.path());
        let responses = sm
            .apply([
                membership_ent::<KvConfig>(1, 0, 1, vec![[0u64, 1, 2].into()]),
                set(1, 2, "a", "1"),
                set(1, 3, "a", "2"),
                set(1, 4, "b", "3"),
            ])
            .await
            .expect("apply");
        assert_eq!(
            responses[2].previous.as_deref(),
            Some("1"),
            "apply returns the app's response"
        );
        assert_eq!(app.read().expect("app lock").map.len(), 2);
        let snapshot = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("build snapshot");
        // Applied after the snapshot: lost from memory on restart, replayed from the log.
        sm.apply([set(1, 5, "c", "4")])
            .await
            .expect("apply after snapshot");
        snapshot.meta
    };
    assert_eq!(built.last_log_id, Some(log_id(1, 0, 4)));

    let (_store, _log, mut sm, app) = open_all(dir.path());
    let map = app.read().expect("app lock").map.clone();
    assert_eq!(
        map,
        [
            ("a".to_string(), "2".to_string()),
            ("b".to_string(), "3".to_string())
        ]
        .into()
    );
    let (last_applied, membership) = sm.applied_state().await.expect("applied state");
    assert_eq!(last_applied, Some(log_id(1, 0, 4)));
    assert_eq!(membership, built.last_membership);
    let current = sm
        .get_current_snapshot()
        .await
        .expect("current snapshot")
        .expect("a snapshot");
    assert_eq!(current.meta, built);

    // The snapshot id counter continues after a restart instead of reusing ids.
    let again = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build again");
    assert_ne!(again.meta.snapshot_id, built.snapshot_id);
}

#[tokio::test]
async fn an_installed_snapshot_replaces_the_app_and_survives_reopen() {
    let leader_dir = tempfile::tempdir().expect("tempdir");
    let follower_dir = tempfile::tempdir().expect("tempdir");
    let (_l_store, _l_log, mut leader, _l_app) = open_all(leader_dir.path());
    leader
        .apply([set(1, 1, "k", "leader")])
        .await
        .expect("apply on leader");
    let snapshot = leader
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("build");

    {
        let (_store, _log, mut follower, app) = open_all(follower_dir.path());
        follower
            .apply([set(1, 1, "stale", "x")])
            .await
            .expect("apply on follower");
        let mut received = follower.begin_receiving_snapshot().await.expect("begin");
        *received = *snapshot.snapshot;
        follower
            .install_snapshot(&snapshot.meta, received)
            .await
            .expect("install");
        assert_eq!(
            app.read().expect("app lock").map,
            [("k".to_string(), "leader".to_string())].into()
        );
    }

    let (_store, _log, mut follower, app) = open_all(follower_dir.path());
    assert_eq!(
        app.read().expect("app lock").map,
        [("k".to_string(), "leader".to_string())].into()
    );
    assert_eq!(
        follower.applied_state().await.expect("applied").0,
        Some(log_id(1, 0, 1))
    );
}

#[tokio::test]
async fn applying_an_index_twice_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, _log, mut sm, _app) = open_all(dir.path());
    sm.apply([set(1, 1, "a", "1")]).await.expect("apply");
    sm.apply([set(1, 1, "a", "1")])
        .await
        .expect_err("re-applying index 1 must fail");
}

#[test]
fn a_snapshot_the_app_cannot_read_is_reported_on_open() {
    // Written by one application, read by another that rejects it: open must fail, not
    // start from an empty state that would silently miss everything before the snapshot.
    struct Picky;
    impl moor_raft_store::Application<KvConfig> for Picky {
        fn apply(&mut self, _: &openraft::LogId<u64>, _: &KvCommand) -> common::KvResponse {
            common::KvResponse::default()
        }
        fn empty_response(&self) -> common::KvResponse {
            common::KvResponse::default()
        }
        fn snapshot(&self) -> Result<Vec<u8>, String> {
            Ok(Vec::new())
        }
        fn restore(&mut self, _: &[u8]) -> Result<(), String> {
            Err("unknown snapshot layout".into())
        }
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    {
        let (_store, _log, mut sm, _app) = open_all(dir.path());
        rt.block_on(async {
            sm.apply([set(1, 1, "a", "1")]).await.expect("apply");
            sm.get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .expect("build");
        });
    }
    let store = moor_raft_store::open(dir.path()).expect("open");
    let err = store
        .state_machine::<KvConfig, Picky>(Arc::new(RwLock::new(Picky)))
        .expect_err("must fail");
    assert!(matches!(err, StoreError::Application { .. }), "{err:?}");
    assert!(err.to_string().contains("unknown snapshot layout"), "{err}");
}

#[tokio::test]
async fn closed_resolves_only_after_the_last_handle_is_dropped_and_the_dir_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, log, sm, _app) = open_all(dir.path());
    let closed = store.closed();
    drop(store);
    drop(sm);
    // The log store (and the group-commit thread it owns a share of) still holds the database.
    // (A zero timeout polls the future once before it looks at the clock.)
    let early = tokio::time::timeout(std::time::Duration::ZERO, closed.clone().wait()).await;
    assert!(early.is_err(), "closed while a log store is alive");
    drop(log);
    tokio::time::timeout(std::time::Duration::from_secs(10), closed.wait())
        .await
        .expect("the database closes once every handle is gone");
    // RocksDB's lock is released: the directory opens again at once.
    let (_store, _log, _sm, _app) = open_all(dir.path());
}
