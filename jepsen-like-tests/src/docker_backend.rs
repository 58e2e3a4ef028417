//! The compose cluster ([`DockerCluster`]) as a [`Backend`] for the nemeses and the runner:
//! crashes by `docker kill`, graceful stops by `docker stop`, pauses by `docker pause`
//! (the cgroup freezer: the zombie leader), and partitions by disconnecting containers from
//! the compose network. A single network can only separate a member from everyone, so a
//! partition is installed only when every group but one is a single member (leader in the
//! minority, a member cut off); bridges, one-way cuts and membership changes are refused
//! with the reason, which the nemesis records as skipped.

use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use moor_proto::api::ClusterStatusResponse;

use crate::backend::Backend;
use crate::docker::DockerCluster;
use crate::netns::Peer;
use crate::security::Security;

/// [`DockerCluster`] plus what the nemeses need to remember about it.
pub struct DockerBackend {
    pub cluster: DockerCluster,
    paused: Vec<u64>,
    isolated: Vec<u64>,
}

impl DockerBackend {
    pub fn new(cluster: DockerCluster) -> DockerBackend {
        DockerBackend {
            cluster,
            paused: Vec::new(),
            isolated: Vec::new(),
        }
    }

    fn docker(&self, args: &[&str]) -> Result<()> {
        let out = Command::new("docker")
            .args(args)
            .output()
            .with_context(|| format!("cannot run docker {args:?}"))?;
        if !out.status.success() {
            bail!(
                "docker {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

impl Backend for DockerBackend {
    fn kind(&self) -> &'static str {
        "docker"
    }

    fn members(&self) -> Vec<u64> {
        self.cluster.ids()
    }

    fn running(&self) -> Vec<u64> {
        self.cluster
            .ids()
            .into_iter()
            .filter(|id| self.cluster.is_running(*id).unwrap_or(false))
            .collect()
    }

    fn paused(&self) -> Vec<u64> {
        self.paused.clone()
    }

    fn client_addr(&self, id: u64) -> String {
        self.cluster
            .endpoint(id)
            .unwrap_or_else(|e| format!("unreachable-member-{id}:0 ({e})"))
    }

    fn security(&self) -> Security {
        // TLS with the CA and admin certificate from the compose cluster's moor-tls volume.
        self.cluster.security().clone()
    }

    async fn status(&self, id: u64) -> Option<ClusterStatusResponse> {
        self.cluster.status(id).await
    }

    async fn leader(&self, timeout: Duration) -> Result<u64> {
        let ids: Vec<u64> = self
            .running()
            .into_iter()
            .filter(|id| !self.paused.contains(id) && !self.isolated.contains(id))
            .collect();
        self.cluster.wait_leader(&ids, timeout).await
    }

    fn kill(&mut self, id: u64) -> Result<()> {
        self.cluster.kill(id)
    }

    fn stop(&mut self, id: u64) -> Result<()> {
        let c = self.cluster.container(id).to_string();
        self.docker(&["stop", "-t", "20", &c])?;
        Ok(())
    }

    fn restart(&mut self, id: u64) -> Result<()> {
        self.cluster.start(id)
    }

    fn pause(&mut self, id: u64) -> Result<()> {
        let c = self.cluster.container(id).to_string();
        self.docker(&["pause", &c])?;
        self.paused.push(id);
        Ok(())
    }

    fn resume(&mut self, id: u64) -> Result<()> {
        let c = self.cluster.container(id).to_string();
        self.docker(&["unpause", &c])?;
        self.paused.retain(|p| *p != id);
        Ok(())
    }

    fn network_faults_unavailable(&self) -> Option<String> {
        None
    }

    fn partition(&mut self, groups: &[Vec<u64>]) -> Result<Vec<(u64, u64)>> {
        let mut all: Vec<u64> = groups.iter().flatten().copied().collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        let multi = groups.iter().filter(|g| g.len() > 1).count();
        if all.len() != n || multi > 1 {
            bail!(
                "the docker backend separates a member from everyone by disconnecting it from \
                 the compose network; it cannot install {groups:?} (bridges and splits into \
                 several multi-member groups need per-link networks)"
            );
        }
        // Every single-member group leaves the network; with no multi-member group, one of
        // them may stay (it is alone either way).
        let mut singles: Vec<u64> = groups
            .iter()
            .filter(|g| g.len() == 1)
            .map(|g| g[0])
            .collect();
        if multi == 0 {
            singles.pop();
        }
        let mut cut = Vec::new();
        for id in singles {
            self.cluster.disconnect(id)?;
            self.isolated.push(id);
            for other in self.cluster.ids().into_iter().filter(|o| *o != id) {
                cut.push((id.min(other), id.max(other)));
            }
        }
        cut.sort_unstable();
        cut.dedup();
        Ok(cut)
    }

    fn cut(&mut self, from: Peer, to: Peer) -> Result<()> {
        bail!(
            "the docker backend cannot cut one direction ({from} -> {to}): disconnecting a \
             container from the network cuts both"
        )
    }

    fn network_rules(&self) -> Result<Vec<String>> {
        Ok(self
            .isolated
            .iter()
            .map(|id| format!("member {id} disconnected from {}", self.cluster.network))
            .collect())
    }

    fn heal_network(&mut self) -> Result<()> {
        for id in std::mem::take(&mut self.isolated) {
            self.cluster.connect(id)?;
        }
        Ok(())
    }

    async fn add_member(&mut self, id: u64, _timeout: Duration) -> Result<()> {
        bail!("the compose file defines three members; cannot add member {id} here")
    }

    async fn remove_member(&mut self, id: u64, _timeout: Duration) -> Result<()> {
        bail!("the compose file defines three members; cannot remove member {id} here")
    }

    fn corrupt_store(&mut self, id: u64) -> Result<std::path::PathBuf> {
        bail!("the compose cluster's data lives in docker volumes; cannot damage member {id}'s disk here")
    }

    fn wait_exit(
        &mut self,
        id: u64,
        _timeout: Duration,
    ) -> Result<Option<std::process::ExitStatus>> {
        bail!("cannot wait for member {id}'s container to exit here")
    }

    fn fresh_member_id(&self) -> u64 {
        self.cluster.ids().into_iter().max().unwrap_or(0) + 1
    }

    fn log_tail(&self, id: u64, lines: usize) -> String {
        self.cluster.logs(&format!("moor-{id}"), lines)
    }

    fn sitesim_listen(&self) -> Result<String> {
        bail!(
            "the rollout workload starts its own moor-sitesim, which the members in containers \
             cannot reach; run it on the process backend (the compose file's sitesim serves the \
             docker rollout test)"
        )
    }

    fn keep_evidence(&mut self) -> String {
        self.cluster.keep();
        format!("docker-compose project {} (kept)", self.cluster.project)
    }
}
