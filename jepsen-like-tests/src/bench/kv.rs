//! `moor-bench kv`: the same closed-loop key/value load against a fresh 3-member Moor
//! cluster and, when installed, a 3-member etcd cluster, with the physical floor measured
//! first. Prints each run as it ends and returns every figure (for the targets table).
//!
//! Where the clients go ([`Placement`]): all to the leader (etcd: to member 1, which
//! forwards), or spread over every member (issue 15's P1 shape: Moor's followers forward
//! to the leader, etcd's likewise). Spread, the connections go round-robin over the members
//! with the followers first, so a single client talks to a follower on both systems.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{ClusterStatusResponse, PutRequest};
use tonic::transport::Channel;

use super::etcd::{EtcdClient, EtcdCluster};
use super::floor::Floor;
use super::reads;
use super::workload::{self, RequestFn, RunResult};
use crate::harness::{Cluster, MemberSettings};
use crate::security::{connect, Security};

/// One kind of request the load times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Write,
    Read,
}

impl Op {
    pub fn noun(self) -> &'static str {
        match self {
            Op::Write => "write",
            Op::Read => "read",
        }
    }
}

/// Which members the clients' connections go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Every connection to Moor's leader (etcd: member 1).
    Leader,
    /// Connections round-robin over all members, followers first.
    Spread,
}

impl Placement {
    pub fn describe(self) -> &'static str {
        match self {
            Placement::Leader => "all clients on Moor's leader / etcd's member 1",
            Placement::Spread => {
                "clients spread over all members, followers first (a single client is on a follower)"
            }
        }
    }
}

/// The load: the same for both systems.
#[derive(Clone)]
pub struct KvLoad {
    /// What is timed, in order; each with every client count.
    pub ops: Vec<Op>,
    /// How long each client count runs.
    pub duration: Duration,
    /// The client counts, one run each.
    pub clients: Vec<usize>,
    pub value_bytes: usize,
    /// HTTP/2 connections the clients share.
    pub connections: usize,
    pub placement: Placement,
    /// How Moor's members run (TLS and authentication, or plaintext).
    pub settings: MemberSettings,
}

/// One timed run: what, how many clients, what it measured.
#[derive(Debug, Clone)]
pub struct KvRun {
    pub op: Op,
    pub result: RunResult,
}

/// Everything one `kv` invocation measured.
#[derive(Debug, Clone)]
pub struct KvFigures {
    pub floor: Floor,
    pub moor: Vec<KvRun>,
    /// Empty when etcd was not run.
    pub etcd: Vec<KvRun>,
}

impl KvFigures {
    /// The run of `system`'s `op` with `clients` clients.
    pub fn find(runs: &[KvRun], op: Op, clients: usize) -> Option<&RunResult> {
        runs.iter()
            .find(|r| r.op == op && r.result.clients == clients)
            .map(|r| &r.result)
    }
}

/// Prints the physical floor, then runs the load against Moor and, when `etcd` is given,
/// against etcd (data in `dir`).
pub async fn run(load: &KvLoad, etcd: Option<&Path>, dir: &Path) -> Result<KvFigures> {
    let floor = Floor::measure(dir)?;
    floor.print();
    println!("kv     {}", load.placement.describe());
    let moor = load.run_moor().await?;
    let etcd = match etcd {
        Some(bin) => load.run_etcd(bin, &dir.join("etcd"), &moor).await?,
        None => Vec::new(),
    };
    Ok(KvFigures { floor, moor, etcd })
}

impl KvLoad {
    /// Runs every operation with every client count against a fresh 3-member cluster,
    /// printing each run and the leader's appends and fsyncs per request.
    async fn run_moor(&self) -> Result<Vec<KvRun>> {
        let mut results = Vec::new();
        let cluster = Cluster::start(3, self.settings.clone()).await?;
        let leader = cluster.wait_leader(Duration::from_secs(20)).await?;
        let mut order: Vec<u64> = cluster
            .running()
            .into_iter()
            .filter(|id| *id != leader)
            .collect();
        order.push(leader);
        let addrs: Vec<String> = match self.placement {
            Placement::Leader => vec![cluster.addr(leader).to_string()],
            Placement::Spread => order
                .iter()
                .map(|id| cluster.addr(*id).to_string())
                .collect(),
        };
        let chans = channels(&addrs, self.connections, cluster.security());
        for &op in &self.ops {
            let request = self.request(&MOOR, op, &chans).await?;
            for &n in &self.clients {
                let before = cluster.status(leader).await.context("leader status")?;
                let r = workload::run(n, self.duration, request.clone()).await?;
                let after = cluster.status(leader).await.context("leader status")?;
                print_run("moor", op, &r);
                print_leader_costs(op, r.ok, &before, &after);
                results.push(KvRun { op, result: r });
            }
        }
        Ok(results)
    }

    /// What one request of `op` to `system` is; for reads, puts the keys to read first.
    async fn request(&self, system: &KvSystem, op: Op, chans: &[Channel]) -> Result<RequestFn> {
        let put = |key| (system.put)(chans.to_vec(), self.value_bytes, key);
        Ok(match op {
            Op::Write => put(write_key),
            Op::Read => {
                reads::preload(put(|i, _| reads::key(i))).await?;
                (system.get)(chans.to_vec())
            }
        })
    }

    /// Runs every operation with every client count against a 3-member etcd cluster kept in
    /// `dir`, printing each run beside Moor's run of the same operation and count.
    async fn run_etcd(&self, etcd: &Path, dir: &Path, moor: &[KvRun]) -> Result<Vec<KvRun>> {
        std::fs::create_dir_all(dir)?;
        let cluster = EtcdCluster::start(etcd, dir).await?;
        let addrs = match self.placement {
            // etcd forwards proposals to its leader internally; like Moor, send to one member.
            Placement::Leader => vec![cluster.client_urls[0].clone()],
            Placement::Spread => cluster.followers_first().await?,
        };
        let chans = channels(&addrs, self.connections, &Security::Plaintext);
        let mut results = Vec::new();
        for &op in &self.ops {
            let request = self.request(&ETCD, op, &chans).await?;
            for &n in &self.clients {
                let r = workload::run(n, self.duration, request.clone()).await?;
                print_run("etcd", op, &r);
                if let Some(m) = KvFigures::find(moor, op, n) {
                    print_ratio(m, &r);
                }
                results.push(KvRun { op, result: r });
            }
        }
        Ok(results)
    }
}

/// The write benchmark's key: fresh per client and sequence number.
fn write_key(c: usize, seq: u64) -> String {
    format!("bench/{c}/{seq}")
}

/// `n` lazily connecting channels (HTTP/2 connections), placed by [`connection_addrs`].
fn channels(addrs: &[String], n: usize, security: &Security) -> Vec<Channel> {
    connection_addrs(addrs, n)
        .into_iter()
        .map(|a| connect(a, security).connect_lazy())
        .collect()
}

/// Where each of `n` connections goes: round-robin over `addrs` (client `c` then uses
/// connection `c % n`).
fn connection_addrs(addrs: &[String], n: usize) -> Vec<&str> {
    (0..n.max(1))
        .map(|i| addrs[i % addrs.len()].as_str())
        .collect()
}

fn print_run(system: &str, op: Op, r: &RunResult) {
    println!(
        "{system:<6} clients={:<4} {}s/s={:>9.0} p50={:>7.2}ms p99={:>7.2}ms ok={} errors={}{}",
        r.clients,
        op.noun(),
        r.ops_per_sec(),
        r.p50_ms(),
        r.p99_ms(),
        r.ok,
        r.errors,
        r.first_error
            .as_ref()
            .map(|e| format!(" first_error={e}"))
            .unwrap_or_default()
    );
}

/// A put's key for client `c` at its `seq`-th request.
type KeyFn = fn(usize, u64) -> String;

/// How the load talks to one system: a put of `key(c, seq)` with a value of the given size,
/// and a linearizable read of one of the read keys.
struct KvSystem {
    put: fn(Vec<Channel>, usize, KeyFn) -> RequestFn,
    get: fn(Vec<Channel>) -> RequestFn,
}

const MOOR: KvSystem = KvSystem {
    put: moor_put,
    get: reads::moor_get,
};

const ETCD: KvSystem = KvSystem {
    put: etcd_put,
    get: reads::etcd_get,
};

/// One Moor put of `key(c, seq)`, client `c` on connection `c` mod the connections.
fn moor_put(chans: Vec<Channel>, value_bytes: usize, key: KeyFn) -> RequestFn {
    Arc::new(move |c, seq| {
        let mut client = MoorApiClient::new(chans[c % chans.len()].clone());
        let req = PutRequest {
            key: key(c, seq),
            value: workload::value(c, seq, value_bytes),
        };
        Box::pin(async move { client.put(req).await.map(|_| ()).map_err(|s| s.to_string()) })
    })
}

/// One etcd put of `key(c, seq)`, client `c` on connection `c` mod the connections.
fn etcd_put(chans: Vec<Channel>, value_bytes: usize, key: KeyFn) -> RequestFn {
    Arc::new(move |c, seq| {
        let client = EtcdClient::from_channel(chans[c % chans.len()].clone());
        let key = key(c, seq).into_bytes();
        let value = workload::value(c, seq, value_bytes);
        Box::pin(async move { client.put(key, value).await })
    })
}

/// The leader's log appends and fsyncs per `op` answered between two status snapshots.
fn print_leader_costs(
    op: Op,
    ok: u64,
    before: &ClusterStatusResponse,
    after: &ClusterStatusResponse,
) {
    let done = ok.max(1) as f64;
    let noun = op.noun();
    println!(
        "       leader: {:.3} log appends/{noun}, {:.3} fsyncs/{noun}, {:.2} entries/append",
        (after.log_appends - before.log_appends) as f64 / done,
        (after.fsyncs - before.fsyncs) as f64 / done,
        (after.log_entries - before.log_entries) as f64
            / (after.log_appends - before.log_appends).max(1) as f64,
    );
}

/// Moor's figures over etcd's for the same operation and client count.
fn print_ratio(m: &RunResult, e: &RunResult) {
    if m.ok == 0 || e.ok == 0 {
        println!("       moor/etcd: no ratio (a side acknowledged nothing)");
        return;
    }
    println!(
        "       moor/etcd: throughput x{:.2}, p50 x{:.2}, p99 x{:.2}",
        m.ops_per_sec() / e.ops_per_sec().max(1e-9),
        m.p50_ms() / e.p50_ms().max(1e-9),
        m.p99_ms() / e.p99_ms().max(1e-9),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_round_robin_over_the_members_in_order() {
        let addrs: Vec<String> = ["f1", "f2", "leader"].map(String::from).to_vec();
        assert_eq!(
            connection_addrs(&addrs, 5),
            ["f1", "f2", "leader", "f1", "f2"]
        );
        assert_eq!(
            connection_addrs(&addrs, 0),
            ["f1"],
            "at least one connection"
        );
        let one = vec!["leader".to_string()];
        assert_eq!(connection_addrs(&one, 3), ["leader"; 3]);
    }
}
