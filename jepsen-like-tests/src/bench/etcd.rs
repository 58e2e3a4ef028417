//! A 3-member etcd cluster on loopback (Debian's `etcd-server`), and a minimal etcd v3 KV
//! client over the same tonic stack Moor's benchmark client uses, so both systems are driven
//! by identical client code.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};

use crate::harness::free_port;

/// etcd's `PutRequest` (etcdserverpb, rpc.proto): only the fields we send.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// etcd's `PutResponse`: we only need to know it arrived.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PutResponse {}

/// etcd's `RangeRequest`: one key, no `range_end`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// false: a linearizable read (ReadIndex through the leader); true: the member's own state.
    #[prost(bool, tag = "7")]
    pub serializable: bool,
}

/// etcd's `RangeResponse` (`header` = 1, `kvs` = 2, `more` = 3, `count` = 4): only the
/// keys found.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeResponse {
    #[prost(message, repeated, tag = "2")]
    pub kvs: Vec<KeyValue>,
}

/// etcd's `mvccpb.KeyValue`: only the key and the value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
}

/// etcd's `StatusRequest` (Maintenance service): empty.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {}

/// etcd's `ResponseHeader`: only the answering member's id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResponseHeader {
    #[prost(uint64, tag = "2")]
    pub member_id: u64,
}

/// etcd's `StatusResponse`: who answered and whom it knows as leader.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    #[prost(message, optional, tag = "1")]
    pub header: Option<ResponseHeader>,
    #[prost(uint64, tag = "4")]
    pub leader: u64,
}

/// Path of the etcd server binary, if installed.
pub fn etcd_binary() -> Option<PathBuf> {
    ["/usr/bin/etcd", "/usr/local/bin/etcd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Three etcd processes on loopback.
pub struct EtcdCluster {
    children: Vec<Child>,
    pub client_urls: Vec<String>,
}

impl EtcdCluster {
    /// Starts three members with data under `dir` and waits until a Put succeeds.
    pub async fn start(binary: &Path, dir: &Path) -> Result<EtcdCluster> {
        let peers: Vec<(String, u16, u16)> = (1..=3)
            .map(|i| (format!("e{i}"), free_port(), free_port()))
            .collect();
        let initial: Vec<String> = peers
            .iter()
            .map(|(n, _, p)| format!("{n}=http://127.0.0.1:{p}"))
            .collect();
        let mut children = Vec::new();
        let mut client_urls = Vec::new();
        for (name, client_port, peer_port) in &peers {
            let data = dir.join(name);
            let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
            let child = Command::new(binary)
                .args(["--name", name])
                .arg("--data-dir")
                .arg(&data)
                .args([
                    "--listen-client-urls",
                    &format!("http://127.0.0.1:{client_port}"),
                    "--advertise-client-urls",
                    &format!("http://127.0.0.1:{client_port}"),
                    "--listen-peer-urls",
                    &format!("http://127.0.0.1:{peer_port}"),
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{peer_port}"),
                    "--initial-cluster",
                    &initial.join(","),
                    "--initial-cluster-state",
                    "new",
                    "--initial-cluster-token",
                    "moor-bench",
                    "--log-level",
                    "error",
                ])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("cannot start {}", binary.display()))?;
            children.push(child);
            client_urls.push(format!("127.0.0.1:{client_port}"));
        }
        let cluster = EtcdCluster {
            children,
            client_urls,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = EtcdClient::new(&cluster.client_urls[0])?;
        loop {
            match client
                .put(b"moor-bench-ready".to_vec(), b"1".to_vec())
                .await
            {
                Ok(()) => return Ok(cluster),
                Err(e) if Instant::now() > deadline => bail!("etcd did not become ready: {e}"),
                // Polls readiness of external processes we do not control.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

impl EtcdCluster {
    /// The members' client addresses with the leader last (each member asked who leads; the
    /// one whose own id is the leader's goes last).
    pub async fn followers_first(&self) -> Result<Vec<String>> {
        let mut followers = Vec::new();
        let mut leaders = Vec::new();
        for url in &self.client_urls {
            let status = EtcdClient::new(url)?
                .status()
                .await
                .map_err(|e| anyhow::anyhow!("etcd status of {url}: {e}"))?;
            let own = status.header.map(|h| h.member_id).unwrap_or(0);
            if own != 0 && own == status.leader {
                leaders.push(url.clone());
            } else {
                followers.push(url.clone());
            }
        }
        followers.extend(leaders);
        Ok(followers)
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A minimal etcd KV client.
#[derive(Clone)]
pub struct EtcdClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl EtcdClient {
    pub fn new(addr: &str) -> Result<EtcdClient> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(EtcdClient {
            grpc: tonic::client::Grpc::new(channel),
        })
    }

    pub fn from_channel(channel: Channel) -> EtcdClient {
        EtcdClient {
            grpc: tonic::client::Grpc::new(channel),
        }
    }

    pub async fn put(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), String> {
        self.unary::<_, PutResponse>(PutRequest { key, value }, "/etcdserverpb.KV/Put")
            .await
            .map(|_| ())
    }

    /// A linearizable read of `key`: its value, or None when etcd does not have it.
    pub async fn get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        let req = RangeRequest {
            key,
            serializable: false,
        };
        let resp = self
            .unary::<_, RangeResponse>(req, "/etcdserverpb.KV/Range")
            .await?;
        Ok(resp.kvs.into_iter().next().map(|kv| kv.value))
    }

    /// The member's status: its id and the leader it knows.
    pub async fn status(&self) -> Result<StatusResponse, String> {
        self.unary::<_, StatusResponse>(StatusRequest {}, "/etcdserverpb.Maintenance/Status")
            .await
    }

    /// One unary call of `path`; a failure is rendered as "code: message".
    async fn unary<Req, Resp>(&self, req: Req, path: &'static str) -> Result<Resp, String>
    where
        Req: prost::Message + Send + 'static,
        Resp: prost::Message + Default + Send + 'static,
    {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.map_err(|e| e.to_string())?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        grpc.unary(
            tonic::Request::new(req),
            PathAndQuery::from_static(path),
            codec,
        )
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("{}: {}", s.code(), s.message()))
    }
}
