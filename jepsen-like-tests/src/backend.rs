//! What the nemeses and the runner need from "a Moor cluster": members, client endpoints, the
//! leader, process faults (kill, restart, pause, resume), network faults (partition, one-way
//! cut, client cut-off, heal) and membership changes.
//!
//! [`ProcessBackend`] implements it over [`Cluster`] (real `moord` processes, one network
//! namespace each when a [`NetLab`] is available). The trait is written so a docker-compose
//! backend can implement it too: kill = `docker kill -s KILL`, pause = `docker pause` (or
//! `kill -s STOP`), partitions = disconnecting containers from per-link docker networks or
//! iptables inside the containers, client endpoints = published ports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use moor_proto::api::{
    AddMemberRequest, ClusterStatusResponse, PromoteMemberRequest, RemoveMemberRequest,
};

use crate::harness::{flip_bytes_in, largest_file, Cluster, MemberSettings};
use crate::netns::{NetLab, Peer};
use crate::security::Security;

/// A cluster the nemeses can hurt. Every method that changes something returns an error that
/// says what could not be done; the nemesis turns it into an indeterminate fault.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// A short name for reports ("process", "docker").
    fn kind(&self) -> &'static str;
    /// Members currently in the cluster configuration (as the test made it), running or not.
    fn members(&self) -> Vec<u64>;
    /// Members whose process is running (paused ones included).
    fn running(&self) -> Vec<u64>;
    /// Members currently paused (SIGSTOP).
    fn paused(&self) -> Vec<u64>;
    /// The address a client uses to reach member `id` (host:port).
    fn client_addr(&self, id: u64) -> String;
    /// How clients reach the members (TLS with the admin certificate, or plaintext); a
    /// sitesim the test starts for the members is secured the same way.
    fn security(&self) -> Security;
    /// Member `id`'s own view of the cluster, or None if it does not answer.
    async fn status(&self, id: u64) -> Option<ClusterStatusResponse>;
    /// The leader the running, unpaused members agree on, waiting up to `timeout`.
    async fn leader(&self, timeout: Duration) -> Result<u64>;
    /// SIGKILL (no chance to flush anything).
    fn kill(&mut self, id: u64) -> Result<()>;
    /// SIGTERM and wait for a clean exit (a graceful restart's first half).
    fn stop(&mut self, id: u64) -> Result<()>;
    /// Starts a killed or stopped member again on its data.
    fn restart(&mut self, id: u64) -> Result<()>;
    /// SIGSTOP.
    fn pause(&mut self, id: u64) -> Result<()>;
    /// SIGCONT.
    fn resume(&mut self, id: u64) -> Result<()>;
    /// Why network faults are not possible here, or None.
    fn network_faults_unavailable(&self) -> Option<String>;
    /// Cuts both ways between every pair of members sharing no group; returns the cut pairs.
    fn partition(&mut self, groups: &[Vec<u64>]) -> Result<Vec<(u64, u64)>>;
    /// Drops every packet from `from` to `to` (one-way).
    fn cut(&mut self, from: Peer, to: Peer) -> Result<()>;
    /// The fault rules in place (evidence for the nemesis log).
    fn network_rules(&self) -> Result<Vec<String>>;
    /// Removes every network fault.
    fn heal_network(&mut self) -> Result<()>;
    /// Starts a new member `id` and makes it a voter (through the leader).
    async fn add_member(&mut self, id: u64, timeout: Duration) -> Result<()>;
    /// Removes member `id` from the configuration, then stops its process.
    async fn remove_member(&mut self, id: u64, timeout: Duration) -> Result<()>;
    /// An id never used in this cluster.
    fn fresh_member_id(&self) -> u64;
    /// Damages stopped member `id`'s Raft store on disk as a bad disk would (8 bytes
    /// inverted a third of the way into its largest table, or into its write-ahead log when it
    /// has no table); returns the file.
    fn corrupt_store(&mut self, id: u64) -> Result<std::path::PathBuf>;
    /// Waits up to `timeout` for member `id` to exit by itself (a start it refused); its exit
    /// status, or `None` while it still runs.
    fn wait_exit(&mut self, id: u64, timeout: Duration)
        -> Result<Option<std::process::ExitStatus>>;
    /// The last lines of member `id`'s log, for failure reports.
    fn log_tail(&self, id: u64, lines: usize) -> String;
    /// Where a `moor-sitesim` started by the test must listen so the members reach it
    /// (`ip:0`), or why this backend cannot run one.
    fn sitesim_listen(&self) -> Result<String>;
    /// Keeps the members' data and logs after the run (a failed run's evidence); says where.
    fn keep_evidence(&mut self) -> String;
}

/// Real `moord` processes on this machine.
pub struct ProcessBackend {
    pub cluster: Cluster,
    net: Option<Arc<NetLab>>,
    /// Why there is no network lab (when `net` is None).
    net_reason: Option<String>,
    /// Members in the configuration (removed ones leave, added ones join).
    config: Vec<u64>,
    paused: Vec<u64>,
    next_id: u64,
}

impl ProcessBackend {
    /// Starts `n` members. With `want_netns` and root, each member gets its own network
    /// namespace; otherwise members listen on loopback and network faults are skipped, loudly.
    pub async fn start(n: u64, settings: MemberSettings, want_netns: bool) -> Result<Self> {
        let (net, net_reason) = if want_netns {
            match crate::netns::unavailable_reason() {
                Some(reason) => (None, Some(reason)),
                None => match NetLab::create() {
                    Ok(lab) => (Some(Arc::new(lab)), None),
                    Err(e) => (
                        None,
                        Some(format!("cannot build network namespaces: {e:#}")),
                    ),
                },
            }
        } else {
            (None, Some("network namespaces not requested".to_string()))
        };
        let cluster = match &net {
            Some(net) => Cluster::start_in_netns(n, settings, net.clone()).await?,
            None => Cluster::start(n, settings).await?,
        };
        Ok(ProcessBackend {
            cluster,
            net,
            net_reason,
            config: (1..=n).collect(),
            paused: Vec::new(),
            next_id: n + 1,
        })
    }

    /// The network lab, if members run in namespaces.
    pub fn netlab(&self) -> Option<&Arc<NetLab>> {
        self.net.as_ref()
    }

    fn net(&self) -> Result<&NetLab> {
        match &self.net {
            Some(n) => Ok(n),
            None => bail!(
                "no network namespaces: {}",
                self.net_reason.as_deref().unwrap_or("unknown")
            ),
        }
    }

    /// A running, unpaused member other than `not`, to send admin requests through.
    fn via(&self, not: u64) -> Option<u64> {
        self.running()
            .into_iter()
            .find(|id| *id != not && !self.paused.contains(id) && self.config.contains(id))
    }
}

impl Backend for ProcessBackend {
    fn kind(&self) -> &'static str {
        "process"
    }

    fn members(&self) -> Vec<u64> {
        self.config.clone()
    }

    fn running(&self) -> Vec<u64> {
        self.cluster.running()
    }

    fn paused(&self) -> Vec<u64> {
        self.paused.clone()
    }

    fn client_addr(&self, id: u64) -> String {
        self.cluster.addr(id).to_string()
    }

    fn security(&self) -> Security {
        self.cluster.security().clone()
    }

    async fn status(&self, id: u64) -> Option<ClusterStatusResponse> {
        self.cluster.status(id).await
    }

    async fn leader(&self, timeout: Duration) -> Result<u64> {
        let ids: Vec<u64> = self
            .running()
            .into_iter()
            .filter(|id| !self.paused.contains(id) && self.config.contains(id))
            .collect();
        self.cluster.wait_leader_among(&ids, timeout).await
    }

    fn kill(&mut self, id: u64) -> Result<()> {
        self.cluster.kill(id)?;
        self.paused.retain(|p| *p != id);
        Ok(())
    }

    fn stop(&mut self, id: u64) -> Result<()> {
        let status = self.cluster.stop_within(id, Duration::from_secs(10))?;
        if !status.success() {
            bail!(
                "member {id} exited with {status} on SIGTERM:\n{}",
                self.cluster.log_tail(id, 10)
            );
        }
        Ok(())
    }

    fn restart(&mut self, id: u64) -> Result<()> {
        self.cluster.restart(id)
    }

    fn pause(&mut self, id: u64) -> Result<()> {
        self.cluster.signal(id, libc::SIGSTOP)?;
        self.paused.push(id);
        Ok(())
    }

    fn resume(&mut self, id: u64) -> Result<()> {
        self.cluster.signal(id, libc::SIGCONT)?;
        self.paused.retain(|p| *p != id);
        Ok(())
    }

    fn network_faults_unavailable(&self) -> Option<String> {
        if self.net.is_some() {
            None
        } else {
            Some(self.net_reason.clone().unwrap_or_default())
        }
    }

    fn partition(&mut self, groups: &[Vec<u64>]) -> Result<Vec<(u64, u64)>> {
        let members = self.config.clone();
        self.net()?.partition(&members, groups)
    }

    fn cut(&mut self, from: Peer, to: Peer) -> Result<()> {
        self.net()?.cut(from, to)
    }

    fn network_rules(&self) -> Result<Vec<String>> {
        self.net()?.rules()
    }

    fn heal_network(&mut self) -> Result<()> {
        match &self.net {
            Some(net) => net.heal(),
            None => Ok(()),
        }
    }

    async fn add_member(&mut self, id: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        if !self.cluster.members.contains_key(&id) {
            self.cluster.add_process(id)?;
        }
        self.next_id = self.next_id.max(id + 1);
        // Membership records the peer address; clients keep using the client address.
        let addr = self.cluster.peer_addr(id).to_string();
        // Learner first (caught up), then voter; retried through any member until the
        // deadline, since a fault may be in place.
        let mut last = String::new();
        let mut added = false;
        while Instant::now() < deadline {
            let Some(via) = self.via(id) else {
                bail!("no running member to add member {id} through");
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let mut c = self.cluster.client(via);
            let result = if !added {
                let mut req = tonic::Request::new(AddMemberRequest {
                    id,
                    addr: addr.clone(),
                    wait_caught_up: true,
                });
                req.set_timeout(left);
                tokio::time::timeout(left, c.add_member(req))
                    .await
                    .map(|r| r.map(|_| ()))
            } else {
                let mut req = tonic::Request::new(PromoteMemberRequest { id });
                req.set_timeout(left);
                tokio::time::timeout(left, c.promote_member(req))
                    .await
                    .map(|r| r.map(|_| ()))
            };
            match result {
                Ok(Ok(())) if !added => added = true,
                Ok(Ok(())) => {
                    self.config.push(id);
                    return Ok(());
                }
                Ok(Err(s)) => last = format!("via member {via}: {}", s.message()),
                Err(_) => last = format!("via member {via}: no answer within {left:?}"),
            }
            // Polls until the membership change goes through or the deadline passes.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "adding member {id} did not finish within {timeout:?} (learner added: {added}): {last}"
        )
    }

    async fn remove_member(&mut self, id: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            let Some(via) = self.via(id) else {
                bail!("no running member other than {id} to remove it through");
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let mut req = tonic::Request::new(RemoveMemberRequest { id });
            req.set_timeout(left);
            match tokio::time::timeout(left, self.cluster.client(via).remove_member(req)).await {
                Ok(Ok(_)) => {
                    self.config.retain(|m| *m != id);
                    // A removed member is gone for good: stop its process.
                    self.cluster.kill(id)?;
                    self.paused.retain(|p| *p != id);
                    return Ok(());
                }
                Ok(Err(s)) => last = format!("via member {via}: {}", s.message()),
                Err(_) => last = format!("via member {via}: no answer within {left:?}"),
            }
            // Polls until the membership change goes through or the deadline passes.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("removing member {id} did not finish within {timeout:?}: {last}")
    }

    fn fresh_member_id(&self) -> u64 {
        self.next_id
    }

    fn corrupt_store(&mut self, id: u64) -> Result<std::path::PathBuf> {
        let m = self.cluster.members.get(&id).context("no such member")?;
        if m.is_running() {
            bail!("stop member {id} before damaging its disk");
        }
        let raft = m.data_dir.join("raft");
        let file = match largest_file(&raft, "sst")? {
            Some(table) => table,
            None => largest_file(&raft, "log")?
                .with_context(|| format!("no table or WAL in {}", raft.display()))?,
        };
        flip_bytes_in(&file)?;
        Ok(file)
    }

    fn wait_exit(
        &mut self,
        id: u64,
        timeout: Duration,
    ) -> Result<Option<std::process::ExitStatus>> {
        self.cluster.wait_exit(id, timeout)
    }

    fn log_tail(&self, id: u64, lines: usize) -> String {
        self.cluster.log_tail(id, lines)
    }

    fn sitesim_listen(&self) -> Result<String> {
        Ok(match self.netlab() {
            Some(net) => format!("{}:0", net.service_ip()),
            None => "127.0.0.1:0".to_string(),
        })
    }

    fn keep_evidence(&mut self) -> String {
        self.cluster.keep_dir().display().to_string()
    }
}
