//! A fleet for rollout tests and benchmarks: a real cluster, one `moor-sitesim` process
//! simulating every site, sites registered through the workflow API, and helpers to run a
//! rollout and collect what it did (child executions, the steps Moor recorded as done).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use moor_proto::auth::auth_api_client::AuthApiClient;
use moor_proto::auth::{CreateTokenRequest, TokenInfo};
use moor_proto::rollout::rollout_api_client::RolloutApiClient;
use moor_proto::rollout::{
    GetRolloutRequest, Group, PutGroupRequest, Rollout, StartRolloutRequest,
};
use moor_proto::site::{InjectDriftRequest, SetUnreachableRequest};
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::{
    ApplyBlueprintRequest, Execution, GetExecutionRequest, PutSiteRequest, Site,
};
use tonic::transport::Channel;
use tonic::Code;

use crate::checkers::journal::DoneStep;
use crate::harness::{connect, Cluster, MemberSettings, SiteSimProc};

/// Regions sites are spread over, round robin.
pub const REGIONS: [&str; 4] = ["europe", "americas", "asia", "oceania"];

/// A blueprint of `steps` simulated resources in a chain (each depends on the one before),
/// so an environment takes `steps` × the site latency: the shape of the ideal-time formula.
pub fn chain_blueprint(name: &str, steps: usize, version: &str) -> String {
    let mut y = format!("name: {name}\nresources:\n");
    for i in 0..steps {
        y.push_str(&format!(
            "  - name: r{i}\n    type: sim.resource\n    properties: {{ v: \"{version}\" }}\n"
        ));
        if i > 0 {
            y.push_str(&format!("    depends_on: [r{}]\n", i - 1));
        }
    }
    y
}

/// A cluster and a sitesim.
pub struct Fleet {
    pub cluster: Cluster,
    pub sim: Option<SiteSimProc>,
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Fleet {
    /// Starts `members` moord members with `settings`, then `moor-sitesim` with `sim_args`
    /// (and the cluster's site certificate, unless the members run plaintext).
    pub async fn start(members: u64, settings: MemberSettings, sim_args: &[&str]) -> Result<Fleet> {
        let tmp = tempfile::Builder::new().prefix("moor-fleet-").tempdir()?;
        let dir = tmp.path().to_path_buf();
        let cluster = Cluster::start(members, settings).await?;
        let sim = SiteSimProc::start(
            &dir.join("journal.jsonl"),
            &dir.join("sitesim.log"),
            cluster.security(),
            sim_args,
        )?;
        Ok(Fleet {
            cluster,
            sim: Some(sim),
            dir,
            _tmp: tmp,
        })
    }

    pub fn sim_addr(&self) -> &str {
        &self.sim.as_ref().expect("sitesim running").addr
    }

    /// A lazily connecting channel to the running member `n` picks (round robin).
    fn channel(&self, n: usize) -> Channel {
        let running = self.cluster.running();
        let id = running[n % running.len()];
        connect(self.cluster.addr(id), self.cluster.security()).connect_lazy()
    }

    /// The workflow API of a running member (`n` picks which, round robin).
    pub fn workflow(&self, n: usize) -> WorkflowApiClient<Channel> {
        WorkflowApiClient::new(self.channel(n)).max_decoding_message_size(256 << 20)
    }

    /// The rollout API of a running member (`n` picks which, round robin).
    pub fn rollouts(&self, n: usize) -> RolloutApiClient<Channel> {
        RolloutApiClient::new(self.channel(n)).max_decoding_message_size(256 << 20)
    }

    pub async fn apply_blueprint(&self, yaml: &str) -> Result<u64> {
        let r = self
            .workflow(0)
            .apply_blueprint(ApplyBlueprintRequest {
                source_name: "bench.yaml".into(),
                yaml: yaml.into(),
                validate_only: false,
            })
            .await?
            .into_inner();
        Ok(r.revision)
    }

    /// Registers `n` sites named `{prefix}-{i:06}` on the sitesim, labelled
    /// `fleet={prefix}`, spread over [`REGIONS`], `concurrency` requests at a time.
    pub async fn register_sites(
        &self,
        prefix: &str,
        n: usize,
        concurrency: usize,
    ) -> Result<Vec<String>> {
        let sim = self.sim_addr().to_string();
        let sites: Vec<Site> = (0..n)
            .map(|i| Site {
                name: format!("{prefix}-{i:06}"),
                region: REGIONS[i % REGIONS.len()].into(),
                latitude: ((i * 37) % 160) as f64 - 80.0,
                longitude: ((i * 53) % 340) as f64 - 170.0,
                labels: [("fleet".to_string(), prefix.to_string())].into(),
                agent_endpoint: sim.clone(),
                ..Default::default()
            })
            .collect();
        let names = sites.iter().map(|s| s.name.clone()).collect();
        self.put_sites(sites, concurrency).await?;
        Ok(names)
    }

    /// `n` sites as [`Fleet::register_sites`] makes them, the group `{prefix}-sites` of
    /// them, and blueprint `name` (`yaml`) installed on each by one rollout, 100 at a time,
    /// waited for (two minutes at most): the sites' names.
    pub async fn install_on_new_sites(
        &self,
        prefix: &str,
        n: usize,
        name: &str,
        yaml: &str,
    ) -> Result<Vec<String>> {
        let sites = self.register_sites(prefix, n, 32).await?;
        self.apply_blueprint(yaml).await?;
        let group = format!("{prefix}-sites");
        self.put_group(&group, "sites", &[("fleet", prefix)])
            .await?;
        let request = StartRolloutRequest {
            group,
            action: "install".into(),
            blueprint: name.into(),
            max_parallel: 100,
            ..Default::default()
        };
        self.rollout_succeeds(request, Duration::from_secs(120))
            .await?;
        Ok(sites)
    }

    /// Puts `sites` through the workflow API, `concurrency` requests at a time, spread over
    /// the running members (one connection to each).
    pub async fn put_sites(&self, sites: Vec<Site>, concurrency: usize) -> Result<()> {
        let clients: Vec<_> = (0..self.cluster.running().len())
            .map(|n| self.workflow(n))
            .collect();
        let results: Vec<Result<()>> = futures::stream::iter(sites.into_iter().enumerate())
            .map(|(i, site)| {
                let mut c = clients[i % clients.len()].clone();
                async move {
                    let name = site.name.clone();
                    c.put_site(PutSiteRequest { site: Some(site) })
                        .await
                        .with_context(|| format!("put site {name}"))?;
                    Ok(())
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Creates or replaces group `name` of `kind` selecting `labels`.
    pub async fn put_group(&self, name: &str, kind: &str, labels: &[(&str, &str)]) -> Result<u64> {
        let r = self
            .rollouts(0)
            .put_group(PutGroupRequest {
                group: Some(Group {
                    name: name.into(),
                    kind: kind.into(),
                    match_labels: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..Default::default()
                }),
            })
            .await?
            .into_inner();
        Ok(r.matches)
    }

    /// The rollout as a running member sees it now (linearizable); `None` while no member
    /// can answer (no leader during a failover).
    pub async fn rollout(&self, id: &str, targets: &str) -> Result<Option<Rollout>> {
        for n in 0..self.cluster.running().len() {
            let r = self
                .rollouts(n)
                .get_rollout(GetRolloutRequest {
                    id: id.into(),
                    stale: false,
                    targets: targets.into(),
                    targets_offset: 0,
                    targets_limit: 0,
                })
                .await;
            match r {
                Ok(r) => return Ok(Some(r.into_inner())),
                Err(s) if matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded) => {}
                Err(s) => bail!("get rollout {id}: {s}"),
            }
        }
        Ok(None)
    }

    /// The state of rollout `id` as a running member reports it now.
    pub async fn rollout_state(&self, id: &str) -> Result<String> {
        let r = self.rollout(id, "").await?;
        Ok(
            r.with_context(|| format!("no member answers for rollout {id}"))?
                .state,
        )
    }

    /// Starts the rollout `request` describes and waits, for at most `timeout`, until it
    /// succeeded.
    pub async fn rollout_succeeds(
        &self,
        request: StartRolloutRequest,
        timeout: Duration,
    ) -> Result<Rollout> {
        let id = self
            .rollouts(0)
            .start_rollout(request)
            .await?
            .into_inner()
            .id;
        self.wait_rollout(&id, timeout, "succeeded", |r| r.state == "succeeded")
            .await
    }

    /// Makes `sites` unreachable (the sitesim holds their calls until the caller's deadline)
    /// or reachable again.
    pub async fn set_unreachable(&self, sites: &[String], unreachable: bool) -> Result<()> {
        let mut admin = self
            .sim
            .as_ref()
            .context("the sitesim was stopped")?
            .admin();
        for site in sites {
            admin
                .set_unreachable(SetUnreachableRequest {
                    site: site.clone(),
                    unreachable,
                })
                .await
                .with_context(|| format!("set {site} unreachable={unreachable}"))?;
        }
        Ok(())
    }

    /// Makes `resource` of `environment` drift at `site` (the sitesim changes it).
    pub async fn inject_drift(&self, site: &str, environment: &str, resource: &str) -> Result<()> {
        self.sim
            .as_ref()
            .context("the sitesim was stopped")?
            .admin()
            .inject_drift(InjectDriftRequest {
                site: site.into(),
                environment: environment.into(),
                resource: resource.into(),
            })
            .await
            .with_context(|| format!("inject drift at {site}"))?;
        Ok(())
    }

    /// Polls rollout `id` until `done` holds, for at most `timeout`.
    pub async fn wait_rollout(
        &self,
        id: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Rollout) -> bool,
    ) -> Result<Rollout> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Some(r) = self.rollout(id, "").await? {
                if done(&r) {
                    return Ok(r);
                }
                last = Some(r);
            }
            if Instant::now() > deadline {
                bail!(
                    "rollout {id} did not reach {what} within {timeout:?}; last seen: {}",
                    last.map(|r| format!(
                        "{} ({} succeeded, {} failed, {} running, {} queued, {})",
                        r.state, r.succeeded, r.failed, r.running, r.queued, r.pause_reason
                    ))
                    .unwrap_or_else(|| "nothing (no member answered)".into())
                );
            }
            // Polls the cluster's reported state; a rollout moves in tens of milliseconds.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every child execution of rollout `id` (with steps), in target order.
    pub async fn child_executions(&self, id: &str) -> Result<Vec<Execution>> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .rollouts(0)
                .get_rollout(GetRolloutRequest {
                    id: id.into(),
                    stale: false,
                    targets: "all".into(),
                    targets_offset: offset,
                    targets_limit: 1000,
                })
                .await?
                .into_inner();
            if page.targets.is_empty() {
                break;
            }
            offset += page.targets.len() as u32;
            let ids: Vec<String> = page
                .targets
                .iter()
                .filter(|t| !t.execution.is_empty())
                .map(|t| t.execution.clone())
                .collect();
            let execs: Vec<Result<Execution>> = futures::stream::iter(ids)
                .map(|x| {
                    let mut c = self.workflow(0);
                    async move {
                        Ok(c.get_execution(GetExecutionRequest {
                            id: x,
                            stale: false,
                        })
                        .await?
                        .into_inner())
                    }
                })
                .buffered(32)
                .collect()
                .await;
            for e in execs {
                out.push(e?);
            }
        }
        Ok(out)
    }

    /// The steps Moor recorded as succeeded in `executions`, for the journal checker;
    /// `site_of` maps an environment to its site.
    pub fn done_steps(executions: &[Execution], site_of: impl Fn(&str) -> String) -> Vec<DoneStep> {
        executions
            .iter()
            .flat_map(|e| {
                let site = site_of(&e.environment);
                e.steps
                    .iter()
                    .filter(|s| s.state == "succeeded")
                    .map(move |s| DoneStep {
                        execution_id: e.id.clone(),
                        step: s.index,
                        site: site.clone(),
                    })
            })
            .collect()
    }

    /// A new API token of `role`, valid for an hour, made with the harness's admin
    /// certificate: its text and its record.
    pub async fn token(&self, role: &str) -> Result<(String, TokenInfo)> {
        let answer = AuthApiClient::new(self.channel(0))
            .create_token(CreateTokenRequest {
                role: role.into(),
                ttl_seconds: 3600,
                description: format!("test {role}"),
                ..Default::default()
            })
            .await
            .with_context(|| format!("create a {role} token"))?
            .into_inner();
        let info = answer
            .info
            .context("a created token comes with its record")?;
        Ok((answer.token, info))
    }

    /// Stops the sitesim (it flushes its journal) and returns the journal's path.
    pub fn stop_sim(&mut self) -> Result<PathBuf> {
        let sim = self.sim.take().context("the sitesim was already stopped")?;
        let journal = sim.journal.clone();
        sim.stop()?;
        Ok(journal)
    }
}
