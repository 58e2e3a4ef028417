//! `moor-bench hooks`: the latency of the webhook path. A fresh 3-member cluster, N
//! environments of `hello` on `moor-sitesim`, a Git repository (file URL), a GitHub receiver,
//! a source and a trigger. Each round commits a new version, pushes, and delivers the signed
//! push to a follower (the usual case: the CI system hits any member behind a load
//! balancer); it measures the HTTP answer time (the delivery record committed) and the time
//! from sending the delivery to the trigger's rollout being created (the leader's stamp on
//! the firing; one machine, one clock), and waits for that rollout to end before the next
//! round, so rounds do not queue behind each other.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use moor_proto::hooks::hook_api_client::HookApiClient;
use moor_proto::hooks::*;
use moor_proto::rollout::StartRolloutRequest;
use tonic::transport::Channel;

use crate::fleet::Fleet;
use crate::git_repo::GitRepo;
use crate::harness::{connect, MemberSettings};
use crate::webhook::{github_headers, github_push, HookClient};

const SECRET: &str = "bench secret bench secret bench";

/// What to run.
#[derive(Debug, Clone)]
pub struct HooksBench {
    pub environments: usize,
    pub rounds: usize,
    pub tls: bool,
}

/// What a run measured, in milliseconds.
pub struct HooksFigures {
    pub answer_ms: Histogram<u64>,
    pub to_rollout_ms: Histogram<u64>,
}

fn hello(version: usize) -> String {
    format!(
        "name: hello\nresources:\n  - name: motd\n    type: sim.resource\n    properties: {{ text: \"v{version}\" }}\n"
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub async fn run(b: &HooksBench) -> Result<HooksFigures> {
    let settings = MemberSettings {
        insecure_plaintext: !b.tls,
        ..MemberSettings::default()
    };
    let fleet = Fleet::start(3, settings, &[]).await?;
    fleet.register_sites("edge", b.environments, 32).await?;
    fleet.apply_blueprint(&hello(0)).await?;
    fleet
        .put_group("edge-sites", "sites", &[("fleet", "edge")])
        .await?;
    let install = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "edge-sites".into(),
            action: "install".into(),
            blueprint: "hello".into(),
            labels: [("app".to_string(), "hello".to_string())].into(),
            max_parallel: 1000,
            ..Default::default()
        })
        .await?
        .into_inner();
    fleet
        .wait_rollout(&install.id, Duration::from_secs(600), "succeeded", |r| {
            r.state == "succeeded"
        })
        .await?;
    fleet
        .put_group("edge", "environments", &[("app", "hello")])
        .await?;

    let tmp = tempfile::tempdir()?;
    let repo = GitRepo::create(tmp.path())?;
    repo.write("blueprints/hello.yaml", &hello(0))?;
    repo.commit_and_push("v0")?;
    let leader = fleet.cluster.wait_leader(Duration::from_secs(20)).await?;
    let follower = *fleet
        .cluster
        .running()
        .iter()
        .find(|id| **id != leader)
        .context("a follower")?;
    let mut api: HookApiClient<Channel> = HookApiClient::new(
        connect(fleet.cluster.addr(follower), fleet.cluster.security()).connect_lazy(),
    );
    api.put_receiver(PutReceiverRequest {
        receiver: Some(Receiver {
            name: "github".into(),
            r#type: "github".into(),
            secret: SECRET.into(),
            rate_per_minute: 100_000,
            ..Default::default()
        }),
    })
    .await?;
    api.put_source(PutSourceRequest {
        source: Some(Source {
            name: "bp".into(),
            url: repo.url(),
            branch: "main".into(),
            path: "blueprints".into(),
            ..Default::default()
        }),
    })
    .await?;
    api.put_trigger(PutTriggerRequest {
        trigger: Some(Trigger {
            name: "t".into(),
            source: "bp".into(),
            blueprint: "hello".into(),
            rollout: Some(StartRolloutRequest {
                group: "edge".into(),
                action: "update".into(),
                max_parallel: 1000,
                ..Default::default()
            }),
            ..Default::default()
        }),
    })
    .await?;
    let client = HookClient::new(fleet.cluster.addr(follower), fleet.cluster.security())?;
    let mut answer_ms = Histogram::new(3)?;
    let mut to_rollout_ms = Histogram::new(3)?;
    for round in 1..=b.rounds {
        repo.write("blueprints/hello.yaml", &hello(round))?;
        let commit = repo.commit_and_push(&format!("v{round}"))?;
        let body = github_push(&repo.url(), "refs/heads/main", &commit);
        let headers = github_headers("push", &format!("bench-{round}"), SECRET, &body);
        let sent_ms = now_ms();
        let started = Instant::now();
        let a = client.post("/hooks/github", &headers, &body).await?;
        answer_ms.record(started.elapsed().as_millis() as u64)?;
        if a.status != 200 {
            bail!("round {round}: delivery answered {a:?}");
        }
        // The revision the commit makes is round + 1 (hello@1 was applied by hand).
        let revision = round as u64 + 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        let firing = loop {
            let t = api
                .get_trigger(GetTriggerRequest {
                    name: "t".into(),
                    stale: true,
                })
                .await?
                .into_inner();
            if let Some(f) = t.firings.iter().find(|f| f.revision == revision) {
                break f.clone();
            }
            if Instant::now() > deadline {
                bail!("round {round}: no rollout for revision {revision} within 60 s: {t:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        if firing.outcome != "started" {
            bail!("round {round}: the trigger did not start a rollout: {firing:?}");
        }
        to_rollout_ms.record(firing.at_ms.saturating_sub(sent_ms))?;
        fleet
            .wait_rollout(&firing.rollout, Duration::from_secs(600), "ended", |r| {
                matches!(r.state.as_str(), "succeeded" | "failed" | "cancelled")
            })
            .await?;
    }
    Ok(HooksFigures {
        answer_ms,
        to_rollout_ms,
    })
}
