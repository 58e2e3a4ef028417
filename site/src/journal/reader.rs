//! Reading a journal back: [`read_journal`] parses a whole file into numbered
//! [`JournalLine`]s, refusing other format versions and any damage except the one a crash
//! leaves (a torn final line), which it reports instead.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::{JournalRecord, JOURNAL_FORMAT_VERSION};

/// One parsed journal line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    /// 1-based line number in the file.
    pub line: usize,
    pub record: JournalRecord,
}

impl fmt::Display for JournalLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string(&self.record).map_err(|_| fmt::Error)?;
        write!(f, "line {}: {json}", self.line)
    }
}

/// A whole journal file.
#[derive(Debug, Clone, Default)]
pub struct JournalFile {
    pub lines: Vec<JournalLine>,
    /// The last line had no newline and did not parse: the sitesim was killed mid-write. That
    /// call's answer may not have been sent; the line is left out and reported here.
    pub truncated_tail: Option<usize>,
}

/// Why a journal could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JournalReadError {
    #[error("cannot open journal {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read journal {path} at line {line}: {source}")]
    Read {
        path: PathBuf,
        line: usize,
        source: std::io::Error,
    },
    #[error("journal {path} line {line} is not a journal record: {source}")]
    Parse {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("journal {path} line {line} has format version {found}, this checker reads version {JOURNAL_FORMAT_VERSION}; use the checker of the moor-sitesim that wrote it")]
    Version {
        path: PathBuf,
        line: usize,
        found: u32,
    },
}

/// Reads a journal file. Blank lines are skipped; a final line cut short by a crash is
/// reported in [`JournalFile::truncated_tail`], any other bad line is an error.
pub fn read_journal(path: &Path) -> Result<JournalFile, JournalReadError> {
    let file = File::open(path).map_err(|source| JournalReadError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut journal = JournalFile::default();
    let mut buf = Vec::with_capacity(512);
    let mut line = 0;
    loop {
        buf.clear();
        line += 1;
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| JournalReadError::Read {
                path: path.to_path_buf(),
                line,
                source,
            })?;
        if n == 0 {
            break;
        }
        let complete = buf.last() == Some(&b'\n');
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let record: JournalRecord = match serde_json::from_slice(text) {
            Ok(record) => record,
            Err(_) if !complete => {
                journal.truncated_tail = Some(line);
                break;
            }
            Err(source) => {
                return Err(JournalReadError::Parse {
                    path: path.to_path_buf(),
                    line,
                    source,
                })
            }
        };
        if record.v != JOURNAL_FORMAT_VERSION {
            return Err(JournalReadError::Version {
                path: path.to_path_buf(),
                line,
                found: record.v,
            });
        }
        journal.lines.push(JournalLine { line, record });
    }
    Ok(journal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::sample_record;

    #[test]
    fn reading_skips_a_torn_tail_and_refuses_other_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.jsonl");
        let good = serde_json::to_string(&sample_record(1)).expect("json");
        std::fs::write(&path, format!("{good}\n\n{good}\n{{\"v\":1,\"ts")).expect("write");
        let journal = read_journal(&path).expect("readable");
        assert_eq!(journal.lines.len(), 2);
        assert_eq!(journal.lines[1].line, 3);
        assert_eq!(journal.truncated_tail, Some(4));

        std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).expect("write");
        let err = read_journal(&path).expect_err("bad middle line");
        assert!(
            matches!(err, JournalReadError::Parse { line: 2, .. }),
            "{err}"
        );

        let v2 = good.replace("\"v\":1", "\"v\":2");
        std::fs::write(&path, format!("{v2}\n")).expect("write");
        let err = read_journal(&path).expect_err("unknown version");
        assert!(
            matches!(err, JournalReadError::Version { found: 2, .. }),
            "{err}"
        );
    }
}
