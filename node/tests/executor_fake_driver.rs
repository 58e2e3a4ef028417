//! The executor against a fake site driver, with a whole member started in-process
//! (`app::start`, port 0, a temporary data dir): what the executor asks of sites, checked
//! call by call, without processes or a network to a site.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use moor_domain::execution::{ExecState, RetryPolicy};
use moor_domain::site::Site;
use moor_node::exec::driver::{DriverCall, DriverResult, SiteDriver};
use moor_node::raft::member::Member;

mod common;
use common::{start, start_at};

const BP: &str = "name: app\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: 1 }\n  - name: b\n    type: sim.resource\n    depends_on: [a]\n    properties: { v: 2 }\n";

/// One call as the fake site saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    execution: String,
    step: u32,
    resource: String,
    attempt: u32,
    fence_token: u64,
}

/// A site that records every call and fails the first `fail_first` attempts of resource `b`;
/// with `hold`, it never answers (a call in flight when its leader dies).
#[derive(Default)]
struct FakeSite {
    calls: Mutex<Vec<Seen>>,
    fail_first: u32,
    hold: bool,
    /// One permit per call received.
    called: tokio::sync::Notify,
}

impl SiteDriver for FakeSite {
    fn call<'a>(&'a self, call: &'a DriverCall) -> BoxFuture<'a, DriverResult> {
        async move {
            self.calls.lock().unwrap().push(Seen {
                execution: call.execution_id.clone(),
                step: call.step,
                resource: call.resource.clone(),
                attempt: call.attempt,
                fence_token: call.fence_token,
            });
            self.called.notify_one();
            if self.hold {
                return futures::future::pending().await;
            }
            if call.resource == "b" && call.attempt <= self.fail_first {
                return DriverResult::Failed {
                    error: format!("b is not ready (attempt {})", call.attempt),
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
        async { Err("the fake site does not observe".to_string()) }.boxed()
    }
}

/// Waits (on applied-index changes, bounded) until execution `id` ended; returns its state.
async fn ended(member: &Member, id: &str) -> ExecState {
    let mut metrics = member.raft.metrics();
    let wait = async {
        loop {
            let state = member
                .state
                .read()
                .unwrap()
                .workflow
                .executions
                .get(id)
                .map(|e| e.state);
            if let Some(s) = state.filter(|s| s.is_terminal()) {
                return s;
            }
            metrics.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the execution ends within 30 s")
}

async fn install(member: &Member, retry: RetryPolicy) -> String {
    common::workflow::install(member, BP, retry).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_step_is_called_once_with_its_key_and_the_leaders_term() {
    let site = Arc::new(FakeSite::default());
    let s = start(site.clone()).await;
    let id = install(s.member(), RetryPolicy::default()).await;
    assert_eq!(ended(s.member(), &id).await, ExecState::Succeeded);
    let term = s.member().metrics().current_term;
    let calls = site.calls.lock().unwrap().clone();
    let resources: Vec<&str> = calls.iter().map(|c| c.resource.as_str()).collect();
    assert_eq!(
        resources,
        ["a", "b"],
        "dependency order, each step once: {calls:?}"
    );
    for c in &calls {
        assert_eq!(c.execution, id);
        assert_eq!(c.attempt, 1, "{c:?}");
        assert_eq!(
            c.fence_token, term,
            "the fence token is the leader's term: {c:?}"
        );
    }
    assert_ne!(calls[0].step, calls[1].step);
    s.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_is_retried_under_the_same_key_and_only_that_step() {
    let site = Arc::new(FakeSite {
        fail_first: 2,
        ..FakeSite::default()
    });
    let s = start(site.clone()).await;
    let retry = RetryPolicy {
        max_attempts: 3,
        backoff_base_ms: 10,
        backoff_max_ms: 20,
        ..RetryPolicy::default()
    };
    let id = install(s.member(), retry).await;
    assert_eq!(ended(s.member(), &id).await, ExecState::Succeeded);
    let calls = site.calls.lock().unwrap().clone();
    let a: Vec<&Seen> = calls.iter().filter(|c| c.resource == "a").collect();
    let b: Vec<&Seen> = calls.iter().filter(|c| c.resource == "b").collect();
    assert_eq!(
        a.len(),
        1,
        "a succeeded once and is never touched again: {calls:?}"
    );
    assert_eq!(b.iter().map(|c| c.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(
        b.iter().all(|c| c.step == b[0].step && c.execution == id),
        "same key: {b:?}"
    );
    s.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_keeps_failing_fails_the_execution_after_its_attempts() {
    let site = Arc::new(FakeSite {
        fail_first: 10,
        ..FakeSite::default()
    });
    let s = start(site.clone()).await;
    let retry = RetryPolicy {
        max_attempts: 2,
        backoff_base_ms: 10,
        backoff_max_ms: 20,
        ..RetryPolicy::default()
    };
    let id = install(s.member(), retry).await;
    assert_eq!(ended(s.member(), &id).await, ExecState::Failed);
    let b = site
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.resource == "b")
        .count();
    assert_eq!(b, 2, "exactly max_attempts calls");
    s.shut_down().await;
}

/// Issue 15: a leader that restarts must not lead again in its old term. openraft would
/// restore it as leader at once in the same term, so its fence token would equal the dead
/// process's (a late request of that process would pass the site's fence), and the step the
/// dead process had in flight would wait two step timeouts (here 2 × 60 s) to be sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_leader_sends_again_at_once_with_a_higher_token() {
    let held = Arc::new(FakeSite {
        hold: true,
        ..FakeSite::default()
    });
    let s = start(held.clone()).await;
    let retry = RetryPolicy {
        step_timeout_ms: 60_000,
        ..RetryPolicy::default()
    };
    let id = install(s.member(), retry).await;
    tokio::time::timeout(Duration::from_secs(30), held.called.notified())
        .await
        .expect("step a is called");
    let before = held.calls.lock().unwrap()[0].clone();
    assert_eq!(before.resource, "a");
    let (dir, addr) = s.shut_down().await;

    let site = Arc::new(FakeSite::default());
    let s = start_at(dir, addr, site.clone()).await;
    assert_eq!(
        ended(s.member(), &id).await,
        ExecState::Succeeded,
        "the restarted member finishes the execution well within 2 x the step timeout"
    );
    let calls = site.calls.lock().unwrap().clone();
    let again = calls
        .iter()
        .find(|c| c.resource == "a")
        .expect("step a is sent again");
    assert_eq!(
        (again.execution.as_str(), again.step),
        (before.execution.as_str(), before.step),
        "same step, same idempotency key"
    );
    assert!(
        again.fence_token > before.fence_token,
        "a new incarnation fences its predecessor: {} then {}",
        before.fence_token,
        again.fence_token
    );
    s.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_watches_are_capped_and_a_gone_watcher_frees_its_place() {
    use moor_node::api::workflow_service::MAX_EXEC_WATCHES;
    use moor_proto::workflow::workflow_api_client::WorkflowApiClient;
    use moor_proto::workflow::WatchExecutionRequest;

    // The site never answers: the execution stays running, so every watch stays open.
    let site = Arc::new(FakeSite {
        hold: true,
        ..FakeSite::default()
    });
    let s = start(site).await;
    let id = install(s.member(), RetryPolicy::default()).await;
    let mut client = WorkflowApiClient::connect(format!("http://{}", s.addr))
        .await
        .unwrap();
    let watch = || WatchExecutionRequest { id: id.clone() };
    let mut open = Vec::new();
    for _ in 0..MAX_EXEC_WATCHES {
        let mut stream = client.watch_execution(watch()).await.unwrap().into_inner();
        let first = stream.message().await.unwrap().expect("the current state");
        assert_eq!(first.id, id);
        open.push(stream);
    }
    let refused = client.watch_execution(watch()).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(
        refused.message().contains(&MAX_EXEC_WATCHES.to_string()),
        "{refused:?}"
    );

    // A watcher that goes away frees its place without waiting for the execution to change.
    drop(open.pop());
    let freed_from = std::time::Instant::now();
    let deadline = freed_from + Duration::from_secs(10);
    loop {
        match client.watch_execution(watch()).await {
            Ok(_) => break,
            Err(e) if e.code() == tonic::Code::ResourceExhausted => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the place of a closed watch was not freed"
                );
                // Polls until the member has noticed the closed stream.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    eprintln!(
        "a closed watch's place was free after {:?}",
        freed_from.elapsed()
    );
    drop(open);
    s.shut_down().await;
}
