//! Raft storage for Moor: openraft's log store and state machine on one RocksDB.
//!
//! The log, the vote and snapshots are durable before openraft is told so (see
//! [`RocksLogStore`] for the contract). The replicated application stays in memory and
//! plugs in through [`Application`]; this crate knows nothing of what its commands mean.
//! [`open`] opens a data directory, verifies the checksum of every block in it and checks its
//! on-disk format version; [`Store::seed`]
//! fills a new one from a backup's state (a restore).

mod app;
mod codec;
mod corruption;
mod flusher;
pub mod latency;
mod log_store;
mod seed;
mod snapshot_data;
mod state_machine;
mod store;

pub use app::Application;
pub use codec::CodecError;
pub use corruption::{StoreFault, Verification, RUNBOOK};
pub use log_store::RocksLogStore;
pub use seed::Seed;
pub use snapshot_data::SnapshotBytes;
pub use state_machine::{AppliedReader, RocksSnapshotBuilder, RocksStateMachine};
pub use store::{
    open, Operation, StatsSnapshot, Store, StoreClosed, StoreError, StoreStats, Subject,
    FORMAT_VERSION,
};
