//! Opening the RocksDB database that holds one member's Raft state, and its on-disk format.
//!
//! One database, three column families:
//! - `meta`: small records (`format_version`, `vote`, `committed`, `last_purged`),
//! - `logs`: log entries keyed by index as big-endian `u64`, so byte order is log order,
//! - `snapshot`: the last snapshot of the application and its metadata.
//!
//! The layout is versioned from day one: `meta/format_version` says which layout wrote the
//! directory, and a build refuses a directory written by another layout rather than
//! misreading it. Every value besides `format_version` carries its own encoding-version byte
//! (see `codec`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use openraft::{Entry, RaftTypeConfig};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, DBPinnableSlice, DBRecoveryMode,
    IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions, DB,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{self, CodecError};
use crate::corruption::{self, FaultCell, StoreFault, Verification};
use crate::flusher::{Flusher, FlusherStopped};
use crate::{Application, RocksLogStore, RocksStateMachine};

/// The on-disk layout this build reads and writes. Bump it (and add a migration or a clear
/// refusal) whenever a key, a column family or the meaning of a value changes.
pub const FORMAT_VERSION: u32 = 1;

pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_LOGS: &str = "logs";
pub(crate) const CF_SNAPSHOT: &str = "snapshot";

pub(crate) const KEY_FORMAT_VERSION: &[u8] = b"format_version";
pub(crate) const KEY_VOTE: &[u8] = b"vote";
pub(crate) const KEY_COMMITTED: &[u8] = b"committed";
pub(crate) const KEY_LAST_PURGED: &[u8] = b"last_purged";
pub(crate) const KEY_SNAPSHOT: &[u8] = b"current";

/// What a storage operation was working on when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// `meta/format_version`.
    FormatVersion,
    /// `meta/vote`.
    Vote,
    /// `meta/committed`.
    Committed,
    /// `meta/last_purged`.
    LastPurged,
    /// One log entry, by index.
    LogEntry(u64),
    /// A range of the log.
    Logs,
    /// The persisted snapshot.
    Snapshot,
    /// The in-memory application state.
    Application,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::FormatVersion => f.write_str("the format version"),
            Subject::Vote => f.write_str("the vote"),
            Subject::Committed => f.write_str("the committed log id"),
            Subject::LastPurged => f.write_str("the last purged log id"),
            Subject::LogEntry(index) => write!(f, "log entry {index}"),
            Subject::Logs => f.write_str("the log"),
            Subject::Snapshot => f.write_str("the snapshot"),
            Subject::Application => f.write_str("the application state"),
        }
    }
}

/// What a storage operation was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Reading from RocksDB.
    Read,
    /// Writing to RocksDB.
    Write,
    /// Deleting from RocksDB.
    Delete,
    /// Encoding a value before writing it.
    Encode,
    /// Decoding a value after reading it.
    Decode,
    /// Serialising the application for a snapshot.
    Snapshot,
    /// Replacing the application with a snapshot's content.
    Restore,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Read => "reading",
            Operation::Write => "writing",
            Operation::Delete => "deleting",
            Operation::Encode => "encoding",
            Operation::Decode => "decoding",
            Operation::Snapshot => "snapshotting",
            Operation::Restore => "restoring",
        })
    }
}

/// Everything that can go wrong in the store, with what it was doing to what.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB could not open the directory.
    #[error("cannot open the Raft data dir {path}: {source}")]
    Open {
        /// The data directory.
        path: PathBuf,
        /// RocksDB's reason.
        source: rocksdb::Error,
    },
    /// The directory was written by another on-disk layout.
    #[error(
        "data dir {path} was written by format {found}, this moord reads format {expected}: use a \
         matching moord or wipe the member and re-add it"
    )]
    FormatVersion {
        /// The data directory.
        path: PathBuf,
        /// The format recorded in the directory.
        found: u32,
        /// The format this build reads ([`FORMAT_VERSION`]).
        expected: u32,
    },
    /// The directory holds data but no readable format version.
    #[error(
        "data dir {path} is not a moord Raft data dir or is damaged ({reason}): point the data dir \
         elsewhere, or wipe the member and re-add it"
    )]
    UnknownFormat {
        /// The data directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A RocksDB read, write or delete failed.
    #[error("{operation} {subject}: {source}")]
    Db {
        /// What was being done.
        operation: Operation,
        /// To what.
        subject: Subject,
        /// RocksDB's reason.
        source: rocksdb::Error,
    },
    /// A value could not be encoded, or a stored value could not be decoded.
    #[error("{operation} {subject}: {source}")]
    Codec {
        /// Encoding or decoding.
        operation: Operation,
        /// Which value.
        subject: Subject,
        /// The codec's reason.
        source: CodecError,
    },
    /// The application refused to snapshot or restore its state.
    #[error("{operation} {subject}: {reason}")]
    Application {
        /// Snapshotting or restoring.
        operation: Operation,
        /// Always [`Subject::Application`]; kept for uniform messages.
        subject: Subject,
        /// The application's reason.
        reason: String,
    },
    /// An earlier WAL sync failed, so nothing written since can be trusted to be durable.
    #[error(
        "an earlier WAL sync failed ({reason}): the Raft log is read-only; restart the member \
         once the disk is healthy"
    )]
    WalSyncFailed {
        /// The sync failure.
        reason: String,
    },
    /// The group-commit thread could not be started or has stopped.
    #[error("the WAL flusher thread: {0}")]
    Flusher(String),
    /// A column family the store created at open is missing: a bug, not an operating error.
    #[error("column family {0} is missing")]
    MissingColumnFamily(&'static str),
    /// The store was closed (its state machine is gone): the member is stopping.
    #[error("the Raft store is closed: the member is stopping")]
    Closed,
    /// The application lock was poisoned by a panic while it was held.
    #[error("the application state lock is poisoned: an earlier apply or snapshot panicked")]
    Poisoned,
    /// Stored data breaks a storage invariant (e.g. a hole in the log).
    #[error("storage invariant broken: {0}")]
    Invariant(String),
    /// A file of the data directory is damaged (a checksum mismatch, a truncated table, a
    /// broken write-ahead log): the member must not serve from it.
    #[error("{location} in the Raft data dir {path} is corrupted ({detail}): {runbook}", runbook = crate::corruption::RUNBOOK)]
    Corrupted {
        /// The data directory.
        path: PathBuf,
        /// The file RocksDB named, or where the damage was found when it named none.
        location: String,
        /// RocksDB's message.
        detail: String,
    },
    /// The start-up verification could not read a column family (not a corruption: an I/O
    /// error, for instance).
    #[error("cannot verify column family {column_family} of the Raft data dir {path}: {source}")]
    Verify {
        /// The data directory.
        path: PathBuf,
        /// The column family being read.
        column_family: &'static str,
        /// RocksDB's reason.
        source: rocksdb::Error,
    },
    /// Seeding (a restore) needs a data directory that has never held Raft state.
    #[error(
        "data dir {path} already holds Raft state ({what}): a restore seeds a new, empty data \
         dir only; pick another --data-dir or delete this one first"
    )]
    NotEmpty {
        /// The data directory.
        path: PathBuf,
        /// What was found in it.
        what: String,
    },
}

impl From<FlusherStopped> for StoreError {
    fn from(e: FlusherStopped) -> Self {
        StoreError::Flusher(e.to_string())
    }
}

/// Counters for benchmarks and metrics; cheap to update on every append.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// `append` calls.
    pub log_appends: AtomicU64,
    /// Entries written by `append` calls.
    pub log_entries: AtomicU64,
    /// WAL syncs done since open: one per group commit plus one per synced write (vote,
    /// truncate, purge, snapshot).
    pub fsyncs: AtomicU64,
    /// How long each WAL sync took.
    pub fsync_latency: crate::latency::Latency,
    /// How long writing each appended batch took (before its sync).
    pub append_latency: crate::latency::Latency,
}

/// A plain copy of [`StoreStats`] at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// `append` calls.
    pub log_appends: u64,
    /// Entries written by `append` calls.
    pub log_entries: u64,
    /// WAL syncs done.
    pub fsyncs: u64,
}

impl StoreStats {
    /// Reads all counters (each atomically, not all at once).
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            log_appends: self.log_appends.load(Ordering::Relaxed),
            log_entries: self.log_entries.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
        }
    }
}

/// An open Raft data directory; hands out the log store and the state machine.
///
/// Cloning is cheap. The database closes when the last `Store`, log store and state machine
/// made from it are dropped.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Arc<OpenDb>,
    pub(crate) stats: Arc<StoreStats>,
    flusher: Arc<Flusher>,
    path: PathBuf,
    closed: tokio::sync::watch::Receiver<bool>,
    verification: Verification,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Opens (creating if missing) the Raft data directory at `path`.
///
/// A new directory gets the current [`FORMAT_VERSION`]; an existing one must have it. Every
/// block is read and its checksum verified before this returns (see `corruption`): a
/// damaged file fails the open with [`StoreError::Corrupted`].
pub fn open(path: &Path) -> Result<Store, StoreError> {
    let mut db_opts = Options::default();
    db_opts.create_if_missing(true);
    db_opts.create_missing_column_families(true);
    // Fail loudly on corruption found while reading, instead of serving what is left.
    db_opts.set_paranoid_checks(true);
    // Replaying the WAL at open: a record cut short at the very end is what a crash (SIGKILL,
    // power loss) mid-write leaves, and it was never acknowledged (acknowledgement waits for
    // the sync that completes it), so it is dropped. Damage followed by further records is
    // not a crash but a bad disk, and those later records may be acknowledged entries or a
    // vote: the open fails rather than silently forgetting them. RocksDB's default
    // (point-in-time) would stop replaying at the damage and open without them, which for a
    // Raft member means forgetting a vote or entries the leader counted as replicated.
    db_opts.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);

    let mut cf_opts = Options::default();
    // LZ4 is the only codec compiled in (see the workspace Cargo.toml).
    cf_opts.set_compression_type(DBCompressionType::Lz4);
    let cfs = [CF_META, CF_LOGS, CF_SNAPSHOT]
        .map(|name| ColumnFamilyDescriptor::new(name, cf_opts.clone()));

    let db = DB::open_cf_descriptors(&db_opts, path, cfs).map_err(|source| {
        corruption::corrupted(path, &source, &corruption::unnamed_at_open(path)).unwrap_or(
            StoreError::Open {
                path: path.to_path_buf(),
                source,
            },
        )
    })?;
    let verification = corruption::verify_every_block(&db, path)?;
    tracing::info!(
        path = %path.display(),
        keys = verification.keys,
        bytes = verification.bytes,
        elapsed_ms = verification.elapsed.as_millis() as u64,
        "verified the checksum of every block of the Raft store"
    );
    check_format_version(&db, path)?;

    let (closed_tx, closed) = tokio::sync::watch::channel(false);
    let db = Arc::new(OpenDb {
        db,
        fault: FaultCell::new(path),
        _closed: ClosedOnDrop(closed_tx),
    });
    let stats = Arc::new(StoreStats::default());
    let flusher = Flusher::spawn({
        let db = Arc::clone(&db);
        let stats = Arc::clone(&stats);
        move || {
            let started = std::time::Instant::now();
            let result = db.flush_wal(true).map_err(|e| e.to_string());
            stats.fsync_latency.record(started.elapsed());
            stats.fsyncs.fetch_add(1, Ordering::Relaxed);
            result
        }
    })
    .map_err(|e| StoreError::Flusher(format!("cannot start: {e}")))?;

    tracing::info!(path = %path.display(), format_version = FORMAT_VERSION, "opened Raft store");
    Ok(Store {
        db,
        stats,
        flusher: Arc::new(flusher),
        path: path.to_path_buf(),
        closed,
        verification,
    })
}

/// The open database. The last reference to it closes it (RocksDB releases the directory's
/// lock) and then tells every [`StoreClosed`].
pub(crate) struct OpenDb {
    // Fields drop in order: the database first, then the signal.
    db: DB,
    /// Corruptions met while running, for the owner of the store.
    pub(crate) fault: FaultCell,
    _closed: ClosedOnDrop,
}

impl std::ops::Deref for OpenDb {
    type Target = DB;
    fn deref(&self) -> &DB {
        &self.db
    }
}

struct ClosedOnDrop(tokio::sync::watch::Sender<bool>);

impl Drop for ClosedOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// Resolves once the database of a [`Store`] is closed: every `Store`, log store and state
/// machine made from it dropped. A process that opens the same directory again (a member
/// restarted in-process) waits for this instead of racing RocksDB's lock.
#[derive(Debug, Clone)]
pub struct StoreClosed(tokio::sync::watch::Receiver<bool>);

impl StoreClosed {
    /// Waits until the database is closed.
    pub async fn wait(mut self) {
        // An error means the sender is gone, which happens only after it signalled.
        let _ = self.0.wait_for(|closed| *closed).await;
    }
}

/// Refuses a directory written by another layout; stamps a brand-new one.
///
/// `format_version` is a raw big-endian `u32`, not a codec value: it is the one value every
/// past and future build must be able to read before it knows anything else.
fn check_format_version(db: &DB, path: &Path) -> Result<(), StoreError> {
    let meta = cf(db, CF_META)?;
    let stored = db
        .get_cf(meta, KEY_FORMAT_VERSION)
        .map_err(|source| StoreError::Db {
            operation: Operation::Read,
            subject: Subject::FormatVersion,
            source,
        })?;
    match stored {
        Some(raw) => {
            let found = <[u8; 4]>::try_from(raw.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::UnknownFormat {
                    path: path.to_path_buf(),
                    reason: format!("format_version is {} bytes long, expected 4", raw.len()),
                })?;
            if found != FORMAT_VERSION {
                return Err(StoreError::FormatVersion {
                    path: path.to_path_buf(),
                    found,
                    expected: FORMAT_VERSION,
                });
            }
            Ok(())
        }
        None => {
            for name in [CF_META, CF_LOGS, CF_SNAPSHOT] {
                if db
                    .iterator_cf(cf(db, name)?, IteratorMode::Start)
                    .next()
                    .is_some()
                {
                    return Err(StoreError::UnknownFormat {
                        path: path.to_path_buf(),
                        reason: format!(
                            "column family {name} holds data but there is no format_version"
                        ),
                    });
                }
            }
            db.put_cf_opt(
                meta,
                KEY_FORMAT_VERSION,
                FORMAT_VERSION.to_be_bytes(),
                &write_options(true),
            )
            .map_err(|source| StoreError::Db {
                operation: Operation::Write,
                subject: Subject::FormatVersion,
                source,
            })
        }
    }
}

impl Store {
    /// The Raft log storage over this directory. All log stores of one `Store` share one
    /// group-commit thread.
    pub fn log_store<C>(&self) -> RocksLogStore<C>
    where
        C: RaftTypeConfig<Entry = Entry<C>>,
    {
        RocksLogStore::new(
            Arc::clone(&self.db),
            Arc::clone(&self.stats),
            Arc::clone(&self.flusher),
        )
    }

    /// The Raft state machine over this directory, driving `app`.
    ///
    /// If a snapshot was persisted, `app` is restored from it and the state machine starts at
    /// its last log id, so a restarted member only replays the log after it.
    pub fn state_machine<C, A>(
        &self,
        app: Arc<RwLock<A>>,
    ) -> Result<RocksStateMachine<C, A>, StoreError>
    where
        C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = crate::SnapshotBytes>,
        A: Application<C>,
    {
        RocksStateMachine::open(Arc::clone(&self.db), Arc::clone(&self.stats), app)
    }

    /// The store's counters, shared with the log store that updates them.
    pub fn stats(&self) -> Arc<StoreStats> {
        Arc::clone(&self.stats)
    }

    /// A handle that resolves once this store's database is closed (it does not keep the
    /// database open itself).
    pub fn closed(&self) -> StoreClosed {
        StoreClosed(self.closed.clone())
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves with the first corruption met by any read or write of this store.
    pub fn fault(&self) -> StoreFault {
        self.db.fault.subscribe()
    }

    /// What the start-up verification read and how long it took.
    pub fn verification(&self) -> Verification {
        self.verification
    }
}

/// Looks up a column family created at open.
pub(crate) fn cf<'a>(db: &'a DB, name: &'static str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name)
        .ok_or(StoreError::MissingColumnFamily(name))
}

/// Write options: `sync` makes the write (and every write before it) durable before returning.
pub(crate) fn write_options(sync: bool) -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(sync);
    opts
}

/// Reads and decodes one value.
pub(crate) fn get_value<T: DeserializeOwned>(
    db: &DB,
    cf_name: &'static str,
    key: &[u8],
    subject: Subject,
) -> Result<Option<T>, StoreError> {
    get_pinned(db, cf_name, key, subject)?
        .map(|raw| {
            codec::decode(&raw).map_err(|source| StoreError::Codec {
                operation: Operation::Decode,
                subject,
                source,
            })
        })
        .transpose()
}

/// Reads one value's bytes without copying them out of RocksDB.
///
/// Not through the block cache: these values (the vote, what is committed or purged, the
/// snapshot) are read once at open or when a snapshot is sent, and the snapshot is a
/// single block the size of the whole state's encoding, which the cache kept alive after
/// use while nothing else was read (docs/BENCHMARKS.md, "A member started on a snapshot").
pub(crate) fn get_pinned<'a>(
    db: &'a DB,
    cf_name: &'static str,
    key: &[u8],
    subject: Subject,
) -> Result<Option<DBPinnableSlice<'a>>, StoreError> {
    let mut once = ReadOptions::default();
    once.fill_cache(false);
    db.get_pinned_cf_opt(cf(db, cf_name)?, key, &once)
        .map_err(|source| StoreError::Db {
            operation: Operation::Read,
            subject,
            source,
        })
}

/// Encodes a value for `subject`.
pub(crate) fn encode_value<T: Serialize + ?Sized>(
    value: &T,
    subject: Subject,
) -> Result<Vec<u8>, StoreError> {
    codec::encode(value).map_err(|source| StoreError::Codec {
        operation: Operation::Encode,
        subject,
        source,
    })
}

/// Writes a batch, counting the WAL sync if `sync`.
pub(crate) fn write_batch(
    db: &DB,
    stats: &StoreStats,
    batch: WriteBatch,
    sync: bool,
    operation: Operation,
    subject: Subject,
) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let result = db.write_opt(batch, &write_options(sync));
    if sync {
        stats.fsync_latency.record(started.elapsed());
        stats.fsyncs.fetch_add(1, Ordering::Relaxed);
    }
    result.map_err(|source| StoreError::Db {
        operation,
        subject,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_dir_is_stamped_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(open(dir.path()).expect("create"));
        let store = open(dir.path()).expect("reopen");
        let raw = store
            .db
            .get_cf(cf(&store.db, CF_META).expect("meta"), KEY_FORMAT_VERSION)
            .expect("read");
        assert_eq!(raw, Some(FORMAT_VERSION.to_be_bytes().to_vec()));
    }

    #[test]
    fn stored_values_are_read_past_the_block_cache() {
        // The snapshot is one value, so one block the size of the state's encoding: read
        // through the cache, it stayed there after use.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path()).expect("create");
        let snapshots = cf(&store.db, CF_SNAPSHOT).expect("snapshot cf");
        let value: Vec<u8> = (0..(4u32 << 20))
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        store
            .db
            .put_cf(
                snapshots,
                KEY_SNAPSHOT,
                encode_value(&value, Subject::Snapshot).expect("encode"),
            )
            .expect("write");
        store.db.flush_cf(snapshots).expect("flush");
        let usage = || {
            store
                .db
                .property_int_value_cf(snapshots, "rocksdb.block-cache-usage")
                .expect("property")
                .unwrap_or(0)
        };
        let read: Option<Vec<u8>> =
            get_value(&store.db, CF_SNAPSHOT, KEY_SNAPSHOT, Subject::Snapshot).expect("read");
        assert_eq!(read.as_deref(), Some(&value[..]));
        assert!(usage() < 1 << 20, "{} bytes cached", usage());
        // Read through the cache, the same value would be held there.
        store
            .db
            .get_pinned_cf(snapshots, KEY_SNAPSHOT)
            .expect("cached read");
        assert!(usage() >= 4 << 20, "{} bytes cached", usage());
    }

    #[test]
    fn another_format_version_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = open(dir.path()).expect("create");
            let meta = cf(&store.db, CF_META).expect("meta");
            store
                .db
                .put_cf(meta, KEY_FORMAT_VERSION, 7u32.to_be_bytes())
                .expect("write");
        }
        let err = open(dir.path()).expect_err("format 7 must be refused");
        assert!(
            matches!(
                err,
                StoreError::FormatVersion {
                    found: 7,
                    expected: FORMAT_VERSION,
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("format 7"), "{message}");
        assert!(
            message.contains("wipe the member and re-add it"),
            "{message}"
        );
    }

    #[test]
    fn data_without_a_format_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = open(dir.path()).expect("create");
            let meta = cf(&store.db, CF_META).expect("meta");
            store
                .db
                .delete_cf(meta, KEY_FORMAT_VERSION)
                .expect("delete");
            store
                .db
                .put_cf(
                    cf(&store.db, CF_LOGS).expect("logs"),
                    1u64.to_be_bytes(),
                    b"x",
                )
                .expect("write");
        }
        let err = open(dir.path()).expect_err("must be refused");
        assert!(matches!(err, StoreError::UnknownFormat { .. }), "{err:?}");
    }
}
