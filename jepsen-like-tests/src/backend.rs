//! What a fault-injection run needs from a cluster, whoever runs it: member ids, the address
//! a client dials, and the faults the backend can cause. Two backends implement it: real
//! processes on loopback ([`crate::harness::Cluster`]: crash faults only, since loopback has
//! no network to cut) and the compose cluster ([`crate::docker::DockerCluster`]: crashes by
//! `docker kill` and partitions by `docker network disconnect`). A nemesis written against
//! this trait runs on either.

use anyhow::{bail, Result};

use crate::docker::DockerCluster;
use crate::harness::Cluster;

/// A cluster a workload and a nemesis can drive.
pub trait Backend {
    /// A short name for reports ("processes", "docker").
    fn name(&self) -> &'static str;
    /// Every member id.
    fn ids(&self) -> Vec<u64>;
    /// The address a client on this host dials for member `id` right now.
    fn endpoint(&self, id: u64) -> Result<String>;
    /// Crashes member `id` (SIGKILL: no shutdown, no flush beyond what was synced).
    fn kill(&mut self, id: u64) -> Result<()>;
    /// Starts a crashed member again on its data.
    fn restart(&mut self, id: u64) -> Result<()>;
    /// Whether [`Backend::isolate`] can work here.
    fn can_partition(&self) -> bool;
    /// Cuts member `id` off from every other member and every client.
    fn isolate(&mut self, id: u64) -> Result<()>;
    /// Undoes [`Backend::isolate`].
    fn heal(&mut self, id: u64) -> Result<()>;
}

impl Backend for DockerCluster {
    fn name(&self) -> &'static str {
        "docker"
    }
    fn ids(&self) -> Vec<u64> {
        DockerCluster::ids(self)
    }
    fn endpoint(&self, id: u64) -> Result<String> {
        DockerCluster::endpoint(self, id)
    }
    fn kill(&mut self, id: u64) -> Result<()> {
        DockerCluster::kill(self, id)
    }
    fn restart(&mut self, id: u64) -> Result<()> {
        self.start(id)
    }
    fn can_partition(&self) -> bool {
        true
    }
    fn isolate(&mut self, id: u64) -> Result<()> {
        self.disconnect(id)
    }
    fn heal(&mut self, id: u64) -> Result<()> {
        self.connect(id)
    }
}

impl Backend for Cluster {
    fn name(&self) -> &'static str {
        "processes"
    }
    fn ids(&self) -> Vec<u64> {
        self.members.keys().copied().collect()
    }
    fn endpoint(&self, id: u64) -> Result<String> {
        Ok(self.addr(id).to_string())
    }
    fn kill(&mut self, id: u64) -> Result<()> {
        Cluster::kill(self, id)
    }
    fn restart(&mut self, id: u64) -> Result<()> {
        Cluster::restart(self, id)
    }
    fn can_partition(&self) -> bool {
        false
    }
    fn isolate(&mut self, id: u64) -> Result<()> {
        bail!(
            "cannot isolate member {id}: processes on loopback share one network stack; \
             run partition nemeses on the docker backend (DockerCluster)"
        )
    }
    fn heal(&mut self, id: u64) -> Result<()> {
        bail!("cannot heal member {id}: the process backend has no partitions")
    }
}
