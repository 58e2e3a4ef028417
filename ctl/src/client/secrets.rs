//! The secrets calls of `MoorApi`: where stored secrets are sealed, and re-sealing them
//! under the current key (the variable put as a secret is in `vars.rs`).

use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{
    ResealSecretsRequest, ResealSecretsResponse, SecretsStatusRequest, SecretsStatusResponse,
};
use tonic::transport::Channel;

use super::{Call, Client, RpcError};

type Api = MoorApiClient<Channel>;

impl Client {
    /// Counts of stored secrets per sealing key, as the answering member sees them.
    pub async fn secrets_status(&mut self) -> Result<SecretsStatusResponse, RpcError> {
        self.call(
            Call::read(),
            SecretsStatusRequest {},
            |mut c: Api, r| async move { c.secrets_status(r).await },
        )
        .await
    }

    /// Moves every stored secret under an older key (or in clear) to the sealing key. A
    /// write, though repeating it is harmless: it moves only what is not moved yet.
    pub async fn reseal_secrets(&mut self) -> Result<ResealSecretsResponse, RpcError> {
        self.call(
            Call::write("moorctl secrets status"),
            ResealSecretsRequest {},
            |mut c: Api, r| async move { c.reseal_secrets(r).await },
        )
        .await
    }
}
