//! Site reachability end to end on one in-process member: the leader's drift checks record a
//! site that stops answering (`GetSite` shows since when and why), and record it answering
//! again at the first check that gets an answer; a site without environments is probed
//! instead, with the same outcome. A fake driver plays the site.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use moor_domain::execution::{ExecState, RetryPolicy};
use moor_domain::feature;
use moor_domain::site::Site;
use moor_domain::workflow::WorkflowCommand;
use moor_node::exec::drift::PROBE_ENVIRONMENT;
use moor_node::exec::driver::{DriverCall, DriverResult, SiteDriver};
use moor_node::raft::member::Member;
use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
use moor_proto::workflow::GetSiteRequest;

mod common;
use common::start_configured;
use common::workflow::{install, site_named, write};

const BP: &str =
    "name: app\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: 1 }\n";

/// A site that does every step, reports what it was given, and can be switched off.
#[derive(Default)]
struct Switchable {
    down: AtomicBool,
    /// What each resource holds: the digest of its last step.
    held: Mutex<BTreeMap<String, String>>,
    /// The environments observed so far.
    observed: Mutex<BTreeSet<String>>,
}

impl SiteDriver for Switchable {
    fn call<'a>(&'a self, call: &'a DriverCall) -> BoxFuture<'a, DriverResult> {
        async move {
            self.held
                .lock()
                .unwrap()
                .insert(call.resource.clone(), call.desired_digest.clone());
            DriverResult::Done {
                observed_digest: call.desired_digest.clone(),
            }
        }
        .boxed()
    }

    fn observe<'a>(
        &'a self,
        _site: &'a Site,
        environment: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>> {
        async move {
            self.observed
                .lock()
                .unwrap()
                .insert(environment.to_string());
            if self.down.load(Ordering::SeqCst) {
                Err("site s1 at 127.0.0.1:9 unreachable: connection refused".to_string())
            } else {
                Ok(self.held.lock().unwrap().clone())
            }
        }
        .boxed()
    }
}

/// How many drift checks or probes ended with `outcome`.
fn checks(member: &Member, outcome: &str) -> u64 {
    member
        .metrics
        .drift_checks
        .get_or_create(&moor_node::metrics::Outcome {
            outcome: outcome.into(),
        })
        .get()
}

/// Waits (bounded) until `outcome` has been counted `n` times: checks and probes that
/// find nothing new commit nothing, so there is no index to wait on.
async fn counted(member: &Member, outcome: &str, n: u64) {
    let enough = async {
        while checks(member, outcome) < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), enough)
        .await
        .unwrap_or_else(|_| panic!("{n} × {outcome} within 30 s"));
}

/// Waits (on applied-index changes, bounded) until `test` holds of the member's state.
async fn until(member: &Member, what: &str, test: impl Fn(&moor_domain::state::MoorState) -> bool) {
    let mut metrics = member.raft.metrics();
    let wait = async {
        loop {
            if test(&member.state.read().unwrap()) {
                return;
            }
            metrics.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("within 30 s: {what}"));
}

/// One member that checks (and probes) every 100 ms, with a [`Switchable`] as its sites.
async fn start_checking() -> (Arc<Switchable>, common::Started) {
    let site = Arc::new(Switchable::default());
    let s = start_configured(
        tempfile::tempdir().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        site.clone(),
        |c| c.executor.drift_check_interval_ms = 100,
    )
    .await;
    (site, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_that_stops_answering_is_recorded_until_it_answers_again() {
    let (site, s) = start_checking().await;
    let m = s.member().clone();
    let id = install(&m, BP, RetryPolicy::default()).await;
    until(&m, "the install succeeds", |st| {
        st.workflow.executions[&id].state == ExecState::Succeeded
    })
    .await;
    // A lone member of this release raises the level by itself (auto-finalize).
    until(&m, "the cluster reaches feature level 3", |st| {
        st.feature_level.has(feature::SITE_REACHABILITY)
    })
    .await;
    // Answering: checks run (counted, nothing to commit) and nothing is recorded.
    counted(&m, "unchanged", 3).await;
    assert!(m.state.read().unwrap().workflow.unreachable.is_empty());

    site.down.store(true, Ordering::SeqCst);
    until(&m, "s1 is recorded unreachable", |st| {
        st.workflow.unreachable.contains_key("s1")
    })
    .await;
    let mut client = WorkflowApiClient::connect(format!("http://{}", s.addr))
        .await
        .unwrap();
    let got = client
        .get_site(GetSiteRequest {
            name: "s1".into(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(got.unreachable_since_ms > 0, "{got:?}");
    assert!(
        got.unreachable_error.contains("connection refused"),
        "{got:?}"
    );
    // What was last seen stays: the environment is not marked drifted for it.
    assert_eq!(
        m.state.read().unwrap().workflow.environments["e1"].status,
        moor_domain::environment::EnvStatus::InSync
    );

    site.down.store(false, Ordering::SeqCst);
    until(&m, "s1 answers again", |st| {
        st.workflow.unreachable.is_empty()
    })
    .await;
    let got = client
        .get_site(GetSiteRequest {
            name: "s1".into(),
            stale: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (got.unreachable_since_ms, got.unreachable_error.as_str()),
        (0, "")
    );
    drop(m);
    s.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_without_environments_is_probed_for_reachability() {
    let (site, s) = start_checking().await;
    let m = s.member().clone();
    until(&m, "the cluster reaches feature level 3", |st| {
        st.feature_level.has(feature::SITE_REACHABILITY)
    })
    .await;
    write(
        &m,
        WorkflowCommand::PutSite {
            site: site_named("bare"),
            now_ms: 1,
        },
    )
    .await;
    counted(&m, "probe_answered", 2).await;
    assert!(m.state.read().unwrap().workflow.unreachable.is_empty());
    assert_eq!(
        *site.observed.lock().unwrap(),
        BTreeSet::from([PROBE_ENVIRONMENT.to_string()]),
        "a probe observes the environment no site holds"
    );

    site.down.store(true, Ordering::SeqCst);
    until(&m, "bare is recorded unreachable", |st| {
        st.workflow
            .unreachable
            .get("bare")
            .is_some_and(|u| u.error.contains("connection refused"))
    })
    .await;
    assert!(checks(&m, "probe_no_answer") >= 1);

    site.down.store(false, Ordering::SeqCst);
    until(&m, "bare answers again", |st| {
        st.workflow.unreachable.is_empty()
    })
    .await;
    drop(m);
    s.shut_down().await;
}
