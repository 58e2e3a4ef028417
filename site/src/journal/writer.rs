//! [`Journal`]: the journal's writer, shared by every call handler of one process.
//!
//! Why it is built this way:
//! - Call handlers never touch the file. They hand records to one writer thread through a
//!   bounded channel, so a burst of calls costs memory only up to the channel's capacity; when
//!   it is full, handlers wait (backpressure) instead of dropping lines — a journal with gaps
//!   would make the checkers lie.
//! - A handler *reserves* its slot in the channel before it changes the site and sends the
//!   record in the same critical section, holding the site's lock. So (a) per-site journal
//!   order is exactly the order the site processed calls, and (b) a caller cancelling
//!   mid-call (deadline) cannot leave an effect without its line: every await happens before
//!   the change.
//! - The writer is a plain OS thread with a `BufWriter`: file writes block, and must not stall
//!   the runtime's two worker threads on this machine. It flushes whenever the queue runs
//!   empty, so even a SIGKILLed sitesim leaves nearly every line behind.
//! - A flush request travels through the same channel, so when it is answered every line sent
//!   before it is in the file.
//! - The first write error is sticky: it is reported by every later flush and in the stats.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::append::open_for_append;
use super::JournalRecord;

/// Why the journal could not be written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open journal {path} for appending: {detail}; check the directory exists and is writable")]
    Open { path: PathBuf, detail: String },
    #[error("cannot write journal {path}: {detail}; the journal is incomplete from this point, so checker verdicts on this run are not trustworthy")]
    Write { path: PathBuf, detail: String },
    #[error("cannot start the journal writer thread for {path}: {detail}")]
    Spawn { path: PathBuf, detail: String },
    #[error("journal writer for {path} has stopped; no further lines can be recorded")]
    Stopped { path: PathBuf },
}

enum Message {
    Line(JournalRecord),
    Flush(oneshot::Sender<Result<u64, JournalError>>),
}

/// A slot reserved in the journal queue; sending through it cannot wait or fail.
pub struct JournalSlot<'a>(mpsc::Permit<'a, Message>);

impl JournalSlot<'_> {
    pub fn send(self, record: JournalRecord) {
        self.0.send(Message::Line(record));
    }
}

struct Shared {
    lines_written: AtomicU64,
    first_error: Mutex<Option<JournalError>>,
}

/// The sending side of the journal; cloning shares the same file and writer.
#[derive(Clone)]
pub struct Journal {
    path: PathBuf,
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl Journal {
    /// Opens `path` for appending and starts its writer thread.
    pub fn open(path: &Path, queue_capacity: usize) -> Result<Journal, JournalError> {
        let file = open_for_append(path)?;
        let (tx, rx) = mpsc::channel(queue_capacity);
        let shared = Arc::new(Shared {
            lines_written: AtomicU64::new(0),
            first_error: Mutex::new(None),
        });
        let writer = Writer {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, file),
            shared: shared.clone(),
        };
        std::thread::Builder::new()
            .name("sitesim-journal".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| JournalError::Spawn {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        Ok(Journal {
            path: path.to_path_buf(),
            tx,
            shared,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for room in the queue. Cancel-safe: dropping the future reserves nothing.
    pub async fn reserve(&self) -> Result<JournalSlot<'_>, JournalError> {
        self.tx
            .reserve()
            .await
            .map(JournalSlot)
            .map_err(|_| self.stopped())
    }

    /// Writes and flushes every line sent before this call; returns the lines written so far.
    pub async fn flush(&self) -> Result<u64, JournalError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Message::Flush(done))
            .await
            .map_err(|_| self.stopped())?;
        wait.await.map_err(|_| self.stopped())?
    }

    /// Lines written to the file (possibly still in the write buffer).
    pub fn lines_written(&self) -> u64 {
        self.shared.lines_written.load(Ordering::Relaxed)
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<JournalError> {
        lock(&self.shared.first_error).clone()
    }

    fn stopped(&self) -> JournalError {
        JournalError::Stopped {
            path: self.path.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding this lock cannot leave an Option half-written.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Runs until every [`Journal`] clone is dropped, then flushes what is left.
    fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let mut line = Vec::with_capacity(512);
        let mut dirty = false;
        loop {
            let message = match rx.try_recv() {
                Ok(message) => message,
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Idle: push the buffer to the file, so a sitesim killed with SIGKILL
                    // loses at most the burst in flight. Under load this batches naturally.
                    if dirty {
                        if let Err(e) = self.out.flush() {
                            self.fail(e.to_string());
                        }
                        dirty = false;
                    }
                    match rx.blocking_recv() {
                        Some(message) => message,
                        None => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            };
            match message {
                Message::Line(record) => {
                    line.clear();
                    if let Err(e) = serde_json::to_writer(&mut line, &record) {
                        // Serialising plain strings and integers cannot fail; if it does, the
                        // journal is broken and the run must not be trusted.
                        self.fail(e.to_string());
                        continue;
                    }
                    line.push(b'\n');
                    dirty = true;
                    match self.out.write_all(&line) {
                        Ok(()) => {
                            self.shared.lines_written.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => self.fail(e.to_string()),
                    }
                }
                Message::Flush(done) => {
                    if let Err(e) = self.out.flush() {
                        self.fail(e.to_string());
                    }
                    dirty = false;
                    let result = match lock(&self.shared.first_error).clone() {
                        Some(e) => Err(e),
                        None => Ok(self.shared.lines_written.load(Ordering::Relaxed)),
                    };
                    // The requester may have given up waiting; the flush still happened.
                    let _ = done.send(result);
                }
            }
        }
        if let Err(e) = self.out.flush() {
            self.fail(e.to_string());
        }
    }

    fn fail(&self, detail: String) {
        let mut first = lock(&self.shared.first_error);
        if first.is_none() {
            tracing::error!(path = %self.path.display(), %detail, "journal write failed");
            *first = Some(JournalError::Write {
                path: self.path.clone(),
                detail,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::sample_record;

    #[tokio::test]
    async fn flushed_lines_are_in_the_file_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::open(&path, 4).expect("open");
        for i in 0..100 {
            journal
                .reserve()
                .await
                .expect("slot")
                .send(sample_record(i));
        }
        assert_eq!(journal.flush().await.expect("flush"), 100);
        let text = std::fs::read_to_string(&path).expect("read");
        let steps: Vec<u32> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<JournalRecord>(l)
                    .expect("parse")
                    .step
            })
            .collect();
        assert_eq!(steps, (0..100).collect::<Vec<_>>());
        assert!(text.starts_with(r#"{"v":1,"ts_ms":1,"site":"s""#), "{text}");
    }

    #[test]
    fn opening_a_missing_directory_names_the_path() {
        let err = Journal::open(Path::new("/nonexistent/dir/j.jsonl"), 4)
            .err()
            .expect("cannot open");
        assert!(
            err.to_string().contains("/nonexistent/dir/j.jsonl"),
            "{err}"
        );
    }
}
