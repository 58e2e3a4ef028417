//! openraft's log storage on RocksDB: entries, vote, committed and purge pointers.
//!
//! Durability is openraft's contract, and breaking it loses acknowledged writes silently:
//! - `append` writes all its entries in one `WriteBatch` without syncing (so they are
//!   readable at once from the memtable) and hands the `LogFlushed` callback to the
//!   group-commit flusher, which fires it only after a WAL sync covering the batch;
//! - `save_vote`, `truncate` and `purge`'s pointer are synced before they return. A synced
//!   write also makes every earlier write durable, since RocksDB keeps one ordered WAL, so
//!   nothing is reordered across an unsynced append;
//! - `purge` records `last_purged` (synced) before deleting entries: a crash in between
//!   leaves only extra entries below the pointer, never a pointer below missing entries.
//!
//! Once a WAL sync has failed every write is refused (see `flusher`).

use std::fmt::{self, Debug};
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    Entry, LogId, OptionalSend, RaftLogReader, RaftTypeConfig, StorageError, StorageIOError, Vote,
};
use rocksdb::{IteratorMode, ReadOptions, WriteBatch};

use crate::flusher::{Completion, Flusher};
use crate::store::{
    cf, encode_value, get_value, write_batch, OpenDb, Operation, StoreError, StoreStats, Subject,
    CF_LOGS, CF_META, KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE,
};

/// Past every log key: keys are exactly 8 bytes, so any 9-byte key sorts after all of them.
const LOG_KEY_END: [u8; 9] = [0xff; 9];

/// The `logs` key of an index: big-endian, so RocksDB's byte order is log order.
fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn index_of_key(key: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Invariant(format!("log key of {} bytes, expected 8", key.len())))
}

/// openraft's `RaftLogStorage` and `RaftLogReader` over the `logs` and `meta` column families.
///
/// Clones share the database and the flusher; the log reader openraft asks for is a clone.
pub struct RocksLogStore<C> {
    db: Arc<OpenDb>,
    stats: Arc<StoreStats>,
    flusher: Arc<Flusher>,
    /// Most stored bytes of entries handed to one AppendEntries call (at least one entry
    /// always goes): see [`RocksLogStore::with_append_budget`].
    append_budget: usize,
    _config: PhantomData<fn() -> C>,
}

impl<C> Clone for RocksLogStore<C> {
    fn clone(&self) -> Self {
        Self {
            db: Arc::clone(&self.db),
            stats: Arc::clone(&self.stats),
            flusher: Arc::clone(&self.flusher),
            append_budget: self.append_budget,
            _config: PhantomData,
        }
    }
}

impl<C> Debug for RocksLogStore<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksLogStore")
            .field("flusher", &self.flusher)
            .field("append_budget", &self.append_budget)
            .finish_non_exhaustive()
    }
}

impl<C> RocksLogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    pub(crate) fn new(db: Arc<OpenDb>, stats: Arc<StoreStats>, flusher: Arc<Flusher>) -> Self {
        Self {
            db,
            stats,
            flusher,
            append_budget: usize::MAX,
            _config: PhantomData,
        }
    }

    /// Bounds what replication reads for one AppendEntries call to `bytes` of stored entries
    /// (the first entry always goes, whatever its size), on top of openraft's bound in
    /// entries. openraft gives an AppendEntries call one heartbeat interval to come back,
    /// the follower's fsync included; a call that cannot make it in time is retried with
    /// the same entries and times out again, so without a bound in bytes a follower that
    /// lags by many large entries never catches up (and elections follow).
    pub fn with_append_budget(mut self, bytes: usize) -> Self {
        self.append_budget = bytes.max(1);
        self
    }

    /// Refuses writes once a WAL sync has failed: what follows could not be made durable.
    fn check_writable(&self) -> Result<(), StoreError> {
        match self.flusher.failure() {
            Some(reason) => Err(StoreError::WalSyncFailed {
                reason: reason.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Writes `entries` in one batch, then queues `completion` for the WAL sync covering it.
    pub(crate) async fn append_then<I>(
        &self,
        entries: I,
        completion: Completion,
    ) -> Result<(), StoreError>
    where
        I: IntoIterator<Item = Entry<C>>,
    {
        self.write_entries(entries)?;
        self.flusher.submit(completion).await?;
        Ok(())
    }

    fn write_entries<I>(&self, entries: I) -> Result<(), StoreError>
    where
        I: IntoIterator<Item = Entry<C>>,
    {
        self.check_writable()?;
        let logs = cf(&self.db, CF_LOGS)?;
        let mut batch = WriteBatch::default();
        let mut count = 0u64;
        let mut previous: Option<u64> = None;
        for entry in entries {
            let index = entry.log_id.index;
            // A hole inside one append would go unnoticed by Raft, which only checks last ids.
            if let Some(previous) = previous {
                if previous.checked_add(1) != Some(index) {
                    return Err(StoreError::Invariant(format!(
                        "appended entries are not consecutive: {index} follows {previous}"
                    )));
                }
            }
            previous = Some(index);
            batch.put_cf(
                logs,
                log_key(index),
                encode_value(&entry, Subject::LogEntry(index))?,
            );
            count += 1;
        }
        // Not synced: the flusher syncs once for every append queued meanwhile.
        let started = std::time::Instant::now();
        write_batch(
            &self.db,
            &self.stats,
            batch,
            false,
            Operation::Write,
            Subject::Logs,
        )?;
        self.stats.append_latency.record(started.elapsed());
        self.stats
            .log_appends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stats
            .log_entries
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Entries in `[start, end)` (`end = None`: to the last one), consecutive from the first
    /// one present. Entries may be missing before the first (purged), never between two.
    fn read_entries(&self, start: u64, end: Option<u64>) -> Result<Vec<Entry<C>>, StoreError> {
        self.read_entries_within(start, end, usize::MAX)
    }

    /// Like [`Self::read_entries`], but stops before the entry that would take the stored
    /// bytes read past `budget`; the first entry is always read.
    fn read_entries_within(
        &self,
        start: u64,
        end: Option<u64>,
        budget: usize,
    ) -> Result<Vec<Entry<C>>, StoreError> {
        if end.is_some_and(|end| end <= start) {
            return Ok(Vec::new());
        }
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(log_key(start).to_vec());
        if let Some(end) = end {
            opts.set_iterate_upper_bound(log_key(end).to_vec());
        }
        let mut entries: Vec<Entry<C>> = Vec::new();
        let mut bytes = 0usize;
        for item in self
            .db
            .iterator_cf_opt(cf(&self.db, CF_LOGS)?, opts, IteratorMode::Start)
        {
            let (key, value) = item.map_err(|source| StoreError::Db {
                operation: Operation::Read,
                subject: Subject::Logs,
                source,
            })?;
            bytes = bytes.saturating_add(value.len());
            if !entries.is_empty() && bytes > budget {
                break;
            }
            let index = index_of_key(&key)?;
            let entry: Entry<C> =
                crate::codec::decode(&value).map_err(|source| StoreError::Codec {
                    operation: Operation::Decode,
                    subject: Subject::LogEntry(index),
                    source,
                })?;
            if entry.log_id.index != index {
                return Err(StoreError::Invariant(format!(
                    "log key {index} holds the entry of index {}",
                    entry.log_id.index
                )));
            }
            if let Some(last) = entries.last() {
                if last.log_id.index + 1 != index {
                    return Err(StoreError::Invariant(format!(
                        "hole in the log: entry {index} follows {}",
                        last.log_id.index
                    )));
                }
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    fn last_entry_id(&self) -> Result<Option<LogId<C::NodeId>>, StoreError> {
        let logs = cf(&self.db, CF_LOGS)?;
        let Some(item) = self.db.iterator_cf(logs, IteratorMode::End).next() else {
            return Ok(None);
        };
        let (key, value) = item.map_err(|source| StoreError::Db {
            operation: Operation::Read,
            subject: Subject::Logs,
            source,
        })?;
        let index = index_of_key(&key)?;
        let entry: Entry<C> = crate::codec::decode(&value).map_err(|source| StoreError::Codec {
            operation: Operation::Decode,
            subject: Subject::LogEntry(index),
            source,
        })?;
        Ok(Some(entry.log_id))
    }

    fn log_state(&self) -> Result<LogState<C>, StoreError> {
        let last_purged_log_id: Option<LogId<C::NodeId>> =
            get_value(&self.db, CF_META, KEY_LAST_PURGED, Subject::LastPurged)?;
        // A purge past the last entry leaves no entry at all, and a crash between a purge's
        // pointer and its deletion can leave entries below the pointer: the pointer wins.
        let last_log_id = std::cmp::max(self.last_entry_id()?, last_purged_log_id.clone());
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        key: &[u8],
        value: &T,
        subject: Subject,
        sync: bool,
    ) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf(&self.db, CF_META)?, key, encode_value(value, subject)?);
        write_batch(
            &self.db,
            &self.stats,
            batch,
            sync,
            Operation::Write,
            subject,
        )
    }

    fn truncate_since(&self, index: u64) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            cf(&self.db, CF_LOGS)?,
            &log_key(index)[..],
            &LOG_KEY_END[..],
        );
        // Synced: a truncated entry that came back after a crash would be a conflicting entry.
        write_batch(
            &self.db,
            &self.stats,
            batch,
            true,
            Operation::Delete,
            Subject::Logs,
        )
    }

    fn purge_upto(&self, log_id: &LogId<C::NodeId>) -> Result<(), StoreError> {
        self.put_meta(KEY_LAST_PURGED, log_id, Subject::LastPurged, true)?;
        let mut batch = WriteBatch::default();
        let logs = cf(&self.db, CF_LOGS)?;
        match log_id.index.checked_add(1) {
            Some(end) => batch.delete_range_cf(logs, &log_key(0)[..], &log_key(end)[..]),
            None => batch.delete_range_cf(logs, &log_key(0)[..], &LOG_KEY_END[..]),
        }
        // Not synced: if the deletion is lost in a crash, the entries below the synced pointer
        // are only garbage, ignored by `get_log_state` and deleted by the next purge.
        write_batch(
            &self.db,
            &self.stats,
            batch,
            false,
            Operation::Delete,
            Subject::Logs,
        )
    }
}

/// Turns a range into `[start, end)` with `end = None` meaning unbounded.
fn bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(&s) => Some(s),
        Bound::Excluded(&s) => s.checked_add(1),
        Bound::Unbounded => Some(0),
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    };
    match start {
        Some(start) => (start, end),
        // `(u64::MAX, ..)`: nothing can be in it.
        None => (0, Some(0)),
    }
}

impl<C> RaftLogReader<C> for RocksLogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<C>>, StorageError<C::NodeId>> {
        let (start, end) = bounds(&range);
        self.read_entries(start, end)
            .map_err(|e| StorageIOError::read_logs(&self.db.fault.noticed(e)).into())
    }

    /// What replication sends in one AppendEntries call: `[start, end)` cut to the append
    /// budget (never empty when the range is not).
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry<C>>, StorageError<C::NodeId>> {
        self.read_entries_within(start, Some(end), self.append_budget)
            .map_err(|e| StorageIOError::read_logs(&self.db.fault.noticed(e)).into())
    }
}

impl<C> RaftLogStorage<C> for RocksLogStore<C>
where
    C: RaftTypeConfig<Entry = Entry<C>>,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        self.log_state()
            .map_err(|e| StorageIOError::read_logs(&self.db.fault.noticed(e)).into())
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.put_meta(KEY_VOTE, vote, Subject::Vote, true)
            .map_err(|e| StorageIOError::write_vote(&self.db.fault.noticed(e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        get_value(&self.db, CF_META, KEY_VOTE, Subject::Vote)
            .map_err(|e| StorageIOError::read_vote(&self.db.fault.noticed(e)).into())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        // Not synced: losing it in a crash only means re-applying less before the next commit
        // message; it is never ahead of the entries it points to, which were written first.
        self.put_meta(KEY_COMMITTED, &committed, Subject::Committed, false)
            .map_err(|e| StorageIOError::write_logs(&self.db.fault.noticed(e)).into())
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        let committed: Option<Option<LogId<C::NodeId>>> =
            get_value(&self.db, CF_META, KEY_COMMITTED, Subject::Committed)
                .map_err(|e| StorageIOError::read_logs(&self.db.fault.noticed(e)))?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = Entry<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let completion: Completion = Box::new(move |result| callback.log_io_completed(result));
        self.append_then(entries, completion)
            .await
            .map_err(|e| StorageIOError::write_logs(&self.db.fault.noticed(e)).into())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        tracing::debug!(%log_id, "truncating the log");
        self.truncate_since(log_id.index)
            .map_err(|e| StorageIOError::write_logs(&self.db.fault.noticed(e)).into())
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        tracing::debug!(%log_id, "purging the log");
        self.purge_upto(&log_id)
            .map_err(|e| StorageIOError::write_logs(&self.db.fault.noticed(e)).into())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::mpsc;

    use openraft::testing::blank_ent;

    use super::*;

    openraft::declare_raft_types!(LogOnly);

    /// Many appends issued back to back, none waiting for its callback: every callback fires,
    /// in order, and they share WAL syncs rather than costing one each.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_in_flight_share_wal_syncs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::open(dir.path()).expect("open");
        let log = store.log_store::<LogOnly>();
        let (done_tx, done_rx) = mpsc::channel::<(u64, bool)>();

        const APPENDS: u64 = 500;
        for index in 0..APPENDS {
            let done = done_tx.clone();
            let completion: Completion = Box::new(move |r| {
                let _ = done.send((index, r.is_ok()));
            });
            log.append_then([blank_ent::<LogOnly>(1, 0, index)], completion)
                .await
                .expect("append");
            // Readable at once, before its sync.
            let read = log.read_entries(index, Some(index + 1)).expect("read");
            assert_eq!(
                read.len(),
                1,
                "entry {index} is readable before its callback"
            );
        }
        let fired: Vec<(u64, bool)> = (0..APPENDS)
            .map(|_| done_rx.recv().expect("callback"))
            .collect();
        assert_eq!(fired, (0..APPENDS).map(|i| (i, true)).collect::<Vec<_>>());

        let stats = store.stats().snapshot();
        eprintln!("{APPENDS} appends, {} WAL syncs", stats.fsyncs);
        assert_eq!(stats.log_appends, APPENDS);
        assert_eq!(stats.log_entries, APPENDS);
        assert!(stats.fsyncs <= stats.log_appends, "{stats:?}");
    }

    /// Replication's reads stop at the append budget in stored bytes, never return nothing
    /// for a non-empty range, and send an entry larger than the budget on its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replication_reads_are_cut_to_the_append_budget() {
        use openraft::{CommittedLeaderId, EntryPayload};
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::open(dir.path()).expect("open");
        // Entries 0..10 of 100 KB, then one of 1 MB, then 0..5 of 10 KB.
        let sizes: Vec<usize> = std::iter::repeat_n(100_000, 10)
            .chain([1_000_000])
            .chain(std::iter::repeat_n(10_000, 5))
            .collect();
        let entries: Vec<Entry<LogOnly>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Entry {
                log_id: LogId::new(CommittedLeaderId::new(1, 0), i as u64),
                payload: EntryPayload::Normal("x".repeat(n)),
            })
            .collect();
        let (tx, rx) = mpsc::channel();
        let log = store.log_store::<LogOnly>();
        log.append_then(
            entries,
            Box::new(move |r| {
                let _ = tx.send(r.is_ok());
            }),
        )
        .await
        .expect("append");
        assert!(rx.recv().expect("flushed"));

        let mut limited = log.clone().with_append_budget(350_000);
        let indexes = |v: Vec<Entry<LogOnly>>| v.iter().map(|e| e.log_id.index).collect::<Vec<_>>();
        // Three 100 KB entries fit in 350 KB; a fourth does not.
        let got = limited.limited_get_log_entries(0, 16).await.expect("read");
        assert_eq!(indexes(got), vec![0, 1, 2]);
        // The range's own end still applies.
        let got = limited.limited_get_log_entries(8, 10).await.expect("read");
        assert_eq!(indexes(got), vec![8, 9]);
        // An entry over the budget goes alone rather than never.
        let got = limited.limited_get_log_entries(9, 16).await.expect("read");
        assert_eq!(indexes(got), vec![9]);
        let got = limited.limited_get_log_entries(10, 16).await.expect("read");
        assert_eq!(indexes(got), vec![10]);
        let got = limited.limited_get_log_entries(11, 16).await.expect("read");
        assert_eq!(indexes(got), vec![11, 12, 13, 14, 15]);
        // Reads for anything else than replication are not cut.
        let got = limited.try_get_log_entries(0..16).await.expect("read");
        assert_eq!(got.len(), 16);
        // Without a budget, replication gets the whole range.
        let mut unlimited = log.clone();
        let got = unlimited
            .limited_get_log_entries(0, 16)
            .await
            .expect("read");
        assert_eq!(got.len(), 16);
    }

    #[test]
    fn range_bounds_become_half_open() {
        assert_eq!(bounds(&(3..7)), (3, Some(7)));
        assert_eq!(bounds(&(3..=7)), (3, Some(8)));
        assert_eq!(bounds(&(3..)), (3, None));
        assert_eq!(bounds(&(..)), (0, None));
        assert_eq!(bounds(&(..=u64::MAX)), (0, None));
        assert_eq!(
            bounds(&(Bound::Excluded(u64::MAX), Bound::Unbounded)),
            (0, Some(0))
        );
    }
}
