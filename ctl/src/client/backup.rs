//! The backup call of `MoorApi`: opening the `SaveSnapshot` stream.
//!
//! A backup changes nothing, so it is a read: sent to any member, retried on the next one
//! while nothing has been received. The member answers only once it has taken the backup
//! (a read barrier through the leader, then the state encoded), which takes long for a
//! large state, so each attempt may wait all the time left ([`Call::patient`]).

use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{SaveSnapshotRequest, SnapshotChunk};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::Streaming;

use super::{Call, Client, RpcError};

type Api = MoorApiClient<Channel>;

impl Client {
    /// Opens the backup stream on the first member that answers (with the usual failover,
    /// bounded by the client's deadline); returns the stream and the endpoint serving it.
    /// The member is told to finish by `until`, the end of the whole save.
    pub async fn open_snapshot(
        &mut self,
        until: Instant,
    ) -> Result<(Streaming<SnapshotChunk>, usize), RpcError> {
        let how = Call::read().patient();
        self.call_from(0, how, SaveSnapshotRequest {}, |mut c: Api, mut r| {
            r.set_timeout(until.saturating_duration_since(Instant::now()));
            async move { c.save_snapshot(r).await }
        })
        .await
    }
}
