//! A damaged disk: found at open or on any later read or write, and turned into one error
//! ([`StoreError::Corrupted`]) that names the file and what the operator does next.
//!
//! RocksDB checks a CRC on every block it reads, but only the blocks it reads: at open,
//! `paranoid_checks` reads each table's footer and index, not its data blocks, so flipped
//! bytes in a data block would surface only when that block is read, maybe hours later and
//! on the apply path. [`verify_every_block`] reads every live key of every column family at
//! open, with checksums verified and the block cache bypassed, so a member with a damaged
//! table refuses to start instead of serving until it trips over it.
//!
//! What it does not reach: blocks holding only keys hidden by a range deletion (purged log
//! entries) may be skipped; a compaction that later reads one fails, RocksDB stops accepting
//! writes with that corruption, and the next write reports it through the same error.
//!
//! A corruption met while running is also published on [`StoreFault`], so the process that
//! owns the store can stop serving rather than keep answering from a broken store (openraft
//! itself only stops its core on a storage error).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocksdb::{ErrorKind, IteratorMode, ReadOptions, DB};

use crate::store::{cf, StoreError, CF_LOGS, CF_META, CF_SNAPSHOT};

/// What the operator does about a damaged disk; every corruption error ends with it.
pub const RUNBOOK: &str = "this member's disk is damaged: stop it, wipe its data dir and add it \
                           back as a new member (deploy/README.md, 'Corrupted disk')";

/// Read-ahead for the verification scan: it reads every table front to back.
const VERIFY_READAHEAD_BYTES: usize = 2 << 20;

/// What the start-up verification read, and how long it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verification {
    /// Live keys read, over all column families.
    pub keys: u64,
    /// Their keys' and values' bytes (uncompressed).
    pub bytes: u64,
    /// Wall time of the scan.
    pub elapsed: Duration,
}

/// Reads every live key of every column family with checksums verified, so a damaged block
/// anywhere in a table is found before the member serves.
pub(crate) fn verify_every_block(db: &DB, path: &Path) -> Result<Verification, StoreError> {
    let started = Instant::now();
    let mut done = Verification::default();
    for name in [CF_META, CF_LOGS, CF_SNAPSHOT] {
        let mut opts = ReadOptions::default();
        opts.set_verify_checksums(true);
        // One pass over everything: keep the cache for what the member will read again.
        opts.fill_cache(false);
        opts.set_readahead_size(VERIFY_READAHEAD_BYTES);
        for item in db.iterator_cf_opt(cf(db, name)?, opts, IteratorMode::Start) {
            let (key, value) = item.map_err(|source| {
                corrupted(path, &source, &format!("column family {name}")).unwrap_or(
                    StoreError::Verify {
                        path: path.to_path_buf(),
                        column_family: name,
                        source,
                    },
                )
            })?;
            done.keys += 1;
            done.bytes += (key.len() + value.len()) as u64;
        }
    }
    done.elapsed = started.elapsed();
    Ok(done)
}

/// [`StoreError::Corrupted`] if RocksDB reports a corruption, naming the file RocksDB names
/// or else `unnamed` (where it was found).
pub(crate) fn corrupted(path: &Path, source: &rocksdb::Error, unnamed: &str) -> Option<StoreError> {
    if source.kind() != ErrorKind::Corruption {
        return None;
    }
    let detail = source.to_string();
    let location = match file_named_in(&detail) {
        Some(file) => format!("file {}", path.join(file).display()),
        None => format!("{unnamed} (RocksDB did not name the file)"),
    };
    Some(StoreError::Corrupted {
        path: path.to_path_buf(),
        location,
        detail,
    })
}

/// Where an open that failed on a corruption RocksDB did not attribute to a file was: while
/// replaying the write-ahead log (RocksDB's WAL checksum errors carry no file name) or
/// reading the MANIFEST. Lists the WAL files so the operator knows which ones.
pub(crate) fn unnamed_at_open(path: &Path) -> String {
    let mut wals: Vec<String> = std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".log"))
        .collect();
    wals.sort();
    format!(
        "the write-ahead log or the MANIFEST (WAL files: {})",
        if wals.is_empty() {
            "none".to_string()
        } else {
            wals.join(", ")
        }
    )
}

/// The RocksDB file a message names (a table, a WAL, the MANIFEST), as a file name.
fn file_named_in(message: &str) -> Option<String> {
    message
        .split(|c: char| c.is_whitespace() || matches!(c, ':' | ',' | '(' | ')' | '\'' | '"'))
        .map(|token| token.rsplit('/').next().unwrap_or(token))
        .find(|name| {
            let numbered = |ext: &str| {
                name.strip_suffix(ext)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            };
            numbered(".sst")
                || numbered(".log")
                || numbered(".blob")
                || name.starts_with("MANIFEST-")
                || name.starts_with("OPTIONS-")
        })
        .map(str::to_string)
}

/// Resolves with the first corruption the store met while running (see the module doc).
#[derive(Debug, Clone)]
pub struct StoreFault(tokio::sync::watch::Receiver<Option<Arc<str>>>);

impl StoreFault {
    /// Waits for a corruption and returns its message (the whole [`StoreError::Corrupted`]);
    /// never resolves if the store closes healthy.
    pub async fn wait(mut self) -> Arc<str> {
        // Copied out at once: the borrow must not live across the await below.
        let fault = self.0.wait_for(Option::is_some).await.map(|f| f.clone());
        match fault {
            Ok(Some(message)) => message,
            _ => std::future::pending().await,
        }
    }

    /// The corruption met so far, if any.
    pub fn get(&self) -> Option<Arc<str>> {
        self.0.borrow().clone()
    }
}

/// The sending side of [`StoreFault`], held by the open database.
pub(crate) struct FaultCell {
    path: PathBuf,
    tx: tokio::sync::watch::Sender<Option<Arc<str>>>,
}

impl FaultCell {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            tx: tokio::sync::watch::channel(None).0,
        }
    }

    pub(crate) fn subscribe(&self) -> StoreFault {
        StoreFault(self.tx.subscribe())
    }

    /// Passes `error` through, turned into [`StoreError::Corrupted`] and published if it is
    /// a corruption (the first one published stays).
    pub(crate) fn noticed(&self, error: StoreError) -> StoreError {
        let corruption = match &error {
            StoreError::Db {
                operation,
                subject,
                source,
            } => corrupted(&self.path, source, &format!("{operation} {subject}")),
            _ => None,
        };
        let Some(corruption) = corruption else {
            return error;
        };
        let message: Arc<str> = Arc::from(corruption.to_string());
        tracing::error!(error = %message, "the Raft store is corrupted");
        self.tx.send_if_modified(|fault| {
            let first = fault.is_none();
            if first {
                *fault = Some(message);
            }
            first
        });
        corruption
    }
}

#[cfg(test)]
mod tests {
    use super::file_named_in;

    #[test]
    fn the_file_rocksdb_names_is_found() {
        assert_eq!(
            file_named_in("Corruption: block checksum mismatch: stored = 1, computed = 2, type = 1  in /d/raft/000012.sst offset 0 size 40").as_deref(),
            Some("000012.sst")
        );
        assert_eq!(
            file_named_in(
                "Corruption: file is too short (9 bytes) to be an sstable: /d/000009.sst"
            )
            .as_deref(),
            Some("000009.sst")
        );
        assert_eq!(
            file_named_in("Corruption: bad record in /d/MANIFEST-000005").as_deref(),
            Some("MANIFEST-000005")
        );
        assert_eq!(file_named_in("Corruption: checksum mismatch"), None);
        assert_eq!(file_named_in("Corruption: bad thing.sst"), None);
    }
}
