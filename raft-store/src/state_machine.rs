//! openraft's state machine storage: the application in memory, its snapshots on RocksDB.
//!
//! Applying never touches the disk: the application state lives in memory behind the
//! `Arc<RwLock<A>>` the node shares for queries, and only snapshots are persisted (synced,
//! in the `snapshot` column family). On open the last snapshot is restored and openraft
//! replays the log after it; that is why the log is only ever purged up to a persisted
//! snapshot, which openraft guarantees by purging after `build_snapshot` returns.
//!
//! `last_applied` and the last membership are changed only while the application's write
//! lock is held, in the same critical section as the application's own change, so a reader
//! holding the read lock (a query, or a snapshot being built) sees the three agree.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, RaftTypeConfig, Snapshot,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::codec::bin;
use crate::snapshot_data::{Deferred, DeferredSource, Held, SnapshotBytes};
use crate::store::{
    cf, encode_value, get_pinned, write_batch, OpenDb, Operation, StoreError, StoreStats, Subject,
    CF_SNAPSHOT, KEY_SNAPSHOT,
};
use crate::Application;

/// What was applied last, kept next to the application state it describes.
struct Applied<C: RaftTypeConfig> {
    last_applied: Option<LogId<C::NodeId>>,
    last_membership: StoredMembership<C::NodeId, C::Node>,
}

impl<C: RaftTypeConfig> Default for Applied<C> {
    fn default() -> Self {
        Self {
            last_applied: None,
            last_membership: StoredMembership::default(),
        }
    }
}

/// The snapshot data openraft stores and ships to followers: the application's own bytes
/// plus what they cover, so the blob is self-describing. Encoded from borrowed application
/// bytes and decoded borrowing them from the blob: a copy would be as large as the state's
/// encoding.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct SnapshotPayload<'a, C: RaftTypeConfig> {
    #[serde(
        borrow,
        serialize_with = "bin::serialize",
        deserialize_with = "bin::deserialize_borrowed"
    )]
    pub(crate) app: Cow<'a, [u8]>,
    pub(crate) last_applied: Option<LogId<C::NodeId>>,
    pub(crate) last_membership: StoredMembership<C::NodeId, C::Node>,
}

/// The [`SnapshotPayload`] encoding of the application's bytes `app` as of `meta`; `app` is
/// freed as soon as its encoding exists.
pub(crate) fn encode_payload<C: RaftTypeConfig>(
    app: Vec<u8>,
    meta: &SnapshotMeta<C::NodeId, C::Node>,
) -> Result<Vec<u8>, StoreError> {
    let payload = SnapshotPayload::<C> {
        app: Cow::Borrowed(&app),
        last_applied: meta.last_log_id.clone(),
        last_membership: meta.last_membership.clone(),
    };
    encode_value(&payload, Subject::Snapshot)
}

/// The persisted snapshot: openraft's metadata and the encoded [`SnapshotPayload`]. Written
/// from borrowed data and decoded borrowing it from the stored record.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct StoredSnapshot<'a, C: RaftTypeConfig> {
    pub(crate) meta: SnapshotMeta<C::NodeId, C::Node>,
    #[serde(
        borrow,
        serialize_with = "bin::serialize",
        deserialize_with = "bin::deserialize_borrowed"
    )]
    pub(crate) data: Cow<'a, [u8]>,
}

/// Decodes a stored snapshot record, borrowing its data.
fn decode_stored<C: RaftTypeConfig>(raw: &[u8]) -> Result<StoredSnapshot<'_, C>, StoreError> {
    crate::codec::decode(raw).map_err(|source| StoreError::Codec {
        operation: Operation::Decode,
        subject: Subject::Snapshot,
        source,
    })
}

/// Puts the snapshot `meta` with its encoded payload `data` under the snapshot key of
/// `batch`. The encoding is freed as soon as the batch holds its copy, so a snapshot is held
/// at most twice more while it is written (in the batch, then in RocksDB's memtable) besides
/// the caller's own bytes.
pub(crate) fn put_snapshot<C: RaftTypeConfig>(
    db: &rocksdb::DB,
    batch: &mut WriteBatch,
    meta: &SnapshotMeta<C::NodeId, C::Node>,
    data: &[u8],
) -> Result<(), StoreError> {
    let stored = StoredSnapshot::<C> {
        meta: meta.clone(),
        data: Cow::Borrowed(data),
    };
    let encoded = encode_value(&stored, Subject::Snapshot)?;
    batch.put_cf(cf(db, CF_SNAPSHOT)?, KEY_SNAPSHOT, &encoded);
    Ok(())
}

/// Why `apply` failed, and at which entry if it got that far.
struct ApplyFailure<NID: openraft::NodeId> {
    log_id: Option<LogId<NID>>,
    error: StoreError,
}

/// State shared by the state machine and its snapshot builders.
struct Shared<C: RaftTypeConfig, A> {
    db: Arc<OpenDb>,
    stats: Arc<StoreStats>,
    app: Arc<RwLock<A>>,
    /// Only locked while `app` is locked (write lock to change it), never the other way round.
    applied: Mutex<Applied<C>>,
    /// Makes snapshot ids unique per process, on top of their term and index.
    snapshot_counter: AtomicU64,
    /// The persisted snapshot's metadata; the lock serialises "compare with the persisted
    /// snapshot, then replace it" without reading that snapshot back from disk, and keeps
    /// the record in place while a deferred handle reads it.
    persist: Mutex<Option<SnapshotMeta<C::NodeId, C::Node>>>,
    /// Handles on the persisted snapshot's bytes that nothing has read yet; they are handed
    /// those bytes before the snapshot is replaced. Locked only while `persist` is.
    deferred: Mutex<Vec<Weak<Deferred>>>,
}

/// openraft's `RaftStateMachine` over an [`Application`] and the `snapshot` column family.
pub struct RocksStateMachine<C: RaftTypeConfig, A> {
    shared: Arc<Shared<C, A>>,
}

/// Builds and persists snapshots of a [`RocksStateMachine`]; openraft runs it off the apply path.
pub struct RocksSnapshotBuilder<C: RaftTypeConfig, A> {
    shared: Arc<Shared<C, A>>,
}

impl<C: RaftTypeConfig, A> fmt::Debug for RocksStateMachine<C, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksStateMachine").finish_non_exhaustive()
    }
}

impl<C: RaftTypeConfig, A> fmt::Debug for RocksSnapshotBuilder<C, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksSnapshotBuilder")
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, StoreError> {
    mutex.lock().map_err(|_| StoreError::Poisoned)
}

fn decode_payload<C: RaftTypeConfig>(data: &[u8]) -> Result<SnapshotPayload<'_, C>, StoreError> {
    crate::codec::decode(data).map_err(|source| StoreError::Codec {
        operation: Operation::Decode,
        subject: Subject::Snapshot,
        source,
    })
}

fn restore_error(reason: String) -> StoreError {
    StoreError::Application {
        operation: Operation::Restore,
        subject: Subject::Application,
        reason,
    }
}

/// The counter part of a snapshot id `{term}-{index}-{counter}`.
fn counter_of(snapshot_id: &str) -> Option<u64> {
    snapshot_id.rsplit('-').next()?.parse().ok()
}

impl<C, A> RocksStateMachine<C, A>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = SnapshotBytes>,
    A: Application<C>,
{
    /// Restores `app` from the persisted snapshot, if any.
    pub(crate) fn open(
        db: Arc<OpenDb>,
        stats: Arc<StoreStats>,
        app: Arc<RwLock<A>>,
    ) -> Result<Self, StoreError> {
        let mut applied = Applied::default();
        let mut next_counter = 0;
        let mut persisted = None;
        // The stored record is read without a copy and the state decoded from it in place:
        // the record, the payload and the state's encoding are the same bytes.
        if let Some(raw) = get_pinned(&db, CF_SNAPSHOT, KEY_SNAPSHOT, Subject::Snapshot)? {
            let stored = decode_stored::<C>(&raw)?;
            let payload = decode_payload::<C>(&stored.data)?;
            app.write()
                .map_err(|_| StoreError::Poisoned)?
                .restore(&payload.app)
                .map_err(restore_error)?;
            let meta = stored.meta;
            persisted = Some(meta.clone());
            applied.last_applied = meta.last_log_id;
            applied.last_membership = meta.last_membership;
            next_counter = counter_of(&meta.snapshot_id).map_or(0, |c| c.saturating_add(1));
            tracing::info!(snapshot_id = %meta.snapshot_id, "restored the application from the persisted snapshot");
        }
        Ok(Self {
            shared: Arc::new(Shared {
                db,
                stats,
                app,
                applied: Mutex::new(applied),
                snapshot_counter: AtomicU64::new(next_counter),
                persist: Mutex::new(persisted),
                deferred: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The application state this state machine drives (the same `Arc` the node passed in).
    pub fn app(&self) -> &Arc<RwLock<A>> {
        &self.shared.app
    }

    /// A handle that reads the application together with the log id and membership it is
    /// at (for backups); it stays valid after the state machine is handed to openraft.
    pub fn reader(&self) -> AppliedReader<C, A> {
        AppliedReader {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

/// Reads the application state and what it covers at one instant (see
/// [`RocksStateMachine::reader`]). It does not keep the store open: a reader held by the
/// store's owner would otherwise keep the database open after Raft stopped, and a graceful
/// stop that waits for the database to close ([`crate::Store::closed`]) would wait forever.
pub struct AppliedReader<C: RaftTypeConfig, A> {
    shared: Weak<Shared<C, A>>,
}

impl<C: RaftTypeConfig, A> Clone for AppliedReader<C, A> {
    fn clone(&self) -> Self {
        AppliedReader {
            shared: Weak::clone(&self.shared),
        }
    }
}

impl<C: RaftTypeConfig, A> AppliedReader<C, A> {
    /// Calls `f` with the application, its last applied log id and its membership, under
    /// the application's read lock: the three agree, as in a snapshot. Apply waits while
    /// `f` runs, so `f` should do what a snapshot build does and no more.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&A, Option<&LogId<C::NodeId>>, &StoredMembership<C::NodeId, C::Node>) -> T,
    ) -> Result<T, StoreError> {
        let shared = self.shared.upgrade().ok_or(StoreError::Closed)?;
        let app = shared.app.read().map_err(|_| StoreError::Poisoned)?;
        let applied = lock(&shared.applied)?;
        Ok(f(
            &app,
            applied.last_applied.as_ref(),
            &applied.last_membership,
        ))
    }
}

impl<C, A> Shared<C, A>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = SnapshotBytes>,
    A: Application<C>,
{
    /// Applies `entries` in one critical section.
    fn apply_entries<I>(&self, entries: I) -> Result<Vec<C::R>, ApplyFailure<C::NodeId>>
    where
        I: IntoIterator<Item = Entry<C>>,
    {
        let poisoned = || ApplyFailure {
            log_id: None,
            error: StoreError::Poisoned,
        };
        let mut app = self.app.write().map_err(|_| poisoned())?;
        let mut applied = self.applied.lock().map_err(|_| poisoned())?;
        let entries = entries.into_iter();
        let mut responses = Vec::with_capacity(entries.size_hint().0);
        for entry in entries {
            // Raft applies each index once, in order; anything else would corrupt the state.
            if let Some(last) = &applied.last_applied {
                if entry.log_id.index <= last.index {
                    let message = format!("applying entry {} after entry {}", entry.log_id, last);
                    let error = StoreError::Invariant(message);
                    return Err(ApplyFailure {
                        log_id: Some(entry.log_id),
                        error,
                    });
                }
            }
            let response = match entry.payload {
                EntryPayload::Blank => app.empty_response(),
                EntryPayload::Normal(ref command) => app.apply(&entry.log_id, command),
                EntryPayload::Membership(membership) => {
                    applied.last_membership =
                        StoredMembership::new(Some(entry.log_id.clone()), membership);
                    app.empty_response()
                }
            };
            applied.last_applied = Some(entry.log_id);
            responses.push(response);
        }
        Ok(responses)
    }

    /// Serialises the application under its read lock, then encodes and persists it outside
    /// the lock. At most three copies of the snapshot are alive at once (the application's
    /// bytes and their encoding; or the encoding, the write batch and the memtable): at
    /// 100,000 environments a copy is about 250 MiB, and a member's peak memory is set here.
    fn build(&self) -> Result<Snapshot<C>, StoreError> {
        let (bytes, meta) = {
            let app = self.app.read().map_err(|_| StoreError::Poisoned)?;
            let applied = lock(&self.applied)?;
            let bytes = app.snapshot().map_err(|reason| StoreError::Application {
                operation: Operation::Snapshot,
                subject: Subject::Application,
                reason,
            })?;
            let counter = self.snapshot_counter.fetch_add(1, Ordering::Relaxed);
            let snapshot_id = match &applied.last_applied {
                Some(id) => format!("{}-{}-{counter}", id.leader_id.term, id.index),
                None => format!("none-{counter}"),
            };
            let meta = SnapshotMeta {
                last_log_id: applied.last_applied.clone(),
                last_membership: applied.last_membership.clone(),
                snapshot_id,
            };
            (bytes, meta)
        };
        let data = encode_payload::<C>(bytes, &meta)?;
        self.persist(&meta, &data, false)?;
        tracing::info!(snapshot_id = %meta.snapshot_id, bytes = data.len(), "built a snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(SnapshotBytes::from(data)),
        })
    }

    /// Replaces the application with a received snapshot, then persists the snapshot.
    fn install(
        &self,
        meta: &SnapshotMeta<C::NodeId, C::Node>,
        data: Vec<u8>,
    ) -> Result<(), StoreError> {
        let payload = decode_payload::<C>(&data)?;
        if payload.last_applied != meta.last_log_id {
            return Err(StoreError::Invariant(format!(
                "snapshot {} covers {:?} but its data covers {:?}",
                meta.snapshot_id, meta.last_log_id, payload.last_applied
            )));
        }
        {
            let mut app = self.app.write().map_err(|_| StoreError::Poisoned)?;
            let mut applied = lock(&self.applied)?;
            app.restore(&payload.app).map_err(restore_error)?;
            applied.last_applied = meta.last_log_id.clone();
            applied.last_membership = meta.last_membership.clone();
        }
        drop(payload);
        // Restored first so that a snapshot the application cannot read is never persisted:
        // it would stop the member from restarting. A crash before the write below only
        // loses memory; the member restarts from its previous snapshot and log.
        self.persist(meta, &data, true)?;
        tracing::info!(snapshot_id = %meta.snapshot_id, "installed a snapshot");
        Ok(())
    }

    /// Writes the snapshot (synced), unless a newer one is already persisted and this one is
    /// merely built (a build can finish after an install of a later snapshot).
    fn persist(
        &self,
        meta: &SnapshotMeta<C::NodeId, C::Node>,
        data: &[u8],
        installed: bool,
    ) -> Result<(), StoreError> {
        let mut persisted = lock(&self.persist)?;
        let covers = persisted.as_ref().and_then(|p| p.last_log_id.as_ref());
        if !installed && covers > meta.last_log_id.as_ref() {
            tracing::info!(
                built = %meta.snapshot_id,
                persisted_covers = ?covers,
                "not persisting a built snapshot older than the persisted one"
            );
            return Ok(());
        }
        self.keep_deferred()?;
        let mut batch = WriteBatch::default();
        put_snapshot::<C>(&self.db, &mut batch, meta, data)?;
        write_batch(
            &self.db,
            &self.stats,
            batch,
            true,
            Operation::Write,
            Subject::Snapshot,
        )?;
        *persisted = Some(meta.clone());
        Ok(())
    }

    /// Hands every unread handle on the persisted snapshot the bytes it promised, read once
    /// for all of them; called with `persist` locked, just before the snapshot is replaced.
    /// Usually there is none: openraft drops the handle it asks for at start unread, and a
    /// snapshot sent to a follower is read at once.
    fn keep_deferred(&self) -> Result<(), StoreError> {
        let mut handles = lock(&self.deferred)?;
        let mut kept: Option<Vec<u8>> = None;
        for handle in handles.iter().filter_map(Weak::upgrade) {
            let mut held = lock(&handle.held)?;
            if matches!(*held, Held::Unread) {
                let bytes = match &kept {
                    Some(bytes) => bytes.clone(),
                    None => kept
                        .insert(self.read_persisted(&handle.snapshot_id)?)
                        .clone(),
                };
                *held = Held::Kept(bytes);
            }
        }
        handles.clear();
        Ok(())
    }

    /// The persisted snapshot's data, which must be that of snapshot `snapshot_id`; called
    /// with `persist` locked, so the record cannot be replaced meanwhile.
    fn read_persisted(&self, snapshot_id: &str) -> Result<Vec<u8>, StoreError> {
        let raw = get_pinned(&self.db, CF_SNAPSHOT, KEY_SNAPSHOT, Subject::Snapshot)?.ok_or_else(
            || StoreError::Invariant(format!("snapshot {snapshot_id} is no longer stored")),
        )?;
        let stored = decode_stored::<C>(&raw)?;
        if stored.meta.snapshot_id != snapshot_id {
            return Err(StoreError::Invariant(format!(
                "snapshot {snapshot_id} was replaced by {} before its data was read",
                stored.meta.snapshot_id
            )));
        }
        Ok(stored.data.into_owned())
    }

    /// The persisted snapshot with its data deferred: nothing is read until the data is.
    fn current(self: &Arc<Self>) -> Result<Option<Snapshot<C>>, StoreError> {
        let persisted = lock(&self.persist)?;
        let Some(meta) = persisted.as_ref() else {
            return Ok(None);
        };
        let shared: Weak<Self> = Arc::downgrade(self);
        let source: Weak<dyn DeferredSource> = shared;
        let deferred = Arc::new(Deferred::new(meta.snapshot_id.clone(), source));
        let mut handles = lock(&self.deferred)?;
        handles.retain(|handle| handle.strong_count() > 0);
        handles.push(Arc::downgrade(&deferred));
        Ok(Some(Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(SnapshotBytes::deferred(deferred)),
        }))
    }

    /// The id of the snapshot stored on disk (tests compare it with what was written).
    #[cfg(test)]
    fn stored_id(&self) -> Result<Option<String>, StoreError> {
        let Some(raw) = get_pinned(&self.db, CF_SNAPSHOT, KEY_SNAPSHOT, Subject::Snapshot)? else {
            return Ok(None);
        };
        Ok(Some(decode_stored::<C>(&raw)?.meta.snapshot_id))
    }
}

impl<C, A> DeferredSource for Shared<C, A>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = SnapshotBytes>,
    A: Application<C>,
{
    fn read_deferred(&self, deferred: &Deferred) -> Result<Vec<u8>, StoreError> {
        let _persist = lock(&self.persist)?;
        let mut held = lock(&deferred.held)?;
        match std::mem::replace(&mut *held, Held::Taken) {
            Held::Kept(bytes) => Ok(bytes),
            Held::Taken => Err(StoreError::Invariant(format!(
                "the data of snapshot {} was read twice through one handle",
                deferred.snapshot_id
            ))),
            Held::Unread => self
                .read_persisted(&deferred.snapshot_id)
                .inspect_err(|_| *held = Held::Unread),
        }
    }
}

impl<C, A> RaftSnapshotBuilder<C> for RocksSnapshotBuilder<C, A>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = SnapshotBytes>,
    A: Application<C>,
{
    async fn build_snapshot(&mut self) -> Result<Snapshot<C>, StorageError<C::NodeId>> {
        self.shared.build().map_err(|e| {
            StorageIOError::write_snapshot(None, &self.shared.db.fault.noticed(e)).into()
        })
    }
}

impl<C, A> RaftStateMachine<C> for RocksStateMachine<C, A>
where
    C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = SnapshotBytes>,
    A: Application<C>,
{
    type SnapshotBuilder = RocksSnapshotBuilder<C, A>;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<C::NodeId>>,
            StoredMembership<C::NodeId, C::Node>,
        ),
        StorageError<C::NodeId>,
    > {
        let applied =
            lock(&self.shared.applied).map_err(|e| StorageIOError::read_state_machine(&e))?;
        Ok((
            applied.last_applied.clone(),
            applied.last_membership.clone(),
        ))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<C::R>, StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = Entry<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.shared.apply_entries(entries).map_err(|failure| {
            let error = self.shared.db.fault.noticed(failure.error);
            match failure.log_id {
                Some(log_id) => StorageIOError::apply(log_id, &error),
                None => StorageIOError::write_state_machine(&error),
            }
            .into()
        })
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        RocksSnapshotBuilder {
            shared: Arc::clone(&self.shared),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<SnapshotBytes>, StorageError<C::NodeId>> {
        Ok(Box::default())
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<C::NodeId, C::Node>,
        snapshot: Box<SnapshotBytes>,
    ) -> Result<(), StorageError<C::NodeId>> {
        let data = snapshot
            .into_bytes()
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.shared.install(meta, data).map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), &self.shared.db.fault.noticed(e))
                .into()
        })
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<C>>, StorageError<C::NodeId>> {
        self.shared.current().map_err(|e| {
            StorageIOError::read_snapshot(None, &self.shared.db.fault.noticed(e)).into()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use std::io::SeekFrom;

    use openraft::{CommittedLeaderId, Membership};
    use tokio::io::{AsyncReadExt, AsyncSeekExt};

    use super::*;

    openraft::declare_raft_types!(Bytes: SnapshotData = SnapshotBytes);

    /// An application whose state is a byte string, enough to tell snapshots apart.
    #[derive(Default)]
    struct Blob(Vec<u8>);

    impl Application<Bytes> for Blob {
        fn apply(&mut self, _: &LogId<u64>, _: &String) -> String {
            String::new()
        }
        fn empty_response(&self) -> String {
            String::new()
        }
        fn snapshot(&self) -> Result<Vec<u8>, String> {
            Ok(self.0.clone())
        }
        fn restore(&mut self, data: &[u8]) -> Result<(), String> {
            self.0 = data.to_vec();
            Ok(())
        }
    }

    fn log_id(term: u64, index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn meta(term: u64, index: u64) -> SnapshotMeta<u64, openraft::BasicNode> {
        let voters = BTreeSet::from([1u64]);
        SnapshotMeta {
            last_log_id: Some(log_id(term, index)),
            last_membership: StoredMembership::new(
                Some(log_id(1, 1)),
                Membership::new(vec![voters], None),
            ),
            snapshot_id: format!("{term}-{index}-0"),
        }
    }

    #[test]
    fn snapshots_are_one_bin_value_decoded_borrowing_it() -> Result<(), StoreError> {
        let meta = meta(2, 40);
        let app: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let data = encode_payload::<Bytes>(app.clone(), &meta)?;
        // One `bin` value, not an array of integers: barely larger than the bytes.
        assert!(data.len() < app.len() + 200, "{} bytes", data.len());
        let stored = encode_value(
            &StoredSnapshot::<Bytes> {
                meta: meta.clone(),
                data: Cow::Borrowed(&data),
            },
            Subject::Snapshot,
        )?;
        let decoded = decode_stored::<Bytes>(&stored)?;
        assert!(
            matches!(decoded.data, Cow::Borrowed(_)),
            "the data was copied"
        );
        assert_eq!(decoded.meta, meta);
        let payload = decode_payload::<Bytes>(&decoded.data)?;
        assert!(
            matches!(payload.app, Cow::Borrowed(_)),
            "the app was copied"
        );
        assert_eq!(&*payload.app, &app[..]);
        assert_eq!(payload.last_applied, meta.last_log_id);
        Ok(())
    }

    fn encoded(
        term: u64,
        index: u64,
        app: &[u8],
    ) -> Result<(SnapshotMeta<u64, openraft::BasicNode>, Vec<u8>), StoreError> {
        let meta = meta(term, index);
        encode_payload::<Bytes>(app.to_vec(), &meta).map(|data| (meta, data))
    }

    fn app_of(data: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(decode_payload::<Bytes>(data)?.app.into_owned())
    }

    fn io(e: std::io::Error) -> StoreError {
        StoreError::Invariant(e.to_string())
    }

    /// openraft asks for the current snapshot at every start and drops its data unread: the
    /// data is read from disk only when something reads it, as openraft does to send it.
    #[tokio::test]
    async fn the_current_snapshot_is_read_from_disk_only_when_its_data_is() -> Result<(), StoreError>
    {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Invariant(e.to_string()))?;
        let (meta, data) = encoded(3, 90, b"the state")?;
        {
            let store = crate::open(dir.path())?;
            let sm = store.state_machine::<Bytes, Blob>(Arc::default())?;
            sm.shared.install(&meta, data.clone())?;
        }
        let store = crate::open(dir.path())?;
        let mut sm = store.state_machine::<Bytes, Blob>(Arc::default())?;
        let mut current = sm
            .get_current_snapshot()
            .await
            .map_err(|e| StoreError::Invariant(e.to_string()))?
            .ok_or_else(|| StoreError::Invariant("no current snapshot".into()))?;
        assert_eq!(current.meta, meta);
        assert!(
            current.snapshot.is_deferred(),
            "read before anything asked for the data"
        );
        // As openraft's chunked sender reads it: the size first, then from the start.
        let end = current.snapshot.seek(SeekFrom::End(0)).await.map_err(io)?;
        assert_eq!(end, data.len() as u64);
        current
            .snapshot
            .seek(SeekFrom::Start(0))
            .await
            .map_err(io)?;
        let mut read = Vec::new();
        current.snapshot.read_to_end(&mut read).await.map_err(io)?;
        assert_eq!(read, data);
        Ok(())
    }

    /// A handle promises the snapshot its metadata names: replacing the persisted snapshot
    /// first hands unread handles their bytes (without that, this read fails).
    #[tokio::test]
    async fn a_snapshot_replaced_before_its_data_is_read_still_reads_as_itself(
    ) -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Invariant(e.to_string()))?;
        let store = crate::open(dir.path())?;
        let sm = store.state_machine::<Bytes, Blob>(Arc::default())?;
        let (older, older_data) = encoded(2, 40, b"older")?;
        let (newer, newer_data) = encoded(3, 90, b"newer")?;
        sm.shared.install(&older, older_data)?;
        let current = || {
            let current = sm.shared.current()?;
            current.ok_or_else(|| StoreError::Invariant("no current snapshot".into()))
        };
        let first = current()?;
        let second = current()?;
        sm.shared.install(&newer, newer_data)?;
        let third = current()?;
        for (snapshot, meta, app) in [
            (first, &older, b"older"),
            (second, &older, b"older"),
            (third, &newer, b"newer"),
        ] {
            assert_eq!(&snapshot.meta, meta);
            let bytes = snapshot.snapshot.into_bytes().map_err(io)?;
            assert_eq!(app_of(&bytes)?, app);
        }
        Ok(())
    }

    /// A handle that outlives its state machine fails to read with a reason, not a panic,
    /// and fails again when retried instead of reading as an empty snapshot.
    #[tokio::test]
    async fn a_handle_read_after_its_store_closed_says_so() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Invariant(e.to_string()))?;
        let handle = {
            let store = crate::open(dir.path())?;
            let sm = store.state_machine::<Bytes, Blob>(Arc::default())?;
            let (meta, data) = encoded(2, 40, b"state")?;
            sm.shared.install(&meta, data)?;
            sm.shared.current()?
        };
        let mut data = handle
            .ok_or_else(|| StoreError::Invariant("no current snapshot".into()))?
            .snapshot;
        for attempt in 1..=2 {
            let mut read = Vec::new();
            let error = data
                .read_to_end(&mut read)
                .await
                .err()
                .map(|e| e.to_string());
            let error = error.unwrap_or_default();
            assert!(
                error.contains("2-40-0") && error.contains("closed"),
                "attempt {attempt}: {error:?}, {} bytes read",
                read.len()
            );
        }
        assert!(data.is_deferred());
        Ok(())
    }

    /// The persisted snapshot's coverage is tracked in memory (it used to be read back from
    /// disk, a second and third copy of the snapshot): a build that finishes after a later
    /// snapshot was installed still leaves the later one on disk, also across a reopen.
    #[test]
    fn a_build_older_than_the_persisted_snapshot_is_not_written() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Invariant(e.to_string()))?;
        let encode = encoded;
        let (newer, newer_data) = encode(3, 90, b"newer")?;
        let (older, older_data) = encode(2, 40, b"older")?;
        {
            let store = crate::open(dir.path())?;
            let app = Arc::new(RwLock::new(Blob::default()));
            let sm = store.state_machine::<Bytes, Blob>(Arc::clone(&app))?;
            sm.shared.install(&newer, newer_data)?;
            sm.shared.persist(&older, &older_data, false)?;
            let current = sm.shared.stored_id()?;
            assert_eq!(current, Some(newer.snapshot_id.clone()));
            // An installed snapshot is written whatever it covers (the leader sent it).
            sm.shared.persist(&older, &older_data, true)?;
            let current = sm.shared.stored_id()?;
            assert_eq!(current, Some(older.snapshot_id.clone()));
            sm.shared.install(&newer, encode(3, 90, b"newer")?.1)?;
        }
        let store = crate::open(dir.path())?;
        let app = Arc::new(RwLock::new(Blob::default()));
        let sm = store.state_machine::<Bytes, Blob>(Arc::clone(&app))?;
        assert_eq!(app.read().map_err(|_| StoreError::Poisoned)?.0, b"newer");
        sm.shared.persist(&older, &older_data, false)?;
        let current = sm.shared.stored_id()?;
        assert_eq!(current, Some(newer.snapshot_id.clone()));
        Ok(())
    }

    #[test]
    fn snapshot_ids_yield_their_counter() {
        assert_eq!(counter_of("3-17-4"), Some(4));
        assert_eq!(counter_of("none-0"), Some(0));
        assert_eq!(counter_of("garbage"), None);
    }
}
