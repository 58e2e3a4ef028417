//! A damaged disk is found at open and refused with an error that names the file and the
//! runbook step; a crash's torn WAL tail is not damage.
//!
//! Each test writes through the public API, closes the store, damages a file the way a bad
//! disk would (flipped bytes, a truncated file) and opens the directory again.

mod common;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use common::{filler, open_all, set, KvConfig};
use moor_raft_store::{StoreError, RUNBOOK};
use openraft::storage::RaftLogStorageExt;
use openraft::RaftLogReader;

/// Log entries written per test; each carries [`VALUE_BYTES`] of incompressible text, so the
/// tables hold many data blocks (4 KiB each) and the WAL many records.
const ENTRIES: u64 = 200;
const VALUE_BYTES: usize = 1024;

/// Writes entries 1..=ENTRIES, one synced append each (so one WAL record each), and closes.
async fn write_entries(dir: &Path) {
    let (_store, mut log, _sm, _app) = open_all(dir);
    for index in 1..=ENTRIES {
        log.blocking_append([set(
            1,
            index,
            &format!("k{index}"),
            &filler(index, VALUE_BYTES),
        )])
        .await
        .expect("append");
    }
}

/// Moves everything into tables: RocksDB flushes the WAL it replays at open into a level-0
/// table, and a flush of every column family makes sure nothing stays in a memtable.
fn flush_to_tables(dir: &Path) {
    let db = rocksdb::DB::open_cf(
        &rocksdb::Options::default(),
        dir,
        ["meta", "logs", "snapshot"],
    )
    .expect("open with RocksDB");
    for name in ["meta", "logs", "snapshot"] {
        db.flush_cf(db.cf_handle(name).expect("column family"))
            .expect("flush");
    }
}

/// The largest file of the directory with this extension.
fn largest(dir: &Path, extension: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .max_by_key(|p| std::fs::metadata(p).expect("metadata").len())
        .unwrap_or_else(|| panic!("no .{extension} file in {}", dir.display()))
}

/// Inverts `count` bytes of `file` starting at `at`.
fn flip_bytes(file: &Path, at: u64, count: usize) {
    let mut bytes = std::fs::read(file).expect("read file");
    let at = at as usize;
    bytes[at..at + count].iter_mut().for_each(|b| *b = !*b);
    std::fs::write(file, bytes).expect("write file back");
}

fn truncate_to(file: &Path, len: u64) {
    let f = OpenOptions::new()
        .write(true)
        .open(file)
        .expect("open file");
    f.set_len(len).expect("truncate");
    f.sync_all().expect("sync");
}

fn size(file: &Path) -> u64 {
    std::fs::metadata(file).expect("metadata").len()
}

/// The open fails with [`StoreError::Corrupted`], whose message names `names` (a file or the
/// WAL) and says what to do.
fn assert_refused(dir: &Path, names: &str) {
    let err = moor_raft_store::open(dir).expect_err("a damaged store must not open");
    let message = err.to_string();
    assert!(
        matches!(err, StoreError::Corrupted { .. }),
        "not a corruption error: {err:?}"
    );
    assert!(message.contains(names), "does not name {names}: {message}");
    assert!(message.contains(RUNBOOK), "no runbook step: {message}");
    assert!(
        message.contains(&dir.display().to_string()),
        "does not name the data dir: {message}"
    );
}

/// A store whose largest table `damage` damaged is refused, naming that table.
async fn assert_damaged_table_refused(damage: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path()).await;
    flush_to_tables(dir.path());
    let table = largest(dir.path(), "sst");
    damage(&table);
    let name = table.file_name().expect("file name").to_string_lossy();
    assert_refused(dir.path(), &name);
}

#[tokio::test]
async fn flipped_bytes_in_a_table_data_block_are_found_at_open() {
    // Data blocks come first in a table, the index and footer last: a third of the way in
    // is the middle of some data block, which RocksDB's open-time checks never read.
    assert_damaged_table_refused(|table| flip_bytes(table, size(table) / 3, 8)).await;
}

#[tokio::test]
async fn a_truncated_table_is_found_at_open() {
    assert_damaged_table_refused(|table| truncate_to(table, size(table) / 2)).await;
}

#[tokio::test]
async fn flipped_bytes_in_the_wal_before_acknowledged_records_are_found_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path()).await;
    let wal = largest(dir.path(), "log");
    // Half-way through the WAL: about a hundred synced (acknowledged) appends follow.
    flip_bytes(&wal, size(&wal) / 2, 8);
    assert_refused(dir.path(), "write-ahead log");
}

#[tokio::test]
async fn a_torn_wal_tail_is_a_crash_and_opens_with_what_came_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path()).await;
    let wal = largest(dir.path(), "log");
    // What a crash in the middle of the last write leaves: its record cut short.
    truncate_to(&wal, size(&wal) - 10);

    let (_store, mut log, _sm, _app) = open_all(dir.path());
    let entries = log.try_get_log_entries(..).await.expect("read log");
    let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
    // The torn record is the last append; every one before it is there.
    assert_eq!(indexes, (1..ENTRIES).collect::<Vec<_>>());
    let last: &openraft::Entry<KvConfig> = entries.last().expect("entries");
    assert_eq!(last.log_id.index, ENTRIES - 1);
}

#[tokio::test]
async fn damage_met_while_running_is_published_as_a_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_entries(dir.path()).await;
    flush_to_tables(dir.path());
    let (store, mut log, _sm, _app) = open_all(dir.path());
    let fault = store.fault();
    assert!(fault.get().is_none(), "a healthy store has no fault");

    // The disk goes bad under the running member: the next read of that block fails.
    let table = largest(dir.path(), "sst");
    flip_bytes(&table, size(&table) / 3, 8);
    let err = log
        .try_get_log_entries(..)
        .await
        .expect_err("a damaged block must not be read as data");
    let name = table.file_name().expect("file name").to_string_lossy();
    assert!(err.to_string().contains(RUNBOOK), "{err}");
    let message = fault.get().expect("the corruption is published");
    assert!(message.contains(name.as_ref()), "{message}");
    assert!(message.contains(RUNBOOK), "{message}");
    assert_eq!(
        &*tokio::time::timeout(std::time::Duration::from_secs(5), fault.wait())
            .await
            .expect("wait resolves at once"),
        &*message
    );
}
