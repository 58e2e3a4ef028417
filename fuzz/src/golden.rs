//! Real payloads to start from: the domain's golden files (`domain/testdata/`), 600 log
//! entries from the seeded command generator of the domain's property test and the snapshot
//! of the state they build (see `domain/tests/golden.rs`). Loaded once per process.

use std::sync::OnceLock;

use moor_domain::codec;
use moor_domain::command::Command;
use moor_domain::state::MoorState;

use crate::msgpack::{self, Dictionary};

const ENTRIES: &[u8] = include_bytes!("../../domain/testdata/entries-v1.bin");
const SNAPSHOT: &[u8] = include_bytes!("../../domain/testdata/snapshot-v1.bin");

/// What the golden files hold, decoded.
pub struct Golden {
    /// `(index, term, command)`, in log order.
    pub entries: Vec<(u64, u64, Command)>,
    /// Each entry's command as a codec payload (what a log entry carries).
    pub commands: Vec<Vec<u8>>,
    /// The snapshot as written.
    pub snapshot: Vec<u8>,
    /// Values for structure-aware mutation, from the commands and the snapshot.
    pub dictionary: Dictionary,
}

/// The golden files, decoded once. A golden file that does not decode is the domain's
/// golden test's failure, not the fuzzer's: the fuzzer then starts from nothing.
pub fn golden() -> &'static Golden {
    static GOLDEN: OnceLock<Golden> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let entries = read_entries(ENTRIES);
        let commands: Vec<Vec<u8>> = entries
            .iter()
            .filter_map(|(_, _, c)| codec::encode("command", c).ok())
            .collect();
        let trees: Vec<_> = commands
            .iter()
            .map(Vec::as_slice)
            .chain([SNAPSHOT])
            .filter_map(msgpack::read)
            .collect();
        Golden {
            entries,
            commands,
            snapshot: SNAPSHOT.to_vec(),
            dictionary: Dictionary::collect(&trees),
        }
    })
}

/// The state after the first `n` golden entries, with the index and term of the last.
pub fn state_after(n: usize) -> (MoorState, u64, u64) {
    let mut state = MoorState::default();
    let (mut index, mut term) = (0, 1);
    for (i, t, command) in golden().entries.iter().take(n) {
        state.apply(*i, *t, command);
        (index, term) = (*i, *t);
    }
    (state, index, term)
}

/// The state at the end of the golden log, with the index and term of its last entry.
pub fn final_state() -> &'static (MoorState, u64, u64) {
    static FINAL: OnceLock<(MoorState, u64, u64)> = OnceLock::new();
    FINAL.get_or_init(|| state_after(usize::MAX))
}

/// Length-prefixed entries, as `domain/tests/golden.rs` writes them.
fn read_entries(mut data: &[u8]) -> Vec<(u64, u64, Command)> {
    let mut entries = Vec::new();
    while data.len() >= 4 {
        let (len, rest) = data.split_at(4);
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            break;
        }
        let (bytes, rest) = rest.split_at(len);
        if let Ok(entry) = codec::decode("golden entry", bytes) {
            entries.push(entry);
        }
        data = rest;
    }
    entries
}

/// Frames `payloads` as the apply target reads them: a 4-byte little-endian length before each.
pub fn frame<'a>(payloads: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The payloads of a framed input; a truncated last frame is taken as it is.
pub fn unframe(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let rest = &data[4..];
        let len = len.min(rest.len());
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    out
}
