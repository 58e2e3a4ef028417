//! `SaveSnapshot`: a consistent backup of the whole replicated state, from any member, while
//! writes continue.
//!
//! The member first runs a read barrier (so the backup holds every write acknowledged before
//! the request), then encodes its applied state under the state's read lock together with
//! the log id and membership it is at — the same instant a Raft snapshot captures — and
//! streams the file (`moor_proto::backup`) in chunks. Apply waits only while the state is
//! encoded, as it does for a snapshot build.

use std::pin::Pin;
use std::sync::Arc;

use moor_proto::api::{BackupHeader, Member as MemberMsg, SnapshotChunk};
use moor_proto::backup;
use tokio_stream::Stream;
use tonic::Status;

use crate::errors::ApiError;
use crate::raft::member::Member;

/// Bytes per streamed chunk (well under the client's message limit).
pub const CHUNK_BYTES: usize = 1 << 20;

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<SnapshotChunk, Status>> + Send>>;

/// The whole backup file of `member`'s applied state, after a read barrier.
pub async fn backup_file(member: &Arc<Member>) -> Result<Vec<u8>, ApiError> {
    member.read_barrier().await?;
    let m = Arc::clone(member);
    tokio::task::spawn_blocking(move || encode(&m))
        .await
        .map_err(|e| ApiError::Internal(format!("the backup task failed: {e}")))?
}

fn encode(member: &Member) -> Result<Vec<u8>, ApiError> {
    let captured = member
        .applied
        .read(|state, applied, membership| {
            let bytes = state.0.encode().map_err(|e| e.to_string())?;
            let counts = state.0.counts();
            let members: Vec<MemberMsg> = membership
                .membership()
                .nodes()
                .map(|(id, node)| MemberMsg {
                    id: *id,
                    addr: node.addr.clone(),
                    voter: membership.membership().voter_ids().any(|v| v == *id),
                    matched_index: None,
                    lag: None,
                    supported_feature_level: None,
                })
                .collect();
            let (index, term) = applied
                .map(|l| (l.index, l.leader_id.term))
                .unwrap_or((0, 0));
            Ok::<_, String>((
                bytes,
                counts,
                members,
                index,
                term,
                state.0.cluster.id.clone(),
            ))
        })
        .map_err(|e| ApiError::Internal(format!("cannot read the applied state: {e}")))?
        .map_err(|e| ApiError::Internal(format!("cannot encode the state: {e}")))?;
    let (bytes, counts, members, index, term, cluster_id) = captured;
    let running = counts.get("executions_running").copied().unwrap_or(0);
    let header = BackupHeader {
        state_encoding_version: u32::from(moor_domain::codec::ENCODING_VERSION),
        index,
        term,
        cluster_id,
        members,
        created_unix_ms: crate::exec::executor::now_ms(),
        taken_by: member.id,
        moord_version: env!("CARGO_PKG_VERSION").to_string(),
        counts: counts.into_iter().collect(),
        running_executions: running,
        ..Default::default()
    };
    tracing::info!(index, term, state_bytes = bytes.len(), "backup taken");
    Ok(backup::encode(header, &bytes))
}

/// `file` as a stream of chunks, each copied out only when the client is ready for it.
pub fn stream(file: Vec<u8>) -> ChunkStream {
    let n = file.len().div_ceil(CHUNK_BYTES);
    Box::pin(tokio_stream::iter((0..n).map(move |i| {
        let start = i * CHUNK_BYTES;
        let end = (start + CHUNK_BYTES).min(file.len());
        Ok(SnapshotChunk {
            data: file[start..end].to_vec(),
        })
    })))
}
