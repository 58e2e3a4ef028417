//! Cluster feature levels with a whole member in-process: the level stays where it is until
//! it is raised (`upgrade.auto_finalize` off), attempt histories start at level 2, raising
//! twice changes nothing, a level nobody supports is refused, auto-finalize raises it by
//! itself, and a member that applied a level its build does not support stops with the
//! reason.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use moor_domain::blueprint;
use moor_domain::cluster::ClusterCommand;
use moor_domain::command::{Command, CommandResult};
use moor_domain::execution::{AttemptOutcome, ExecKind, ExecState, RetryPolicy};
use moor_domain::feature;
use moor_domain::site::Site;
use moor_domain::workflow::{WorkflowCommand, WorkflowResult};
use moor_node::errors::ApiError;
use moor_node::exec::driver::{DriverCall, DriverResult, SiteDriver};
use moor_node::raft::member::Member;

mod common;
use common::start_configured;
use common::workflow::{site_named, write};

const BP: &str = "name: app\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: 1 }\n  - name: b\n    type: sim.resource\n    depends_on: [a]\n    properties: { v: 2 }\n";

/// A site whose resource `b` fails its first attempt of every execution.
struct FlakySite;

impl SiteDriver for FlakySite {
    fn call<'a>(&'a self, call: &'a DriverCall) -> BoxFuture<'a, DriverResult> {
        async move {
            if call.resource == "b" && call.attempt == 1 {
                return DriverResult::Failed {
                    error: "b is not ready".into(),
                    retryable: true,
                };
            }
            DriverResult::Done {
                observed_digest: call.desired_digest.clone(),
            }
        }
        .boxed()
    }

    fn observe<'a>(
        &'a self,
        _site: &'a Site,
        _environment: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>> {
        async { Err("this fake site does not observe".to_string()) }.boxed()
    }
}

const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    backoff_base_ms: 10,
    backoff_max_ms: 20,
    step_timeout_ms: 30_000,
};

/// The blueprint and the site, once.
async fn prepare(member: &Member) {
    let spec = blueprint::parse("app.yaml", BP).unwrap();
    let source = BP.into();
    write(
        member,
        WorkflowCommand::PutBlueprint {
            spec,
            source,
            now_ms: 1,
        },
    )
    .await;
    let site = site_named("s1");
    write(member, WorkflowCommand::PutSite { site, now_ms: 1 }).await;
}

/// Installs environment `name` and waits (on applied-index changes, bounded) for the end.
async fn install(member: &Member, name: &str) -> String {
    let created = write(
        member,
        WorkflowCommand::CreateEnvironment {
            name: name.into(),
            site: "s1".into(),
            blueprint: "app".into(),
            revision: None,
            inputs: Default::default(),
            labels: Default::default(),
            retry: RETRY,
            now_ms: 2,
            drift: None,
        },
    )
    .await;
    let WorkflowResult::Execution { id, .. } = created else {
        panic!("{created:?}")
    };
    let mut metrics = member.raft.metrics();
    let wait = async {
        loop {
            let state = member.state.read().unwrap().workflow.executions[&id].state;
            if state.is_terminal() {
                return state;
            }
            metrics.changed().await.unwrap();
        }
    };
    let state = tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the install ends within 30 s");
    assert_eq!(state, ExecState::Succeeded);
    id
}

fn finalize(level: u32) -> Command {
    Command::Cluster(ClusterCommand::SetFeatureLevel { level })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempt_histories_start_when_the_level_is_raised_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_configured(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(FlakySite),
        |c| c.upgrade.auto_finalize = false,
    )
    .await;
    let m = s.member().clone();
    prepare(&m).await;
    assert_eq!(m.applied_level.get(), feature::BASE);

    let before = install(&m, "e1").await;
    {
        let state = m.state.read().unwrap();
        let e = &state.workflow.executions[&before];
        assert!(
            e.steps.iter().all(|s| s.attempts.is_empty()),
            "level 1 keeps no history"
        );
        assert_eq!(e.steps[1].attempt, 2, "b failed once, then succeeded");
    }

    // A level no member supports is refused and changes nothing.
    let err = m
        .upgrade_finalize(finalize(feature::SUPPORTED.0 + 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::FailedPrecondition { reason } if reason.contains("not every member supports it")),
        "{err:?}"
    );
    assert_eq!(m.applied_level.get(), feature::BASE);

    let (previous, level, index) = m.upgrade_finalize(finalize(0)).await.unwrap();
    assert_eq!((previous, level), (1, feature::SUPPORTED.0));
    assert!(index > 0);
    assert_eq!(m.applied_level.get(), feature::SUPPORTED);
    // Again: already there, nothing committed.
    let top = feature::SUPPORTED.0;
    assert_eq!(
        m.upgrade_finalize(finalize(0)).await.unwrap(),
        (top, top, 0)
    );

    let after = install(&m, "e2").await;
    let term = m.metrics().current_term;
    {
        let state = m.state.read().unwrap();
        let e = &state.workflow.executions[&after];
        assert_eq!(e.kind, ExecKind::Install);
        let a = &e.steps[0].attempts;
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!((a[0].attempt, a[0].fence_token), (1, term));
        assert_eq!(
            (&a[0].outcome, a[0].result_term),
            (&AttemptOutcome::Succeeded, term)
        );
        let b = &e.steps[1].attempts;
        assert_eq!(b.len(), 2, "{b:?}");
        assert_eq!(
            b[0].outcome,
            AttemptOutcome::Failed {
                error: "b is not ready".into()
            }
        );
        assert_eq!(
            (b[1].attempt, &b[1].outcome),
            (2, &AttemptOutcome::Succeeded)
        );
        assert!(b[0].finished_ms <= b[1].dispatched_ms);
        // The execution that ran at level 1 gained nothing afterwards.
        assert!(state.workflow.executions[&before]
            .steps
            .iter()
            .all(|s| s.attempts.is_empty()));
    }
    drop(m);
    s.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auto_finalize_the_leader_raises_the_level_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_configured(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(FlakySite),
        |_| {},
    )
    .await;
    let m = s.member().clone();
    let mut metrics = m.raft.metrics();
    let wait = async {
        while m.applied_level.get() < feature::SUPPORTED {
            metrics.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("a lone member on this release reaches its level by itself");
    drop(m);
    s.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_applied_a_level_it_does_not_support_stops_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_configured(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(FlakySite),
        |c| c.upgrade.auto_finalize = false,
    )
    .await;
    // As a newer release's leader would have it: a level above this build's.
    let too_new = feature::SUPPORTED.0 + 1;
    // The member may stop before it answers: then the outcome is unknown to the caller.
    match s.member().write(finalize(too_new)).await {
        Ok((_, result)) => assert!(matches!(result, CommandResult::Cluster(_)), "{result:?}"),
        Err(e) => assert!(matches!(e, ApiError::OutcomeUnknown { .. }), "{e:?}"),
    }
    let outcome = tokio::time::timeout(Duration::from_secs(30), s.running.wait())
        .await
        .expect("the member stops by itself");
    let err = outcome.expect_err("it stops with an error (moord exits 1)");
    let text = format!("{err:#}");
    assert!(
        text.contains(&format!("feature level {too_new}"))
            && text.contains(&format!("up to {}", feature::SUPPORTED)),
        "{text}"
    );
}
