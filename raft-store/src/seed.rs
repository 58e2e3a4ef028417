//! Seeding a brand-new data directory with a state, as if a cluster had committed every
//! entry up to a log id and then snapshotted: how a cluster is restored from a backup.
//!
//! The directory gets the snapshot (the application's bytes, that log id, the new
//! membership), the log purged up to that id (so a peer that lacks it is sent the snapshot,
//! never entries), the committed id and a vote for the seeding member in that term. When the
//! member starts, openraft sees an initialised member with an empty log after its snapshot:
//! it campaigns in the next term, empty members of the membership vote for it (their logs
//! are older), and they receive the snapshot.

use openraft::{Entry, LogId, Membership, RaftTypeConfig, SnapshotMeta, StoredMembership, Vote};
use rocksdb::{IteratorMode, WriteBatch};

use crate::state_machine::{encode_payload, put_snapshot};
use crate::store::{
    cf, encode_value, write_batch, Operation, Store, StoreError, Subject, CF_LOGS, CF_META,
    CF_SNAPSHOT, KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE,
};

/// What a seeded directory starts from.
pub struct Seed<C: RaftTypeConfig> {
    /// The log id the state is at; its term is the floor of every later term.
    pub last_log_id: LogId<C::NodeId>,
    /// The members of the new cluster (voters and their addresses).
    pub membership: Membership<C::NodeId, C::Node>,
    /// The application's snapshot bytes ([`crate::Application::restore`] must accept them).
    pub app: Vec<u8>,
}

impl Store {
    /// Seeds this store, which must never have held Raft state, with `seed`; synced before
    /// it returns. `member` is the id of the member that owns the directory (it holds the
    /// vote of the seed's term).
    pub fn seed<C>(&self, member: C::NodeId, seed: Seed<C>) -> Result<(), StoreError>
    where
        C: RaftTypeConfig<Entry = Entry<C>>,
    {
        self.check_empty()?;
        let membership = StoredMembership::new(Some(seed.last_log_id.clone()), seed.membership);
        let meta = SnapshotMeta {
            last_log_id: Some(seed.last_log_id.clone()),
            last_membership: membership,
            snapshot_id: format!(
                "restored-{}-{}-0",
                seed.last_log_id.leader_id.term, seed.last_log_id.index
            ),
        };
        // Each copy is dropped once the next one exists: a backup of 100,000 environments is
        // about 250 MiB.
        let data = encode_payload::<C>(seed.app, &meta)?;
        // Not committed: the member campaigns for the next term before it leads.
        let vote = Vote::new(seed.last_log_id.leader_id.term, member);
        let db = &self.db;
        let meta_cf = cf(db, CF_META)?;
        let mut batch = WriteBatch::default();
        put_snapshot::<C>(db, &mut batch, &meta, &data)?;
        drop(data);
        batch.put_cf(
            meta_cf,
            KEY_LAST_PURGED,
            encode_value(&seed.last_log_id, Subject::LastPurged)?,
        );
        batch.put_cf(
            meta_cf,
            KEY_COMMITTED,
            encode_value(&Some(seed.last_log_id.clone()), Subject::Committed)?,
        );
        batch.put_cf(meta_cf, KEY_VOTE, encode_value(&vote, Subject::Vote)?);
        write_batch(
            db,
            &self.stats,
            batch,
            true,
            Operation::Write,
            Subject::Snapshot,
        )?;
        // Into table files now: left in the WAL, the snapshot (one record the size of the
        // state) would be replayed into a memtable and flushed on the member's first open,
        // which then held the record, the memtable and the table being built at once (~1.4
        // GiB at 100,000 environments) before it read the snapshot back. The seed is already
        // durable in the WAL, so a failed flush costs memory at that open, not the restore.
        for name in [CF_SNAPSHOT, CF_META] {
            if let Err(error) = db.flush_cf(cf(db, name)?) {
                tracing::warn!(
                    column_family = name,
                    %error,
                    "the restored state is durable in the WAL but could not be flushed into \
                     table files; the member's first start replays it (more memory, once)"
                );
            }
        }
        Ok(())
    }

    /// Refuses a directory with a vote, a log, a purge mark or a snapshot.
    fn check_empty(&self) -> Result<(), StoreError> {
        let db = &self.db;
        let meta = cf(db, CF_META)?;
        for (key, what) in [
            (KEY_VOTE, "a vote"),
            (KEY_COMMITTED, "a committed log id"),
            (KEY_LAST_PURGED, "a purged log"),
        ] {
            let found = db
                .get_pinned_cf(meta, key)
                .map_err(|source| StoreError::Db {
                    operation: Operation::Read,
                    subject: Subject::Vote,
                    source,
                })?;
            if found.is_some() {
                return Err(self.not_empty(what));
            }
        }
        for (name, what) in [(CF_LOGS, "log entries"), (CF_SNAPSHOT, "a snapshot")] {
            if db
                .iterator_cf(cf(db, name)?, IteratorMode::Start)
                .next()
                .is_some()
            {
                return Err(self.not_empty(what));
            }
        }
        Ok(())
    }

    fn not_empty(&self, what: &str) -> StoreError {
        StoreError::NotEmpty {
            path: self.path().to_path_buf(),
            what: what.to_string(),
        }
    }
}
