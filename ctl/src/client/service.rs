//! [`Service`]: how the generic call helper makes a typed tonic client of any of the
//! member's services on a shared connection, so one helper serves every API.

use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::auth::auth_api_client::AuthApiClient;
use moor_proto::hooks::hook_api_client::HookApiClient;
use moor_proto::rollout::rollout_api_client::RolloutApiClient;
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use tonic::transport::Channel;

/// Largest response accepted. A `List` page holds at most
/// [`LIST_PAGE_SIZE`](super::LIST_PAGE_SIZE) entries of at most 1 MiB each with the
/// server's default limits; tonic's default of 4 MiB would refuse a page of large values.
pub(super) const MAX_RESPONSE_BYTES: usize = 128 << 20;

/// A generated gRPC client of one of the services a member serves.
pub trait Service {
    /// The client on `channel`, accepting responses up to [`MAX_RESPONSE_BYTES`].
    fn on(channel: Channel) -> Self;
}

macro_rules! service {
    ($($client:ident),+) => {
        $(
            impl Service for $client<Channel> {
                fn on(channel: Channel) -> Self {
                    $client::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
                }
            }
        )+
    };
}

service!(
    MoorApiClient,
    WorkflowApiClient,
    RolloutApiClient,
    AuthApiClient,
    HookApiClient
);
