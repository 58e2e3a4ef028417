//! The backup file: what `moorctl cluster snapshot save` writes and `moord restore` reads.
//!
//! Layout, all of it covered by the trailing checksum:
//!
//! ```text
//! "MOORBAK\n" (8 bytes) | header length (u32, big-endian) | header (BackupHeader, protobuf)
//! | state (header.state_len bytes, moor_domain's snapshot encoding) | SHA-256 of all before (32 bytes)
//! ```
//!
//! The header is protobuf so that a later release can add fields an older one skips; the
//! format version says when the layout itself changed. Parsing checks the magic, the
//! version, every length against the file's size and the checksum, and names what is wrong.

use prost::Message;
use sha2::{Digest, Sha256};

use crate::api::BackupHeader;

/// The first bytes of every backup file.
pub const MAGIC: &[u8; 8] = b"MOORBAK\n";
/// The layout this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// A header larger than this is not a header (it holds counts and a membership only).
pub const MAX_HEADER_LEN: u32 = 1 << 20;
const CHECKSUM_LEN: usize = 32;

/// Why a file is not a usable backup.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackupError {
    #[error("not a Moor backup file (it does not start with the backup magic); was it written by `moorctl cluster snapshot save`?")]
    NotABackup,
    #[error("the backup file is truncated: {0}; save the backup again")]
    Truncated(String),
    #[error("backup format version {found} is not supported (this build reads {FORMAT_VERSION}); use the moord/moorctl release that wrote it")]
    Version { found: u32 },
    #[error("the backup header cannot be decoded: {0}")]
    Header(String),
    #[error("checksum mismatch: the file says {stored} but its content hashes to {computed}; the file is damaged, use another backup")]
    Checksum { stored: String, computed: String },
}

/// A parsed backup: its header and the state bytes it carries.
#[derive(Debug)]
pub struct Backup<'a> {
    pub header: BackupHeader,
    pub state: &'a [u8],
    /// SHA-256 of the whole file but the checksum, hex (the checksum it carries, verified).
    pub checksum: String,
}

/// The whole backup file for `header` and `state` (`header.state_len` is set here).
pub fn encode(mut header: BackupHeader, state: &[u8]) -> Vec<u8> {
    header.format_version = FORMAT_VERSION;
    header.state_len = state.len() as u64;
    let head = header.encode_to_vec();
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + head.len() + state.len() + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    // The header is a few KiB at most; `MAX_HEADER_LEN` is checked by `parse`.
    out.extend_from_slice(&(head.len() as u32).to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(state);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Parses and verifies a whole backup file.
pub fn parse(file: &[u8]) -> Result<Backup<'_>, BackupError> {
    let (header, state, body_len) = layout(file)?;
    let (body, stored) = file.split_at(body_len);
    let computed = hex(&Sha256::digest(body));
    let stored = hex(stored);
    if computed != stored {
        return Err(BackupError::Checksum { stored, computed });
    }
    Ok(Backup {
        header,
        state,
        checksum: computed,
    })
}

/// The header alone, even when the checksum does not match (for `inspect`, which reports
/// both); errors only when the file's structure is unreadable.
pub fn header_only(file: &[u8]) -> Result<BackupHeader, BackupError> {
    layout(file).map(|(header, _, _)| header)
}

/// Magic, version and lengths: the header, the state slice and where the checksum starts.
fn layout(file: &[u8]) -> Result<(BackupHeader, &[u8], usize), BackupError> {
    let rest = file
        .strip_prefix(MAGIC.as_slice())
        .ok_or(BackupError::NotABackup)?;
    let (len_bytes, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| BackupError::Truncated("no header length".into()))?;
    let head_len = u32::from_be_bytes(*len_bytes);
    if head_len > MAX_HEADER_LEN {
        return Err(BackupError::Header(format!(
            "header length {head_len} exceeds {MAX_HEADER_LEN} bytes"
        )));
    }
    let head_len = head_len as usize;
    if rest.len() < head_len {
        return Err(BackupError::Truncated(format!(
            "the header needs {head_len} bytes, {} remain",
            rest.len()
        )));
    }
    let (head, rest) = rest.split_at(head_len);
    let header = BackupHeader::decode(head).map_err(|e| BackupError::Header(e.to_string()))?;
    if header.format_version != FORMAT_VERSION {
        return Err(BackupError::Version {
            found: header.format_version,
        });
    }
    let state_len = usize::try_from(header.state_len).map_err(|_| {
        BackupError::Header(format!("state length {} is too large", header.state_len))
    })?;
    let expected = state_len.checked_add(CHECKSUM_LEN).ok_or_else(|| {
        BackupError::Header(format!("state length {} is too large", header.state_len))
    })?;
    if rest.len() != expected {
        return Err(BackupError::Truncated(format!(
            "the header announces {state_len} bytes of state and a {CHECKSUM_LEN}-byte checksum, but {} bytes follow it",
            rest.len()
        )));
    }
    let state = &rest[..state_len];
    let body_len = file.len() - CHECKSUM_LEN;
    Ok((header, state, body_len))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let header = BackupHeader {
            index: 42,
            term: 3,
            cluster_id: "c-1".into(),
            ..Default::default()
        };
        encode(header, b"state bytes")
    }

    #[test]
    fn a_backup_round_trips() {
        let file = sample();
        let b = parse(&file).unwrap();
        assert_eq!(b.header.index, 42);
        assert_eq!(b.header.format_version, FORMAT_VERSION);
        assert_eq!(b.state, b"state bytes");
        assert_eq!(b.checksum.len(), 64);
    }

    #[test]
    fn a_flipped_byte_anywhere_is_found() {
        let file = sample();
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            assert!(parse(&bad).is_err(), "flip at byte {i} went unnoticed");
        }
    }

    #[test]
    fn truncation_and_foreign_files_are_named() {
        let file = sample();
        for cut in 0..file.len() {
            assert!(parse(&file[..cut]).is_err(), "cut at {cut} went unnoticed");
        }
        assert_eq!(parse(b"hello").unwrap_err(), BackupError::NotABackup);
        let mut extra = file.clone();
        extra.push(0);
        assert!(matches!(parse(&extra), Err(BackupError::Truncated(_))));
    }

    #[test]
    fn a_newer_format_is_refused_by_version() {
        let header = BackupHeader {
            format_version: FORMAT_VERSION + 1,
            ..Default::default()
        };
        let head = header.encode_to_vec();
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&(head.len() as u32).to_be_bytes());
        file.extend_from_slice(&head);
        file.extend_from_slice(&[0; 32]);
        assert_eq!(
            header_only(&file).unwrap_err(),
            BackupError::Version {
                found: FORMAT_VERSION + 1
            }
        );
    }
}
