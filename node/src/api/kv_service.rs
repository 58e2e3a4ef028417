//! The client API ([`MoorApi`]): validates requests, runs them through the member (which
//! forwards to the leader when needed) and converts results to wire messages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use moor_proto::api::moor_api_server::MoorApi;
use moor_proto::api::Member as MemberMsg;
use moor_proto::api::*;
use tonic::{Request, Response, Status};

use crate::api::auth::caller::audited;
use crate::config::LimitsConfig;
use crate::errors::ApiError;
use crate::raft::member::{LeaderRequest, Member, MembershipView};
use moor_domain::auth::permission::Target;
use moor_domain::cluster::ClusterCommand;
use moor_domain::command::{Command, CommandResult};
use moor_domain::feature;
use moor_domain::kv::{KvCommand, KvEntry, KvResult};

/// Default and largest page sizes of `List`.
const LIST_DEFAULT_LIMIT: usize = 1000;
const LIST_MAX_LIMIT: usize = 10_000;

/// Serves [`MoorApi`] for one member.
pub struct ApiService {
    member: Arc<Member>,
    limits: LimitsConfig,
    /// Whether `cluster init` creates the bootstrap admin token, and where it is written.
    auth_enabled: bool,
    data_dir: PathBuf,
}

impl ApiService {
    pub fn new(
        member: Arc<Member>,
        limits: LimitsConfig,
        auth_enabled: bool,
        data_dir: PathBuf,
    ) -> Self {
        ApiService {
            member,
            limits,
            auth_enabled,
            data_dir,
        }
    }

    fn check_key(&self, key: &str) -> Result<(), ApiError> {
        if key.is_empty() {
            return Err(ApiError::invalid("key", "must not be empty"));
        }
        if key.len() > self.limits.max_key_bytes {
            return Err(ApiError::invalid(
                "key",
                format!(
                    "is {} bytes, the limit is {} (limits.max_key_bytes)",
                    key.len(),
                    self.limits.max_key_bytes
                ),
            ));
        }
        Ok(())
    }

    fn check_value(&self, field: &str, value: &[u8]) -> Result<(), ApiError> {
        if value.len() > self.limits.max_value_bytes {
            return Err(ApiError::invalid(
                field,
                format!(
                    "is {} bytes, the limit is {} (limits.max_value_bytes); store large data elsewhere and keep a reference here",
                    value.len(),
                    self.limits.max_value_bytes
                ),
            ));
        }
        Ok(())
    }

    /// `Put` of a checked (and, for a secret, sealed) value, answered with what it replaced.
    async fn put_value(
        &self,
        key: String,
        value: Vec<u8>,
    ) -> Result<Response<PutResponse>, Status> {
        let (log_index, res) = self
            .kv_write(KvCommand::Put {
                key: key.clone(),
                value,
            })
            .await?;
        Ok(Response::new(PutResponse {
            prev: res.prev.as_ref().map(|e| kv(&key, e)),
            log_index,
        }))
    }

    async fn kv_write(&self, command: KvCommand) -> Result<(u64, KvResult), ApiError> {
        let key = match &command {
            KvCommand::Put { key, .. } | KvCommand::Delete { key } | KvCommand::Cas { key, .. } => {
                key.clone()
            }
        };
        let target = Target {
            name: Some(key.clone()),
            ..Target::default()
        };
        let command = audited(Command::Kv(command), target, format!("var {key}"));
        match self.member.write(command).await? {
            (index, CommandResult::Kv(r)) => Ok((index, r)),
            (_, CommandResult::Refused(reason)) => Err(ApiError::PermissionDenied { reason }),
            (_, other) => Err(ApiError::Internal(format!(
                "a key/value write returned {other:?}"
            ))),
        }
    }

    /// Makes the local state current enough for the requested consistency; returns the
    /// applied index the read is served at.
    async fn prepare_read(&self, consistency: i32) -> Result<u64, ApiError> {
        match ReadConsistency::try_from(consistency) {
            Ok(ReadConsistency::Linearizable) => self.member.read_barrier().await,
            Ok(ReadConsistency::Stale) => Ok(self.member.applied_index()),
            Err(_) => Err(ApiError::invalid(
                "consistency",
                format!("{consistency} is not a known read consistency"),
            )),
        }
    }
}

fn kv(key: &str, e: &KvEntry) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: e.value.clone(),
        create_index: e.create_index,
        mod_index: e.mod_index,
    }
}

fn members_msg(view: &MembershipView) -> MembershipResponse {
    MembershipResponse {
        members: view
            .members
            .iter()
            .map(|m| MemberMsg {
                id: m.id,
                addr: m.addr.clone(),
                voter: m.voter,
                matched_index: None,
                lag: None,
                supported_feature_level: None,
            })
            .collect(),
        log_index: view.log_index,
    }
}

#[tonic::async_trait]
impl MoorApi for ApiService {
    async fn cluster_status(
        &self,
        _request: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        let m = self.member.metrics();
        let view = self.member.membership_view(0);
        let last = m.last_log_index.unwrap_or(0);
        let leads = m.current_leader == Some(m.id);
        let members = view
            .members
            .iter()
            .map(|info| {
                let supported_feature_level = if !leads {
                    None
                } else if info.id == m.id {
                    Some(feature::SUPPORTED.0)
                } else {
                    self.member.peer_levels.last(info.id).map(|(l, _)| l.0)
                };
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&info.id))
                    .map(|l| l.map(|l| l.index).unwrap_or(0));
                MemberMsg {
                    id: info.id,
                    addr: info.addr.clone(),
                    voter: info.voter,
                    matched_index: matched,
                    lag: matched.map(|i| last.saturating_sub(i)),
                    supported_feature_level,
                }
            })
            .collect();
        let leader_addr = m
            .current_leader
            .and_then(|l| view.members.iter().find(|i| i.id == l))
            .map(|i| i.addr.clone())
            .unwrap_or_default();
        let stats = self.member.stats.snapshot();
        let committed_index = match self
            .member
            .raft
            .with_raft_state(|s| s.committed.map(|l| l.index).unwrap_or(0))
            .await
        {
            Ok(index) => index,
            // A removed member has stopped Raft but still answers its status (it says so).
            Err(_) if self.member.removal.reason().is_some() => 0,
            Err(_) => return Err(ApiError::ShuttingDown.into()),
        };
        Ok(Response::new(ClusterStatusResponse {
            id: m.id,
            state: if self.member.removal.reason().is_some() {
                "Removed".to_string()
            } else {
                format!("{:?}", m.state)
            },
            leader_id: m.current_leader,
            leader_addr,
            term: m.current_term,
            last_log_index: last,
            committed_index,
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
            purged_index: m.purged.map(|l| l.index).unwrap_or(0),
            members,
            log_appends: stats.log_appends,
            log_entries: stats.log_entries,
            fsyncs: stats.fsyncs,
            peer_addr: self.member.addr.clone(),
            cluster_id: self.member.identity.get(),
            feature_level: self.member.applied_level.get().0,
            supported_feature_level: feature::SUPPORTED.0,
            version: env!("CARGO_PKG_VERSION").to_string(),
            auto_finalize: self.member.auto_finalize,
        }))
    }

    async fn upgrade_finalize(
        &self,
        request: Request<UpgradeFinalizeRequest>,
    ) -> Result<Response<UpgradeFinalizeResponse>, Status> {
        let level = request.into_inner().level;
        let command = audited(
            Command::Cluster(ClusterCommand::SetFeatureLevel { level }),
            Target::default(),
            "cluster".into(),
        );
        let (previous_level, feature_level, log_index) =
            self.member.upgrade_finalize(command).await?;
        Ok(Response::new(UpgradeFinalizeResponse {
            previous_level,
            feature_level,
            log_index,
        }))
    }

    type SaveSnapshotStream = crate::api::backup::ChunkStream;

    async fn save_snapshot(
        &self,
        _request: Request<SaveSnapshotRequest>,
    ) -> Result<Response<Self::SaveSnapshotStream>, Status> {
        let file = crate::api::backup::backup_file(&self.member).await?;
        Ok(Response::new(crate::api::backup::stream(file)))
    }

    async fn cluster_init(
        &self,
        request: Request<ClusterInitRequest>,
    ) -> Result<Response<ClusterInitResponse>, Status> {
        let members: BTreeMap<u64, String> = request.into_inner().members.into_iter().collect();
        for (id, addr) in &members {
            if *id == 0 {
                return Err(ApiError::invalid("members", "member ids start at 1").into());
            }
            if let Err(hint) = crate::config::validate_peer_addr(addr) {
                return Err(ApiError::invalid(&format!("members[{id}]"), hint).into());
            }
        }
        self.member.initialize(members).await?;
        let admin_token = if self.auth_enabled {
            crate::api::auth::bootstrap::create_admin_token(&self.member, &self.data_dir)
                .await?
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ClusterInitResponse { admin_token }))
    }

    async fn add_member(
        &self,
        request: Request<AddMemberRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let r = request.into_inner();
        if r.id == 0 {
            return Err(ApiError::invalid("id", "member ids start at 1").into());
        }
        let view = self
            .member
            .change_membership(LeaderRequest::AddLearner {
                id: r.id,
                addr: r.addr,
                wait: r.wait_caught_up,
            })
            .await?;
        Ok(Response::new(members_msg(&view)))
    }

    async fn promote_member(
        &self,
        request: Request<PromoteMemberRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let id = request.into_inner().id;
        let view = self
            .member
            .change_membership(LeaderRequest::Promote { id })
            .await?;
        Ok(Response::new(members_msg(&view)))
    }

    async fn remove_member(
        &self,
        request: Request<RemoveMemberRequest>,
    ) -> Result<Response<MembershipResponse>, Status> {
        let id = request.into_inner().id;
        let view = self
            .member
            .change_membership(LeaderRequest::Remove { id })
            .await?;
        Ok(Response::new(members_msg(&view)))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let r = request.into_inner();
        self.check_key(&r.key)?;
        self.check_value("value", &r.value)?;
        self.put_value(r.key, r.value).await
    }

    async fn put_secret(
        &self,
        request: Request<PutSecretRequest>,
    ) -> Result<Response<PutResponse>, Status> {
        let r = request.into_inner();
        self.check_key(&r.key)?;
        self.check_value("value", r.value.as_bytes())?;
        let value = crate::api::sealing::seal_variable(&self.member, &r.key, r.value.as_bytes())?;
        self.put_value(r.key, value).await
    }

    async fn secrets_status(
        &self,
        _request: Request<SecretsStatusRequest>,
    ) -> Result<Response<SecretsStatusResponse>, Status> {
        crate::api::sealing::status(&self.member)
            .await
            .map(Response::new)
    }

    async fn reseal_secrets(
        &self,
        _request: Request<ResealSecretsRequest>,
    ) -> Result<Response<ResealSecretsResponse>, Status> {
        crate::api::sealing::reseal(&self.member)
            .await
            .map(Response::new)
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let r = request.into_inner();
        self.check_key(&r.key)?;
        let read_index = self.prepare_read(r.consistency).await?;
        let state = self.member.state.read().expect("state lock poisoned");
        if r.consistency == ReadConsistency::Linearizable as i32 {
            crate::api::auth::caller::still_valid(&state)?;
        }
        Ok(Response::new(GetResponse {
            kv: state.kv.get(&r.key).map(|e| kv(&r.key, e)),
            read_index,
        }))
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let r = request.into_inner();
        self.check_key(&r.key)?;
        let key = r.key.clone();
        let (log_index, res) = self.kv_write(KvCommand::Delete { key: r.key }).await?;
        Ok(Response::new(DeleteResponse {
            prev: res.prev.as_ref().map(|e| kv(&key, e)),
            log_index,
        }))
    }

    async fn compare_and_swap(
        &self,
        request: Request<CompareAndSwapRequest>,
    ) -> Result<Response<CompareAndSwapResponse>, Status> {
        let r = request.into_inner();
        self.check_key(&r.key)?;
        if let Some(v) = &r.expected {
            self.check_value("expected", v)?;
        }
        if let Some(v) = &r.new_value {
            self.check_value("new_value", v)?;
        }
        let key = r.key.clone();
        let (log_index, res) = self
            .kv_write(KvCommand::Cas {
                key: r.key,
                expected: r.expected,
                new_value: r.new_value,
            })
            .await?;
        Ok(Response::new(CompareAndSwapResponse {
            succeeded: res.succeeded,
            current: res.prev.as_ref().map(|e| kv(&key, e)),
            log_index,
        }))
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let r = request.into_inner();
        let limit = match r.limit as usize {
            0 => LIST_DEFAULT_LIMIT,
            n => n.min(LIST_MAX_LIMIT),
        };
        let read_index = self.prepare_read(r.consistency).await?;
        let state = self.member.state.read().expect("state lock poisoned");
        if r.consistency == ReadConsistency::Linearizable as i32 {
            crate::api::auth::caller::still_valid(&state)?;
        }
        let (page, more) = state.kv.list(&r.prefix, &r.start_after, limit);
        Ok(Response::new(ListResponse {
            kvs: page.iter().map(|(k, e)| kv(k, e)).collect(),
            more,
            read_index,
        }))
    }
}
