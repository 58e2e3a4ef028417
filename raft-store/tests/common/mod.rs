//! A tiny replicated map, the application the storage tests drive.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use moor_raft_store::{open, Application, RocksLogStore, RocksStateMachine, Store};
use openraft::{Entry, EntryPayload, LogId};
use serde::{Deserialize, Serialize};

/// The only command: set a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    Set { key: String, value: String },
}

/// The value a `Set` replaced, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvResponse {
    pub previous: Option<String>,
}

openraft::declare_raft_types!(
    pub KvConfig:
        D = KvCommand,
        R = KvResponse,
        SnapshotData = moor_raft_store::SnapshotBytes,
);

#[derive(Debug, Default)]
pub struct KvApp {
    pub map: BTreeMap<String, String>,
}

impl Application<KvConfig> for KvApp {
    fn apply(&mut self, _log_id: &LogId<u64>, command: &KvCommand) -> KvResponse {
        match command {
            KvCommand::Set { key, value } => KvResponse {
                previous: self.map.insert(key.clone(), value.clone()),
            },
        }
    }

    fn empty_response(&self) -> KvResponse {
        KvResponse::default()
    }

    fn snapshot(&self) -> Result<Vec<u8>, String> {
        rmp_serde::to_vec_named(&self.map).map_err(|e| e.to_string())
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), String> {
        self.map = rmp_serde::from_slice(data).map_err(|e| e.to_string())?;
        Ok(())
    }
}

pub type Log = RocksLogStore<KvConfig>;
pub type Sm = RocksStateMachine<KvConfig, KvApp>;

/// Opens the store at `path` with a fresh, empty application.
pub fn open_all(path: &Path) -> (Store, Log, Sm, Arc<RwLock<KvApp>>) {
    let store = open(path).expect("open store");
    let app = Arc::new(RwLock::new(KvApp::default()));
    let log = store.log_store::<KvConfig>();
    let sm = store
        .state_machine::<KvConfig, KvApp>(Arc::clone(&app))
        .expect("open state machine");
    (store, log, sm, app)
}

pub fn set(term: u64, index: u64, key: &str, value: &str) -> Entry<KvConfig> {
    Entry {
        log_id: openraft::testing::log_id(term, 0, index),
        payload: EntryPayload::Normal(KvCommand::Set {
            key: key.into(),
            value: value.into(),
        }),
    }
}

/// `len` characters LZ4 cannot shrink much, different for every `seed`: values that fill
/// tables with many data blocks (disk-fault tests, the verification benchmark).
pub fn filler(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"0123456789abcdef"[(x % 16) as usize])
        })
        .collect()
}
