//! [`AppendJournal`]: the journal written line by line by the caller, for a site that answers
//! one mutating call at a time (the real agent, under its store lock).
//!
//! Each line is one `write` to a file opened for appending, made before the call's answer
//! goes out, so a process killed with SIGKILL right after answering still leaves the line
//! behind (the kernel has it). It is not fsynced: the journal is evidence for the checkers
//! and an operator's audit trail, not what the agent's guarantees rest on (that is its
//! store, fsynced first). A machine crash may lose the last lines; a torn last line is
//! tolerated by the reader.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{JournalError, JournalRecord};

/// Opens a journal file for appending, creating it if missing (both writers).
pub(super) fn open_for_append(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| JournalError::Open {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
}

/// A journal file appended to synchronously.
#[derive(Debug)]
pub struct AppendJournal {
    path: PathBuf,
    file: Mutex<File>,
}

impl AppendJournal {
    /// Opens `path` for appending (created if missing).
    pub fn open(path: &Path) -> Result<AppendJournal, JournalError> {
        Ok(AppendJournal {
            path: path.to_path_buf(),
            file: Mutex::new(open_for_append(path)?),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `record` as one line, in one write.
    pub fn append(&self, record: &JournalRecord) -> Result<(), JournalError> {
        let write_error = |detail: String| JournalError::Write {
            path: self.path.clone(),
            detail,
        };
        let mut line = serde_json::to_vec(record).map_err(|e| write_error(e.to_string()))?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)
            .map_err(|e| write_error(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{read_journal, sample_record};
    use super::*;

    #[test]
    fn lines_are_there_without_a_flush_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = AppendJournal::open(&path).unwrap();
        for step in 0..3 {
            journal.append(&sample_record(step)).unwrap();
        }
        // No flush, no drop: each line is in the file as soon as append returns.
        let read = read_journal(&path).unwrap();
        let steps: Vec<u32> = read.lines.iter().map(|l| l.record.step).collect();
        assert_eq!(steps, vec![0, 1, 2]);
        // Reopening appends after what is there.
        drop(journal);
        AppendJournal::open(&path)
            .unwrap()
            .append(&sample_record(9))
            .unwrap();
        assert_eq!(read_journal(&path).unwrap().lines.len(), 4);
    }

    #[test]
    fn a_directory_that_does_not_exist_is_an_open_error_naming_the_path() {
        let err = AppendJournal::open(Path::new("/nonexistent-moor-dir/j.jsonl")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-moor-dir/j.jsonl"),
            "{err}"
        );
    }
}
