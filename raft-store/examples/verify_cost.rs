//! What the start-up verification (reading every block with its checksum) costs at a
//! realistic size: a snapshot as large as 100,000 environments' state (253.6 MiB, the backup
//! size measured in docs/BENCHMARKS.md) plus the log a member keeps between snapshots.
//!
//! `cargo run --release -p moor-raft-store --example verify_cost -- [ENVIRONMENTS]`
//!
//! Prints the figures; asserts nothing about time (docs/RELIABILITY.md records them).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{filler, open_all, set};
use openraft::storage::{RaftLogStorageExt, RaftStateMachine};
use openraft::RaftSnapshotBuilder;

/// Bytes of snapshot per environment: 253.6 MiB / 100,000 in the backup benchmark. The
/// filler barely compresses (the real state compresses better): this errs on the slow side.
const BYTES_PER_ENVIRONMENT: usize = 2_660;
/// Entries between snapshots plus those kept after one (moord's defaults: 20,000 + 5,000).
const LOG_ENTRIES: u64 = 25_000;
/// A typical log entry's payload.
const ENTRY_BYTES: usize = 1_024;

#[tokio::main]
async fn main() {
    let environments: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("ENVIRONMENTS is a number"))
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (_store, mut log, mut sm, _app) = open_all(dir.path());
        let state = (1..=environments)
            .map(|i| set(1, i, &format!("env-{i}"), &filler(i, BYTES_PER_ENVIRONMENT)));
        sm.apply(state).await.expect("apply");
        let snapshot = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .expect("snapshot");
        println!(
            "snapshot: {:.1} MiB",
            snapshot
                .snapshot
                .into_bytes()
                .expect("built in memory")
                .len() as f64
                / (1 << 20) as f64
        );
        let first = environments + 1;
        for chunk in (first..first + LOG_ENTRIES).collect::<Vec<_>>().chunks(500) {
            log.blocking_append(
                chunk
                    .iter()
                    .map(|&i| set(1, i, &format!("e{i}"), &filler(i, ENTRY_BYTES))),
            )
            .await
            .expect("append");
        }
    }
    // The first reopen replays the WAL into tables; the second is a restarted member's.
    drop(open_all(dir.path()));
    let started = Instant::now();
    let store = moor_raft_store::open(dir.path()).expect("open");
    let opened = started.elapsed();
    let v = store.verification();
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();
    println!(
        "environments {environments}, log entries {LOG_ENTRIES}: data dir {:.1} MiB; verified {} keys, {:.1} MiB in {} ms ({:.0} MiB/s); whole open {} ms",
        on_disk as f64 / (1 << 20) as f64,
        v.keys,
        v.bytes as f64 / (1 << 20) as f64,
        v.elapsed.as_millis(),
        v.bytes as f64 / (1 << 20) as f64 / v.elapsed.as_secs_f64().max(1e-9),
        opened.as_millis()
    );
}
