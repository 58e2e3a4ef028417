//! Rollouts end to end: a real 3-member cluster and `moor-sitesim` with a few hundred sites;
//! waves, a failure budget that trips on unreachable sites, resume retrying only the failed
//! targets, rollback of the succeeded ones, the leader killed mid-rollout, the cap kept full
//! (from recorded execution times, not timing), and bad input refused with nothing started.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use moor_jepsen_like_tests::checkers::journal::check_file;
use moor_jepsen_like_tests::fleet::{chain_blueprint, Fleet};
use moor_jepsen_like_tests::harness::MemberSettings;
use moor_proto::rollout::{
    ListRolloutsRequest, Rollout, RolloutActionRequest, StartRolloutRequest,
};
use moor_proto::workflow::{Execution, GetEnvironmentRequest};
use tonic::Code;

const LONG: Duration = Duration::from_secs(120);

fn install(group: &str, parallel: i64) -> StartRolloutRequest {
    StartRolloutRequest {
        group: group.into(),
        action: "install".into(),
        blueprint: "chain".into(),
        max_parallel: parallel,
        max_attempts: 1,
        step_timeout_ms: 400,
        ..Default::default()
    }
}

fn ended(r: &Rollout) -> bool {
    matches!(r.state.as_str(), "succeeded" | "failed" | "cancelled")
}

async fn set_unreachable(fleet: &Fleet, sites: &[String], unreachable: bool) {
    fleet.set_unreachable(sites, unreachable).await.unwrap();
}

/// Checks WF2, WF3, WF5 on the sitesim journal against every step Moor recorded as done in
/// `executions`, and WF1: no step is left dispatched.
async fn check_journal(fleet: &mut Fleet, executions: &[Execution]) {
    let mut site_of = BTreeMap::new();
    let mut c = fleet.workflow(0);
    for e in executions {
        if !site_of.contains_key(&e.environment) {
            let env = c
                .get_environment(GetEnvironmentRequest {
                    name: e.environment.clone(),
                    stale: false,
                })
                .await
                .unwrap()
                .into_inner();
            site_of.insert(e.environment.clone(), env.site);
        }
    }
    for e in executions {
        for s in &e.steps {
            assert_ne!(
                s.state, "dispatched",
                "WF1: step {} of {} left in flight",
                s.index, e.id
            );
        }
    }
    let done = Fleet::done_steps(executions, |env| site_of[env].clone());
    assert!(!done.is_empty());
    let journal = fleet.stop_sim().unwrap();
    let verdict = check_file(&journal, &done).unwrap();
    assert!(verdict.is_clean(), "journal violations:\n{verdict}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waves_budget_resume_and_rollback() {
    let mut fleet = Fleet::start(3, MemberSettings::default(), &["--latency-ms", "5"])
        .await
        .unwrap();
    let sites = fleet.register_sites("site", 240, 32).await.unwrap();
    fleet
        .apply_blueprint(&chain_blueprint("chain", 3, "v1"))
        .await
        .unwrap();
    assert_eq!(
        fleet
            .put_group("all", "sites", &[("fleet", "site")])
            .await
            .unwrap(),
        240
    );

    // Seven sites early in the last wave are unreachable: their targets hold 7 of the 12
    // slots until their steps time out, the other 5 slots go on, and the budget (3
    // failures) trips when they fail, long before the last wave is through.
    let unreachable: Vec<String> = sites[30..37].to_vec();
    set_unreachable(&fleet, &unreachable, true).await;
    let mut req = install("all", 12);
    req.waves = "1,10%,100%".into();
    req.max_failed = Some(3);
    let r = fleet
        .rollouts(1)
        .start_rollout(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.waves.iter().map(|w| w.size).collect::<Vec<_>>(),
        vec![1, 23, 216]
    );
    let id = r.id.clone();
    let paused = fleet
        .wait_rollout(&id, LONG, "paused with nothing running", |r| {
            r.state == "paused" && r.running == 0
        })
        .await
        .unwrap();
    assert!(
        paused.pause_reason.contains("failure budget"),
        "{}",
        paused.pause_reason
    );
    assert!(paused.failed >= 4, "{paused:?}");
    assert!(paused.queued > 0, "paused before the end: {paused:?}");
    assert_eq!(
        paused.failures.iter().map(|f| f.count).sum::<u32>(),
        paused.failed
    );
    assert!(!paused.failures[0].examples.is_empty());
    // Only unreachable sites failed: the others never waited on them.
    let targets = fleet.rollout(&id, "failed").await.unwrap().unwrap().targets;
    for t in &targets {
        assert!(unreachable.contains(&t.site), "{} failed", t.site);
    }
    let failed_execs: BTreeSet<String> = targets.iter().map(|t| t.execution.clone()).collect();
    let succeeded_before = fleet.child_executions(&id).await.unwrap();
    let succeeded_before: BTreeMap<String, u64> = succeeded_before
        .iter()
        .filter(|e| e.state == "succeeded")
        .map(|e| (e.id.clone(), e.finished_ms))
        .collect();

    // Sites reachable again; resume retries the failed targets (their own executions) and
    // runs the rest.
    set_unreachable(&fleet, &unreachable, false).await;
    fleet
        .rollouts(2)
        .resume_rollout(RolloutActionRequest { id: id.clone() })
        .await
        .unwrap();
    let done = fleet.wait_rollout(&id, LONG, "ended", ended).await.unwrap();
    assert_eq!(
        (done.state.as_str(), done.succeeded, done.failed),
        ("succeeded", 240, 0)
    );
    let children = fleet.child_executions(&id).await.unwrap();
    assert_eq!(
        children.len(),
        240,
        "one child per target, none started twice"
    );
    for e in &children {
        assert_eq!(e.state, "succeeded", "{}", e.id);
        if let Some(finished) = succeeded_before.get(&e.id) {
            assert_eq!(e.finished_ms, *finished, "{} ran again after resume", e.id);
        }
    }
    for x in &failed_execs {
        assert!(
            children.iter().any(|e| &e.id == x),
            "failed target {x} got a new execution"
        );
    }

    // Update to v2 with the budget tripping again, then roll back what succeeded.
    fleet
        .apply_blueprint(&chain_blueprint("chain", 3, "v2"))
        .await
        .unwrap();
    assert_eq!(
        fleet.put_group("envs", "environments", &[]).await.unwrap(),
        240
    );
    set_unreachable(&fleet, &unreachable[..5], true).await;
    let up = fleet
        .rollouts(0)
        .start_rollout(StartRolloutRequest {
            group: "envs".into(),
            action: "update".into(),
            max_parallel: 12,
            max_failed: Some(2),
            max_attempts: 1,
            step_timeout_ms: 400,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let paused = fleet
        .wait_rollout(&up.id, LONG, "paused", |r| {
            r.state == "paused" && r.running == 0
        })
        .await
        .unwrap();
    let updated: Vec<String> = fleet
        .rollout(&up.id, "succeeded")
        .await
        .unwrap()
        .unwrap()
        .targets
        .iter()
        .map(|t| t.environment.clone())
        .collect();
    assert_eq!(updated.len() as u32, paused.succeeded);
    assert!(!updated.is_empty());
    let back = fleet
        .rollouts(1)
        .rollback_rollout(RolloutActionRequest { id: up.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (back.action.as_str(), back.total),
        ("rollback", paused.succeeded)
    );
    assert_eq!(back.rollback_of, up.id);
    let back = fleet
        .wait_rollout(&back.id, LONG, "ended", ended)
        .await
        .unwrap();
    assert_eq!((back.state.as_str(), back.failed), ("succeeded", 0));
    let mut c = fleet.workflow(0);
    for env in &updated {
        let e = c
            .get_environment(GetEnvironmentRequest {
                name: env.clone(),
                stale: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((e.revision, e.status.as_str()), (1, "in_sync"), "{env}");
    }
    let mut all = children;
    all.extend(fleet.child_executions(&up.id).await.unwrap());
    all.extend(fleet.child_executions(&back.id).await.unwrap());
    check_journal(&mut fleet, &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_killed_mid_rollout_completes() {
    let mut fleet = Fleet::start(3, MemberSettings::default(), &["--latency-ms", "15"])
        .await
        .unwrap();
    fleet.register_sites("site", 160, 32).await.unwrap();
    fleet
        .apply_blueprint(&chain_blueprint("chain", 3, "v1"))
        .await
        .unwrap();
    fleet.put_group("all", "sites", &[]).await.unwrap();
    let mut req = install("all", 10);
    req.waves = "5,50%,100%".into();
    req.max_attempts = 5;
    req.step_timeout_ms = 2000;
    let r = fleet
        .rollouts(0)
        .start_rollout(req)
        .await
        .unwrap()
        .into_inner();
    let before = fleet
        .wait_rollout(&r.id, LONG, "a third done", |r| r.succeeded >= 50)
        .await
        .unwrap();
    let leader = fleet
        .cluster
        .wait_leader(Duration::from_secs(20))
        .await
        .unwrap();
    fleet.cluster.kill(leader).unwrap();
    let after = fleet
        .wait_rollout(&r.id, LONG, "ended", ended)
        .await
        .unwrap();
    assert_eq!(
        (after.state.as_str(), after.succeeded, after.failed),
        ("succeeded", 160, 0)
    );
    // The same rollout, waves and budget continued on the new leader.
    assert_eq!(after.waves.len(), before.waves.len());
    assert_eq!(
        after.waves.iter().map(|w| w.size).collect::<Vec<_>>(),
        before.waves.iter().map(|w| w.size).collect::<Vec<_>>()
    );
    let new_leader = fleet
        .cluster
        .wait_leader(Duration::from_secs(20))
        .await
        .unwrap();
    assert_ne!(new_leader, leader);
    let children = fleet.child_executions(&r.id).await.unwrap();
    assert_eq!(children.len(), 160);
    // Some steps were dispatched by the new leader: a higher fence token.
    let tokens: BTreeSet<u64> = children
        .iter()
        .flat_map(|e| e.steps.iter().map(|s| s.fence_token))
        .collect();
    assert!(tokens.len() >= 2, "all steps under one term: {tokens:?}");
    check_journal(&mut fleet, &children).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cap_stays_full_until_the_queue_drains() {
    let fleet = Fleet::start(
        3,
        MemberSettings::default(),
        &[
            "--latency-ms",
            "5",
            "--latency-jitter-ms",
            "20",
            "--seed",
            "7",
        ],
    )
    .await
    .unwrap();
    fleet.register_sites("site", 120, 32).await.unwrap();
    fleet
        .apply_blueprint(&chain_blueprint("chain", 2, "v1"))
        .await
        .unwrap();
    fleet.put_group("all", "sites", &[]).await.unwrap();
    const CAP: i64 = 8;
    let mut req = install("all", CAP);
    req.max_attempts = 3;
    req.step_timeout_ms = 5000;
    let r = fleet
        .rollouts(0)
        .start_rollout(req)
        .await
        .unwrap()
        .into_inner();
    let done = fleet
        .wait_rollout(&r.id, LONG, "ended", ended)
        .await
        .unwrap();
    assert_eq!(done.succeeded, 120);
    // Replay the recorded start and end of every child (stamped by the leader in the same
    // entry that frees and refills a slot): after each instant, until the last child has
    // started, exactly CAP children run.
    let children = fleet.child_executions(&r.id).await.unwrap();
    let mut events: BTreeMap<u64, i64> = BTreeMap::new();
    for e in &children {
        assert!(e.started_ms > 0 && e.finished_ms >= e.started_ms, "{e:?}");
        *events.entry(e.started_ms).or_default() += 1;
        *events.entry(e.finished_ms).or_default() -= 1;
    }
    let last_start = children.iter().map(|e| e.started_ms).max().unwrap();
    let first_start = children.iter().map(|e| e.started_ms).min().unwrap();
    let mut running = 0i64;
    let mut checked = 0;
    for (t, delta) in &events {
        running += delta;
        assert!(running <= CAP, "over the cap at {t}: {running}");
        if *t > first_start && *t < last_start {
            assert_eq!(
                running, CAP,
                "a slot stayed empty at {t} with targets queued"
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "too few instants checked: {checked}");
    assert_eq!(running, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_rollout_input_is_refused_and_nothing_starts() {
    let fleet = Fleet::start(3, MemberSettings::default(), &[])
        .await
        .unwrap();
    fleet.register_sites("site", 10, 8).await.unwrap();
    fleet
        .apply_blueprint(&chain_blueprint("chain", 2, "v1"))
        .await
        .unwrap();
    fleet.put_group("all", "sites", &[]).await.unwrap();
    let mut c = fleet.rollouts(0);
    let cases: Vec<(StartRolloutRequest, Code, &str)> = vec![
        (install("all", 0), Code::InvalidArgument, "at least 1"),
        (
            install("all", -5),
            Code::InvalidArgument,
            "-5 is not a parallelism",
        ),
        (
            StartRolloutRequest {
                waves: "1,50%".into(),
                ..install("all", 2)
            },
            Code::InvalidArgument,
            "do not add up",
        ),
        (
            StartRolloutRequest {
                waves: "50%,10%,100%".into(),
                ..install("all", 2)
            },
            Code::InvalidArgument,
            "must grow",
        ),
        (
            StartRolloutRequest {
                waves: "ten".into(),
                ..install("all", 2)
            },
            Code::InvalidArgument,
            "neither a count nor a percentage",
        ),
        (install("nope", 2), Code::NotFound, "group nope"),
        (
            StartRolloutRequest {
                blueprint: "missing".into(),
                ..install("all", 2)
            },
            Code::NotFound,
            "blueprint missing",
        ),
        (
            StartRolloutRequest {
                action: "update".into(),
                blueprint: String::new(),
                ..install("all", 2)
            },
            Code::InvalidArgument,
            "selects sites",
        ),
        (
            StartRolloutRequest {
                action: "explode".into(),
                ..install("all", 2)
            },
            Code::InvalidArgument,
            "not a rollout action",
        ),
        (
            StartRolloutRequest {
                max_failed_percent: Some(150),
                ..install("all", 2)
            },
            Code::InvalidArgument,
            "max_failed_percent",
        ),
    ];
    for (req, code, want) in cases {
        let e = c.start_rollout(req.clone()).await.unwrap_err();
        assert_eq!(e.code(), code, "{req:?}: {e}");
        assert!(
            e.message().contains(want),
            "{req:?}: {:?} lacks {want:?}",
            e.message()
        );
    }
    let list = c
        .list_rollouts(ListRolloutsRequest { stale: false })
        .await
        .unwrap()
        .into_inner();
    assert!(list.rollouts.is_empty(), "{:?}", list.rollouts);
    let envs = fleet
        .workflow(0)
        .list_environments(moor_proto::workflow::ListEnvironmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(envs.environments.is_empty(), "nothing was created");
    // Controls on a rollout that does not exist, and bad parallelism changes.
    let e = c
        .pause_rollout(RolloutActionRequest { id: "r99".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .set_rollout_parallel(moor_proto::rollout::SetRolloutParallelRequest {
            id: "r99".into(),
            max_parallel: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}
