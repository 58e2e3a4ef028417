//! What a fake member streams to `SaveSnapshot`: a valid backup file (built with
//! `moor_proto::backup::encode`, as a member builds it) in several chunks, or one spoiled the
//! way a [`SnapshotScript`] says.

use std::pin::Pin;

use moor_proto::api::{BackupHeader, Member, SnapshotChunk};
use moor_proto::backup;
use tonic::Status;

/// The stream a fake member answers `SaveSnapshot` with.
pub type ChunkStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<SnapshotChunk, Status>> + Send>>;

/// How a fake member's backup stream goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotScript {
    /// The whole of [`fake_backup_file`], in chunks of [`FAKE_CHUNK_BYTES`].
    Whole,
    /// All chunks but the last, then the end of the stream.
    EndsEarly,
    /// The whole file with one byte in the middle flipped.
    Corrupt,
    /// Half the chunks, then `UNAVAILABLE`, as a member that shuts down mid-stream.
    Breaks,
}

/// Bytes per chunk of a fake member's backup stream (small, so a backup is many chunks).
pub const FAKE_CHUNK_BYTES: usize = 256;

/// The backup a fake member serves: cluster `c-fake` at index 42, term 3, taken by member
/// 1, with two voters and a learner, 2 of 5 executions running, 1000 bytes of state.
pub fn fake_backup_file() -> Vec<u8> {
    let member = |id: u64, voter: bool| Member {
        id,
        addr: format!("10.0.0.{id}:7402"),
        voter,
        ..Default::default()
    };
    let counts = [("sites", 24), ("executions", 5), ("executions_running", 2)]
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    let header = BackupHeader {
        state_encoding_version: 1,
        index: 42,
        term: 3,
        cluster_id: "c-fake".into(),
        members: vec![member(1, true), member(2, true), member(4, false)],
        created_unix_ms: 1_700_000_000_000,
        taken_by: 1,
        moord_version: "0.0.0-fake".into(),
        counts,
        running_executions: 2,
        ..Default::default()
    };
    let state: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    backup::encode(header, &state)
}

/// The items of the stream `script` asks for.
pub fn snapshot_stream(script: SnapshotScript) -> ChunkStream {
    let mut file = fake_backup_file();
    if script == SnapshotScript::Corrupt {
        let mid = file.len() / 2;
        file[mid] ^= 0x40;
    }
    let mut items: Vec<Result<SnapshotChunk, Status>> = file
        .chunks(FAKE_CHUNK_BYTES)
        .map(|c| Ok(SnapshotChunk { data: c.to_vec() }))
        .collect();
    match script {
        SnapshotScript::Whole | SnapshotScript::Corrupt => {}
        SnapshotScript::EndsEarly => {
            items.pop();
        }
        SnapshotScript::Breaks => {
            items.truncate(items.len() / 2);
            items.push(Err(Status::unavailable("member is shutting down")));
        }
    }
    Box::pin(tokio_stream::iter(items))
}
