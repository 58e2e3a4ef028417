//! The variable calls of `MoorApi`: the replicated key/value namespace.

use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{
    CompareAndSwapRequest, CompareAndSwapResponse, DeleteRequest, DeleteResponse, GetRequest,
    GetResponse, ListRequest, ListResponse, PutRequest, PutResponse, PutSecretRequest,
    ReadConsistency,
};
use tonic::transport::Channel;

use super::{Call, Client, RpcError};

type Api = MoorApiClient<Channel>;

/// Keys asked for per `List` page (a page of large values must fit the response limit of
/// `service.rs`).
pub const LIST_PAGE_SIZE: u32 = 100;

/// What shows whether a write to `key` happened.
fn check(key: &str) -> String {
    format!("moorctl var get {key}")
}

impl Client {
    /// Sets `key` to `value`.
    pub async fn put(&mut self, key: String, value: Vec<u8>) -> Result<PutResponse, RpcError> {
        let check = check(&key);
        let msg = PutRequest { key, value };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.put(r).await
        })
        .await
    }

    /// Sets `key` to `value` sealed by the member with the cluster's secrets key.
    pub async fn put_secret(
        &mut self,
        key: String,
        value: String,
    ) -> Result<PutResponse, RpcError> {
        let check = check(&key);
        let msg = PutSecretRequest { key, value };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.put_secret(r).await
        })
        .await
    }

    /// Reads `key`.
    pub async fn get(
        &mut self,
        key: String,
        consistency: ReadConsistency,
    ) -> Result<GetResponse, RpcError> {
        let msg = GetRequest {
            key,
            consistency: consistency.into(),
        };
        self.call(
            Call::read(),
            msg,
            |mut c: Api, r| async move { c.get(r).await },
        )
        .await
    }

    /// Deletes `key`.
    pub async fn delete(&mut self, key: String) -> Result<DeleteResponse, RpcError> {
        let check = check(&key);
        let msg = DeleteRequest { key };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.delete(r).await
        })
        .await
    }

    /// Replaces (or deletes, `new_value: None`) `key` if it holds `expected` (`None`: absent).
    pub async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new_value: Option<Vec<u8>>,
    ) -> Result<CompareAndSwapResponse, RpcError> {
        let check = check(&key);
        let msg = CompareAndSwapRequest {
            key,
            expected,
            new_value,
        };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.compare_and_swap(r).await
        })
        .await
    }

    /// One page of keys under `prefix` after `start_after`.
    pub async fn list_page(
        &mut self,
        prefix: String,
        start_after: String,
        limit: u32,
        consistency: ReadConsistency,
    ) -> Result<ListResponse, RpcError> {
        let msg = ListRequest {
            prefix,
            consistency: consistency.into(),
            limit,
            start_after,
        };
        self.call(
            Call::read(),
            msg,
            |mut c: Api, r| async move { c.list(r).await },
        )
        .await
    }
}
