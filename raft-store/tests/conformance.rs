//! openraft's own storage test suite, run against the RocksDB store.
//!
//! It checks what openraft relies on (log state after purge and truncate, vote, membership
//! recovery, snapshot build and install) with a fresh data directory per case.

mod common;

use std::sync::{Arc, RwLock};

use common::{KvApp, KvConfig, Log, Sm};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{StorageError, StorageIOError};
use tempfile::TempDir;

struct FreshStore;

impl StoreBuilder<KvConfig, Log, Sm, TempDir> for FreshStore {
    async fn build(&self) -> Result<(TempDir, Log, Sm), StorageError<u64>> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let store = moor_raft_store::open(dir.path()).map_err(|e| StorageIOError::write(&e))?;
        let sm = store
            .state_machine::<KvConfig, KvApp>(Arc::new(RwLock::new(KvApp::default())))
            .map_err(|e| StorageIOError::write_state_machine(&e))?;
        Ok((dir, store.log_store(), sm))
    }
}

#[test]
fn openraft_storage_suite() {
    // Each case runs on its own tokio runtime, which the suite creates.
    if let Err(e) = Suite::test_all(FreshStore) {
        panic!("openraft storage suite failed: {e}");
    }
}
