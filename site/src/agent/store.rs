//! [`Store`]: `moor-agent`'s durable memory — an append-only record log in its data dir,
//! `agent-store.log`, replayed into a [`Memory`] at start.
//!
//! Format (version [`STORE_FORMAT`]): one record per line, `CRC SP JSON LF`, where CRC is the
//! CRC-32 of the JSON text in 8 hex digits and JSON is a [`Record`]; the first record is a
//! header naming the format. An append is one `write_all` of whole lines followed by
//! `sync_data`, and nothing is answered before it returns: a fence token or a key the agent
//! answered with is on disk.
//!
//! Crashes: a crash can only tear the last append. At start a last line that is incomplete
//! (no LF) or fails its checksum is dropped with a warning and cut off the file; a bad line
//! with good lines after it is not a torn append but damage, and the agent refuses to start
//! rather than forget a fence token (the error names the file and line). A failed append
//! leaves the store refusing every later change until a restart (after a failed fsync the
//! file's state is unknown; replay at start repairs a torn tail).
//!
//! Compaction: when the file grows past twice its size after the last compaction (and at least
//! [`COMPACT_MIN_BYTES`]), the memory's snapshot is written to a new file, synced, renamed over
//! the log, and the directory synced. A crash at any point leaves either the old or the new
//! file, both complete.
//!
//! One agent per data dir: `agent.lock` is held with `flock` for the process's life.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::memory::{KeyRecord, Memory, Record, ResourceRecord};

/// The version of the store file's format.
pub const STORE_FORMAT: u32 = 1;

/// The store file, in the data dir.
pub const STORE_FILE: &str = "agent-store.log";

const COMPACT_FILE: &str = "agent-store.log.compact";
const LOCK_FILE: &str = "agent.lock";

/// The log is compacted when it is at least this large and twice its size after the last
/// compaction.
pub const COMPACT_MIN_BYTES: u64 = 4 * 1024 * 1024;

/// Why the store cannot be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} {path}: {source}; check the data dir's permissions and free space")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another moor-agent already uses the data dir {dir} (it holds {LOCK_FILE}); stop it or give this one another --data-dir")]
    Locked { dir: PathBuf },
    #[error("{path} line {line} is damaged ({reason}) and is not the last line, so it is not a torn write; restore the data dir from a backup, or move the file away to start with no memory (then only tokens above every earlier one are safe)")]
    Damaged {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path} has format {found}, this moor-agent reads format {STORE_FORMAT}; use a moor-agent of the version that wrote it")]
    Format { path: PathBuf, found: u32 },
    #[error("the store stopped accepting changes after an earlier write failed ({0}); nothing was applied; restart moor-agent (it replays the store at start)")]
    Broken(String),
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The durable memory of one agent. See the module docs.
pub struct Store {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Bytes of complete records in the file.
    bytes: u64,
    compact_min_bytes: u64,
    /// Size after the last compaction (or at open).
    base_bytes: u64,
    memory: Memory,
    /// Set when an append failed: every later change is refused.
    broken: Option<String>,
    /// Held for the store's life: one agent per data dir.
    _lock: File,
}

impl Store {
    /// Opens (or creates) the store in `dir`, replays it, and cuts off a torn last record
    /// (logged as a warning).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, COMPACT_MIN_BYTES)
    }

    /// [`Store::open`] with another compaction threshold (tests).
    pub fn open_with(dir: &Path, compact_min_bytes: u64) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(io("create the data dir", dir))?;
        let lock = lock(dir)?;
        let path = dir.join(STORE_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("open", &path))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io("read", &path))?;
        let (records, good_bytes) = replay(&path, &text)?;
        if good_bytes < text.len() as u64 {
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = text.len() as u64 - good_bytes,
                "the store's last record is torn (a crash during a write); dropped it and kept every earlier record"
            );
            file.set_len(good_bytes)
                .map_err(io("cut the torn record off", &path))?;
            file.sync_all().map_err(io("sync", &path))?;
        }
        let mut store = Store {
            dir: dir.to_path_buf(),
            path,
            file,
            bytes: good_bytes,
            compact_min_bytes,
            base_bytes: good_bytes,
            memory: Memory::default(),
            broken: None,
            _lock: lock,
        };
        if records.is_empty() {
            store.append(&[Record::Header {
                format: STORE_FORMAT,
            }])?;
            sync_dir(&store.dir)?;
        }
        for record in &records {
            store.memory.apply(record);
        }
        Ok(store)
    }

    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes `token` the highest accepted token, durably, if it is higher than the current
    /// one; does nothing otherwise.
    pub fn raise_token(&mut self, token: u64) -> Result<(), StoreError> {
        if token <= self.memory.highest_token() {
            return Ok(());
        }
        self.append(&[Record::Token { token }])
    }

    /// Records an applied call, durably: the key's digest and the resource's new state.
    pub fn record_applied(
        &mut self,
        key: KeyRecord,
        resource: ResourceRecord,
    ) -> Result<(), StoreError> {
        self.append(&[Record::Applied { key, resource }])?;
        if self.bytes >= self.compact_min_bytes && self.bytes >= 2 * self.base_bytes {
            // The record is durable whatever happens here: a failed compaction leaves the
            // old log, complete, and is tried again at the next append.
            if let Err(e) = self.compact() {
                tracing::error!(error = %e, "cannot compact the store; it keeps growing until this is fixed");
            }
        }
        Ok(())
    }

    /// Writes `records` as one append and syncs it, then applies them to memory.
    fn append(&mut self, records: &[Record]) -> Result<(), StoreError> {
        if let Some(why) = &self.broken {
            return Err(StoreError::Broken(why.clone()));
        }
        let mut lines = Vec::new();
        for record in records {
            encode(record, &mut lines);
        }
        let written = self
            .file
            .write_all(&lines)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // A partial line would damage every later append: cut it off, and change
            // nothing more in this process whatever happens.
            let _ = self.file.set_len(self.bytes);
            let why = format!("write to {}: {e}", self.path.display());
            self.broken = Some(why.clone());
            return Err(StoreError::Broken(why));
        }
        self.bytes += lines.len() as u64;
        for record in records {
            self.memory.apply(record);
        }
        Ok(())
    }

    /// Rewrites the log as the memory's snapshot (see the module docs).
    fn compact(&mut self) -> Result<(), StoreError> {
        let tmp = self.dir.join(COMPACT_FILE);
        let mut lines = Vec::new();
        for record in self.memory.snapshot(STORE_FORMAT) {
            encode(&record, &mut lines);
        }
        let mut out = File::create(&tmp).map_err(io("create", &tmp))?;
        out.write_all(&lines).map_err(io("write", &tmp))?;
        out.sync_all().map_err(io("sync", &tmp))?;
        drop(out);
        std::fs::rename(&tmp, &self.path)
            .map_err(io("rename the compacted store to", &self.path))?;
        // From here the open descriptor is the replaced file: appends must not go on there.
        let reopened = sync_dir(&self.dir).and_then(|()| {
            OpenOptions::new()
                .read(true)
                .append(true)
                .open(&self.path)
                .map_err(io("reopen", &self.path))
        });
        self.file = match reopened {
            Ok(file) => file,
            Err(e) => {
                self.broken = Some(format!("after compacting: {e}"));
                return Err(e);
            }
        };
        tracing::info!(
            path = %self.path.display(),
            before_bytes = self.bytes,
            after_bytes = lines.len(),
            keys = self.memory.key_count(),
            "compacted the store"
        );
        self.bytes = lines.len() as u64;
        self.base_bytes = self.bytes;
        Ok(())
    }
}

/// Appends `record` as one line: CRC-32 of the JSON in hex, a space, the JSON, LF.
fn encode(record: &Record, out: &mut Vec<u8>) {
    // A Record is plain data (strings, numbers, JSON values): serialising cannot fail.
    let json = serde_json::to_string(record).unwrap_or_default();
    out.extend_from_slice(format!("{:08x} ", crc32fast::hash(json.as_bytes())).as_bytes());
    out.extend_from_slice(json.as_bytes());
    out.push(b'\n');
}

/// One line's record, or why it is not one.
fn decode(line: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let (crc, json) = text
        .split_once(' ')
        .ok_or_else(|| "no checksum".to_string())?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| format!("bad checksum {crc:?}"))?;
    if crc32fast::hash(json.as_bytes()) != crc {
        return Err("checksum mismatch".into());
    }
    serde_json::from_str(json).map_err(|e| format!("not a record: {e}"))
}

/// The records of a store file's bytes, and how many leading bytes hold complete, good
/// records. Only the last line may be bad (torn); see the module docs.
fn replay(path: &Path, text: &[u8]) -> Result<(Vec<Record>, u64), StoreError> {
    let mut records = Vec::new();
    let mut good = 0usize;
    let mut lines = text.split_inclusive(|b| *b == b'\n').enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let last = lines.peek().is_none();
        let complete = line.ends_with(b"\n");
        let decoded = if complete {
            decode(&line[..line.len() - 1])
        } else {
            Err("incomplete".into())
        };
        let record = match decoded {
            Ok(record) => record,
            Err(_) if last => break,
            Err(reason) => {
                return Err(StoreError::Damaged {
                    path: path.to_path_buf(),
                    line: index + 1,
                    reason,
                })
            }
        };
        if index == 0 {
            match record {
                Record::Header { format } if format == STORE_FORMAT => {}
                Record::Header { format } => {
                    return Err(StoreError::Format {
                        path: path.to_path_buf(),
                        found: format,
                    })
                }
                _ => {
                    return Err(StoreError::Damaged {
                        path: path.to_path_buf(),
                        line: 1,
                        reason: "the first record is not the header".into(),
                    })
                }
            }
        }
        records.push(record);
        good += line.len();
    }
    Ok((records, good as u64))
}

/// Syncs a directory, so a created or renamed file in it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync the directory", dir))
}

/// Takes the data dir's lock, or says another agent holds it.
fn lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io("open", &path))?;
    // SAFETY: flock(2) on a descriptor this function owns; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
            return Err(StoreError::Locked {
                dir: dir.to_path_buf(),
            });
        }
        return Err(StoreError::Io {
            op: "lock",
            path,
            source: err,
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(exec: &str, step: u32) -> KeyRecord {
        KeyRecord {
            execution_id: exec.into(),
            step,
            environment: "env".into(),
            digest: format!("d-{exec}-{step}"),
        }
    }

    fn gone(resource: &str) -> ResourceRecord {
        ResourceRecord {
            environment: "env".into(),
            resource: resource.into(),
            state: None,
        }
    }

    #[test]
    fn tokens_and_keys_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.raise_token(5).unwrap();
            store.raise_token(3).unwrap();
            store.record_applied(key("e1", 1), gone("web")).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.memory().highest_token(), 5);
        assert_eq!(store.memory().recorded("e1", 1), Some("d-e1-1"));
    }

    #[test]
    fn a_second_agent_on_the_same_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).err().expect("locked");
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }

    #[test]
    fn a_torn_last_record_is_dropped_and_the_earlier_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.raise_token(4).unwrap();
            store.record_applied(key("e1", 1), gone("web")).unwrap();
        }
        let path = dir.path().join(STORE_FILE);
        let whole = std::fs::read(&path).unwrap();
        // The last record cut in the middle, as a crash during the write leaves it.
        std::fs::write(&path, &whole[..whole.len() - 10]).unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            assert_eq!(store.memory().highest_token(), 4);
            assert_eq!(store.memory().recorded("e1", 1), None, "torn key dropped");
            store.record_applied(key("e2", 1), gone("web")).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.memory().recorded("e2", 1),
            Some("d-e2-1"),
            "appends after the cut read back"
        );
    }

    #[test]
    fn a_damaged_record_before_good_ones_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.raise_token(4).unwrap();
            store.raise_token(6).unwrap();
        }
        let path = dir.path().join(STORE_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let damaged = text.replacen("\"token\":4", "\"token\":9", 1);
        std::fs::write(&path, damaged).unwrap();
        let err = Store::open(dir.path()).err().expect("damaged");
        assert!(matches!(err, StoreError::Damaged { line: 2, .. }), "{err}");
    }

    #[test]
    fn compaction_keeps_the_memory_and_shrinks_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STORE_FILE);
        {
            let mut store = Store::open_with(dir.path(), 4096).unwrap();
            store.raise_token(2).unwrap();
            // One environment: only the latest 16 executions' keys survive, so the log
            // holds far more than the memory and compaction must run.
            for i in 0..200 {
                store
                    .record_applied(key(&format!("e{i}"), 1), gone("web"))
                    .unwrap();
            }
            assert!(std::fs::metadata(&path).unwrap().len() < 8192);
            assert!(!dir.path().join(COMPACT_FILE).exists());
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.memory().highest_token(), 2);
        assert_eq!(store.memory().recorded("e199", 1), Some("d-e199-1"));
        assert_eq!(store.memory().recorded("e150", 1), None, "pruned");
        assert_eq!(store.memory().key_count(), 16);
    }
}
