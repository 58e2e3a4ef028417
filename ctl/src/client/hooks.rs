//! The calls of `HookApi`: webhook receivers and their deliveries, Git sources, triggers.
//!
//! The writes are classified as `PutGroup` and `PutSite` are: each is a write, never
//! retried once sent, and names the command that shows whether it happened. All of them
//! are safe to repeat by hand after an unknown outcome: a put sets the whole object (the
//! same put twice is the same object), a delete of what is gone changes nothing, and
//! `SyncSource` only asks for a fetch the leader makes once.

use moor_proto::hooks as pb;
use moor_proto::hooks::hook_api_client::HookApiClient;
use tonic::transport::Channel;

use super::{Call, Client, RpcError};

type Api = HookApiClient<Channel>;

impl Client {
    /// Creates or replaces a receiver (its secret with it).
    pub async fn put_receiver(
        &mut self,
        receiver: pb::Receiver,
    ) -> Result<pb::PutReceiverResponse, RpcError> {
        let check = format!("moorctl receiver show {}", receiver.name);
        let msg = pb::PutReceiverRequest {
            receiver: Some(receiver),
        };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.put_receiver(r).await
        })
        .await
    }

    /// One receiver, without its secret.
    pub async fn get_receiver(
        &mut self,
        name: String,
        stale: bool,
    ) -> Result<pb::Receiver, RpcError> {
        let msg = pb::GetReceiverRequest { name, stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.get_receiver(r).await
        })
        .await
    }

    /// Every receiver.
    pub async fn list_receivers(
        &mut self,
        stale: bool,
    ) -> Result<pb::ListReceiversResponse, RpcError> {
        let msg = pb::ListReceiversRequest { stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_receivers(r).await
        })
        .await
    }

    /// Deletes a receiver.
    pub async fn delete_receiver(
        &mut self,
        name: String,
    ) -> Result<pb::DeleteReceiverResponse, RpcError> {
        let msg = pb::DeleteReceiverRequest { name };
        self.call(
            Call::write("moorctl receiver list"),
            msg,
            |mut c: Api, r| async move { c.delete_receiver(r).await },
        )
        .await
    }

    /// The latest `limit` deliveries of a receiver (0: the member's default).
    pub async fn list_deliveries(
        &mut self,
        receiver: String,
        limit: u32,
        stale: bool,
    ) -> Result<pb::ListDeliveriesResponse, RpcError> {
        let msg = pb::ListDeliveriesRequest {
            receiver,
            limit,
            stale,
        };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_deliveries(r).await
        })
        .await
    }

    /// Creates or replaces a source.
    pub async fn put_source(
        &mut self,
        source: pb::Source,
    ) -> Result<pb::PutSourceResponse, RpcError> {
        let check = format!("moorctl source show {}", source.name);
        let msg = pb::PutSourceRequest {
            source: Some(source),
        };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.put_source(r).await
        })
        .await
    }

    /// One source, with its blueprint files.
    pub async fn get_source(&mut self, name: String, stale: bool) -> Result<pb::Source, RpcError> {
        let msg = pb::GetSourceRequest { name, stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.get_source(r).await
        })
        .await
    }

    /// Every source.
    pub async fn list_sources(&mut self, stale: bool) -> Result<pb::ListSourcesResponse, RpcError> {
        let msg = pb::ListSourcesRequest { stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_sources(r).await
        })
        .await
    }

    /// Deletes a source.
    pub async fn delete_source(
        &mut self,
        name: String,
    ) -> Result<pb::DeleteSourceResponse, RpcError> {
        let msg = pb::DeleteSourceRequest { name };
        self.call(
            Call::write("moorctl source list"),
            msg,
            |mut c: Api, r| async move { c.delete_source(r).await },
        )
        .await
    }

    /// Asks the leader to fetch a source now.
    pub async fn sync_source(&mut self, name: String) -> Result<(), RpcError> {
        let check = format!("moorctl source show {name}");
        let msg = pb::SyncSourceRequest { name };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.sync_source(r).await
        })
        .await
        .map(|_| ())
    }

    /// Creates or replaces a trigger.
    pub async fn put_trigger(
        &mut self,
        trigger: pb::Trigger,
    ) -> Result<pb::PutTriggerResponse, RpcError> {
        let check = format!("moorctl trigger show {}", trigger.name);
        let msg = pb::PutTriggerRequest {
            trigger: Some(trigger),
        };
        self.call(Call::write(&check), msg, |mut c: Api, r| async move {
            c.put_trigger(r).await
        })
        .await
    }

    /// One trigger, with its latest firings.
    pub async fn get_trigger(
        &mut self,
        name: String,
        stale: bool,
    ) -> Result<pb::Trigger, RpcError> {
        let msg = pb::GetTriggerRequest { name, stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.get_trigger(r).await
        })
        .await
    }

    /// Every trigger.
    pub async fn list_triggers(
        &mut self,
        stale: bool,
    ) -> Result<pb::ListTriggersResponse, RpcError> {
        let msg = pb::ListTriggersRequest { stale };
        self.call(Call::read(), msg, |mut c: Api, r| async move {
            c.list_triggers(r).await
        })
        .await
    }

    /// Deletes a trigger.
    pub async fn delete_trigger(
        &mut self,
        name: String,
    ) -> Result<pb::DeleteTriggerResponse, RpcError> {
        let msg = pb::DeleteTriggerRequest { name };
        self.call(
            Call::write("moorctl trigger list"),
            msg,
            |mut c: Api, r| async move { c.delete_trigger(r).await },
        )
        .await
    }
}
