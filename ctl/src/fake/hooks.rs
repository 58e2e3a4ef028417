//! The fake member's `HookApi`: receivers, sources and triggers kept in memory and checked
//! as a member checks them where the commands' tests need it (a receiver's secret is
//! required and never returned; a trigger's rollout must be an update).
//!
//! A fetch asked for with `SyncSource` is pending until the next read of the source, which
//! ends it: a source whose URL contains `broken` then records a failure at
//! [`FAKE_BAD_COMMIT`], any other a fetch of the fake commit with one blueprint file.
//! `ListDeliveries` answers two deliveries, newest first, for any receiver that exists.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use moor_proto::hooks as pb;
use moor_proto::hooks::hook_api_server::HookApi;
use tonic::{Request, Response, Status};

use super::workflow::FAKE_COMMIT;

/// The commit at which a `broken` source's fetch fails.
pub const FAKE_BAD_COMMIT: &str = "badbadbad0123456789abcdef0123456789abcdef";

/// What a fake member's `HookApi` holds.
#[derive(Debug, Default)]
struct HookState {
    receivers: BTreeMap<String, pb::Receiver>,
    sources: BTreeMap<String, pb::Source>,
    triggers: BTreeMap<String, pb::Trigger>,
    /// The clock of the fake, in milliseconds: one tick per change.
    now_ms: u64,
}

impl HookState {
    fn tick(&mut self) -> u64 {
        self.now_ms += 1_000;
        self.now_ms
    }

    /// Ends a pending fetch of source `name`, as the leader would.
    fn end_fetch(&mut self, name: &str) {
        let now = self.tick();
        let Some(s) = self.sources.get_mut(name).filter(|s| s.fetch_pending) else {
            return;
        };
        s.fetch_pending = false;
        if s.url.contains("broken") {
            s.error = "blueprints/bad.yaml:3:5: error: unknown field `resorces`".into();
            s.error_commit = FAKE_BAD_COMMIT.into();
            s.error_ms = now;
            return;
        }
        s.commit = FAKE_COMMIT.into();
        s.fetched_ms = now;
        s.error.clear();
        s.error_commit.clear();
        s.error_ms = 0;
        s.blueprints = vec![pb::SourceBlueprint {
            path: format!("{}hello.yaml", s.path),
            blueprint: "hello".into(),
            revision: 2,
        }];
    }
}

/// A fake member's `HookApi`.
pub struct FakeHooks {
    calls: Arc<AtomicUsize>,
    state: Mutex<HookState>,
}

impl FakeHooks {
    pub fn new(calls: Arc<AtomicUsize>) -> FakeHooks {
        FakeHooks {
            calls,
            state: Mutex::default(),
        }
    }

    /// Counts the call and answers with what `f` makes of the state.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut HookState) -> Result<T, Status>,
    ) -> Result<Response<T>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        f(&mut self.state.lock().unwrap()).map(Response::new)
    }
}

/// NOT_FOUND for `kind` `name`, worded as a member words it.
fn not_found(kind: &str, name: &str) -> Status {
    Status::not_found(format!("{kind} {name} not found"))
}

/// The entry `name` of `map`, or NOT_FOUND.
fn get<T: Clone>(map: &BTreeMap<String, T>, kind: &str, name: &str) -> Result<T, Status> {
    map.get(name).cloned().ok_or_else(|| not_found(kind, name))
}

/// A receiver as reads return it: no secret, its path and fingerprint.
fn public(r: &pb::Receiver) -> pb::Receiver {
    pb::Receiver {
        secret: String::new(),
        path: format!("/hooks/{}", r.name),
        secret_fingerprint: format!("{:08x}", r.secret.len() * 0x1111),
        ..r.clone()
    }
}

#[tonic::async_trait]
impl HookApi for FakeHooks {
    async fn put_receiver(
        &self,
        r: Request<pb::PutReceiverRequest>,
    ) -> Result<Response<pb::PutReceiverResponse>, Status> {
        let mut rec = r.into_inner().receiver.unwrap_or_default();
        self.with(|state| {
            if rec.secret.is_empty() {
                return Err(Status::invalid_argument("a receiver needs a secret"));
            }
            rec.created_ms = state.tick();
            let path = format!("/hooks/{}", rec.name);
            let created = state.receivers.insert(rec.name.clone(), rec).is_none();
            Ok(pb::PutReceiverResponse { created, path })
        })
    }
    async fn get_receiver(
        &self,
        r: Request<pb::GetReceiverRequest>,
    ) -> Result<Response<pb::Receiver>, Status> {
        let name = r.into_inner().name;
        self.with(|state| Ok(public(&get(&state.receivers, "receiver", &name)?)))
    }
    async fn list_receivers(
        &self,
        _: Request<pb::ListReceiversRequest>,
    ) -> Result<Response<pb::ListReceiversResponse>, Status> {
        self.with(|state| {
            Ok(pb::ListReceiversResponse {
                receivers: state.receivers.values().map(public).collect(),
            })
        })
    }
    async fn delete_receiver(
        &self,
        r: Request<pb::DeleteReceiverRequest>,
    ) -> Result<Response<pb::DeleteReceiverResponse>, Status> {
        let name = r.into_inner().name;
        self.with(|state| {
            Ok(pb::DeleteReceiverResponse {
                deleted: state.receivers.remove(&name).is_some(),
            })
        })
    }
    async fn list_deliveries(
        &self,
        r: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let name = r.into_inner().receiver;
        self.with(|state| {
            get(&state.receivers, "receiver", &name)?;
            let push = pb::Delivery {
                id: "d-2".into(),
                received_ms: 1_700_000_060_000,
                event: "push".into(),
                verdict: "accepted".into(),
                detail: "asked source shop to fetch".into(),
                repository: "acme/shop".into(),
                branch: "main".into(),
                commit: FAKE_COMMIT.into(),
                sources: vec!["shop".into()],
                member: 1,
            };
            let ping = pb::Delivery {
                id: "d-1".into(),
                received_ms: 1_700_000_000_000,
                event: "ping".into(),
                verdict: "ping".into(),
                ..Default::default()
            };
            Ok(pb::ListDeliveriesResponse {
                deliveries: vec![push, ping],
            })
        })
    }

    async fn put_source(
        &self,
        r: Request<pb::PutSourceRequest>,
    ) -> Result<Response<pb::PutSourceResponse>, Status> {
        let mut source = r.into_inner().source.unwrap_or_default();
        self.with(|state| {
            source.created_ms = state.tick();
            let created = state.sources.insert(source.name.clone(), source).is_none();
            Ok(pb::PutSourceResponse { created })
        })
    }
    async fn get_source(
        &self,
        r: Request<pb::GetSourceRequest>,
    ) -> Result<Response<pb::Source>, Status> {
        let name = r.into_inner().name;
        self.with(|state| {
            let before = get(&state.sources, "source", &name)?;
            state.end_fetch(&name);
            // The read that ends a fetch still sees it pending, as a read racing the
            // leader's fetch would.
            Ok(before)
        })
    }
    async fn list_sources(
        &self,
        _: Request<pb::ListSourcesRequest>,
    ) -> Result<Response<pb::ListSourcesResponse>, Status> {
        self.with(|state| {
            Ok(pb::ListSourcesResponse {
                sources: state.sources.values().cloned().collect(),
            })
        })
    }
    async fn delete_source(
        &self,
        r: Request<pb::DeleteSourceRequest>,
    ) -> Result<Response<pb::DeleteSourceResponse>, Status> {
        let name = r.into_inner().name;
        self.with(|state| {
            Ok(pb::DeleteSourceResponse {
                deleted: state.sources.remove(&name).is_some(),
            })
        })
    }
    async fn sync_source(
        &self,
        r: Request<pb::SyncSourceRequest>,
    ) -> Result<Response<pb::SyncSourceResponse>, Status> {
        let name = r.into_inner().name;
        self.with(|state| {
            let source = state
                .sources
                .get_mut(&name)
                .ok_or_else(|| not_found("source", &name))?;
            source.fetch_pending = true;
            Ok(pb::SyncSourceResponse {})
        })
    }

    async fn put_trigger(
        &self,
        r: Request<pb::PutTriggerRequest>,
    ) -> Result<Response<pb::PutTriggerResponse>, Status> {
        let mut trigger = r.into_inner().trigger.unwrap_or_default();
        self.with(|state| {
            let action = trigger.rollout.as_ref().map(|r| r.action.as_str());
            if !matches!(action, Some("update" | "")) {
                return Err(Status::invalid_argument(
                    "a trigger's rollout must be an update",
                ));
            }
            trigger.created_ms = state.tick();
            let created = state
                .triggers
                .insert(trigger.name.clone(), trigger)
                .is_none();
            Ok(pb::PutTriggerResponse { created })
        })
    }
    async fn get_trigger(
        &self,
        r: Request<pb::GetTriggerRequest>,
    ) -> Result<Response<pb::Trigger>, Status> {
        let name = r.into_inner().name;
        self.with(|state| get(&state.triggers, "trigger", &name))
    }
    async fn list_triggers(
        &self,
        _: Request<pb::ListTriggersRequest>,
    ) -> Result<Response<pb::ListTriggersResponse>, Status> {
        self.with(|state| {
            Ok(pb::ListTriggersResponse {
                triggers: state.triggers.values().cloned().collect(),
            })
        })
    }
    async fn delete_trigger(
        &self,
        r: Request<pb::DeleteTriggerRequest>,
    ) -> Result<Response<pb::DeleteTriggerResponse>, Status> {
        let name = r.into_inner().name;
        self.with(|state| {
            Ok(pb::DeleteTriggerResponse {
                deleted: state.triggers.remove(&name).is_some(),
            })
        })
    }
}
