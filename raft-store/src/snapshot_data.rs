//! The snapshot data openraft reads, writes and seeks: bytes in memory, or the persisted
//! snapshot's bytes, read from RocksDB only when something first reads them.
//!
//! openraft asks for the current snapshot at every start only to learn its metadata
//! (`StorageHelper::get_initial_state` in 0.9.25) and drops the data unread. Returning the
//! bytes eagerly read a record the size of the whole state (~290 MiB at 100,000
//! environments) and copied it, which set a restarted member's peak memory. A [`Deferred`]
//! handle costs nothing until it is read: sending the snapshot to a follower reads it on its
//! first seek.
//!
//! A handle promises the bytes of the snapshot it was made for. The state machine keeps its
//! unread handles and, before it replaces the persisted snapshot, hands each of them the
//! bytes they promised (`Shared::keep_deferred` in state_machine.rs), so a handle never reads
//! a newer snapshot than its metadata names.

use std::io::{self, Cursor, SeekFrom};
use std::pin::Pin;
use std::sync::{Mutex, Weak};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

use crate::store::StoreError;

/// What reads a [`Deferred`] handle's bytes: the state machine that made it.
pub(crate) trait DeferredSource: Send + Sync {
    /// The bytes `deferred` promised, read now unless they were kept for it earlier.
    fn read_deferred(&self, deferred: &Deferred) -> Result<Vec<u8>, StoreError>;
}

/// Where a deferred handle's bytes are.
pub(crate) enum Held {
    /// Still only in RocksDB, under the snapshot key.
    Unread,
    /// Read ahead of a replacement of the persisted snapshot, kept for the handle.
    Kept(Vec<u8>),
    /// Handed to the handle.
    Taken,
}

/// The unread bytes of one persisted snapshot.
pub(crate) struct Deferred {
    /// The id of the snapshot whose bytes these are.
    pub(crate) snapshot_id: String,
    pub(crate) held: Mutex<Held>,
    source: Weak<dyn DeferredSource>,
}

impl Deferred {
    pub(crate) fn new(snapshot_id: String, source: Weak<dyn DeferredSource>) -> Self {
        Self {
            snapshot_id,
            held: Mutex::new(Held::Unread),
            source,
        }
    }
}

/// openraft's `SnapshotData`: the bytes of one snapshot, in memory or deferred.
pub struct SnapshotBytes {
    cursor: Cursor<Vec<u8>>,
    deferred: Option<std::sync::Arc<Deferred>>,
}

impl std::fmt::Debug for SnapshotBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotBytes")
            .field("in_memory", &self.cursor.get_ref().len())
            .field(
                "deferred",
                &self.deferred.as_ref().map(|d| d.snapshot_id.as_str()),
            )
            .finish()
    }
}

impl Default for SnapshotBytes {
    fn default() -> Self {
        Self::from(Vec::new())
    }
}

impl From<Vec<u8>> for SnapshotBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self {
            cursor: Cursor::new(bytes),
            deferred: None,
        }
    }
}

impl SnapshotBytes {
    pub(crate) fn deferred(deferred: std::sync::Arc<Deferred>) -> Self {
        Self {
            cursor: Cursor::new(Vec::new()),
            deferred: Some(deferred),
        }
    }

    /// Whether the bytes are still only on disk (nothing has read them yet).
    pub fn is_deferred(&self) -> bool {
        self.deferred.is_some()
    }

    /// All the bytes, read now if they were deferred.
    pub fn into_bytes(mut self) -> io::Result<Vec<u8>> {
        self.load()?;
        Ok(self.cursor.into_inner())
    }

    /// Reads deferred bytes into memory, at position 0; a no-op once they are there. A
    /// failed read leaves the handle deferred, so a retry fails or reads them too (never an
    /// empty snapshot).
    fn load(&mut self) -> io::Result<()> {
        let Some(deferred) = &self.deferred else {
            return Ok(());
        };
        let read = match deferred.source.upgrade() {
            Some(source) => source.read_deferred(deferred),
            None => Err(StoreError::Closed),
        };
        let bytes = read.map_err(|error| {
            io::Error::other(format!(
                "cannot read snapshot {}: {error}",
                deferred.snapshot_id
            ))
        })?;
        self.cursor = Cursor::new(bytes);
        self.deferred = None;
        Ok(())
    }
}

impl AsyncRead for SnapshotBytes {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.load() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.cursor).poll_read(cx, buf)
    }
}

impl AsyncWrite for SnapshotBytes {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.load() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.cursor).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().cursor).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().cursor).poll_shutdown(cx)
    }
}

impl AsyncSeek for SnapshotBytes {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        this.load()?;
        Pin::new(&mut this.cursor).start_seek(position)
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        if let Err(e) = this.load() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.cursor).poll_complete(cx)
    }
}
