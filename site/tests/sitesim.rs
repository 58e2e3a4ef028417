//! `moor-sitesim` over real gRPC on loopback: the site protocol's guarantees (fencing, dedupe,
//! retry after failure), the simulated network (unreachable sites, deadlines), drift and the
//! journal. The journal checker's tests against a sitesim (the WF6 negative control among
//! them) are in `jepsen-like-tests/tests/journal_checker.rs`.
//!
//! Sitesims run in-process ([`RunningSim`]) except for one test of the binary itself
//! (address announcement, flush on SIGTERM).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moor_proto::site::site_agent_client::SiteAgentClient;
use moor_proto::site::site_sim_admin_client::SiteSimAdminClient;
use moor_proto::site::{
    ApplyRequest, ApplyResponse, DeleteRequest, FlushJournalRequest, IdempotencyKey,
    InjectDriftRequest, ObserveRequest, Outcome, ResourceRef, SetUnreachableRequest,
    SiteSimStatsRequest,
};
use moor_site::journal::{read_journal, JournalLine};
use moor_site::{JournalOp, JournalOutcome, RunningSim, SimConfig};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

type Agent = SiteAgentClient<Channel>;
type Admin = SiteSimAdminClient<Channel>;

/// A bound on every call a test makes, so a bug shows as a failure, not a hung test.
const TEST_CALL_BOUND: Duration = Duration::from_secs(20);

async fn clients(sim: &RunningSim) -> (Agent, Admin) {
    let channel = Endpoint::from_shared(sim.endpoint())
        .expect("endpoint")
        .connect()
        .await
        .expect("connect to the sitesim");
    (
        SiteAgentClient::new(channel.clone()),
        SiteSimAdminClient::new(channel),
    )
}

fn target(site: &str, resource: &str) -> Option<ResourceRef> {
    Some(ResourceRef {
        site: site.into(),
        environment: "shop".into(),
        resource: resource.into(),
        resource_type: "sim.resource".into(),
    })
}

fn apply_req(site: &str, exec: &str, step: u32, attempt: u32, token: u64) -> ApplyRequest {
    ApplyRequest {
        target: target(site, &format!("res-{step}")),
        key: Some(IdempotencyKey {
            execution_id: exec.into(),
            step,
        }),
        attempt,
        fence_token: token,
        properties_json: format!(r#"{{"step":{step},"attempt":{attempt}}}"#),
        desired_digest: format!("digest-{exec}-{step}-{attempt}"),
    }
}

async fn apply(agent: &mut Agent, req: ApplyRequest) -> ApplyResponse {
    tokio::time::timeout(TEST_CALL_BOUND, agent.apply(req))
        .await
        .expect("apply answered in time")
        .expect("apply succeeded at the gRPC level")
        .into_inner()
}

fn outcome(r: &ApplyResponse) -> Outcome {
    Outcome::try_from(r.outcome).expect("known outcome")
}

async fn flush(admin: &mut Admin) -> u64 {
    let r = admin
        .flush_journal(FlushJournalRequest {})
        .await
        .expect("flush")
        .into_inner();
    assert!(r.enabled, "journal configured");
    r.lines_written
}

fn journal_lines(path: &Path) -> Vec<JournalLine> {
    let journal = read_journal(path).expect("journal readable");
    assert_eq!(journal.truncated_tail, None, "no torn line after a flush");
    journal.lines
}

#[tokio::test]
async fn fencing_refuses_lower_tokens_and_accepts_equal_or_higher_in_any_order() {
    let sim = RunningSim::start(SimConfig::default())
        .await
        .expect("sitesim");
    let (mut agent, _) = clients(&sim).await;

    // Three dispatches of one term, sent in reverse step order: all accepted.
    for step in [3, 1, 2] {
        let r = apply(&mut agent, apply_req("s1", "e1", step, 1, 5)).await;
        assert_eq!(outcome(&r), Outcome::Applied, "step {step} at token 5");
        assert_eq!(r.highest_token, 5);
    }
    // A deposed leader (term 4) is refused and told the highest token.
    let r = apply(&mut agent, apply_req("s1", "e1", 4, 1, 4)).await;
    assert_eq!(outcome(&r), Outcome::Fenced);
    assert_eq!(r.highest_token, 5);
    // Refused means nothing changed.
    let seen = agent
        .observe(ObserveRequest {
            target: target("s1", "res-4"),
        })
        .await
        .expect("observe")
        .into_inner();
    assert!(seen.resources.is_empty(), "fenced apply left no resource");
    // A newer leader is accepted; then the previous term is fenced too.
    let r = apply(&mut agent, apply_req("s1", "e1", 4, 2, 6)).await;
    assert_eq!(outcome(&r), Outcome::Applied);
    assert_eq!(r.highest_token, 6);
    let r = apply(&mut agent, apply_req("s1", "e2", 1, 1, 5)).await;
    assert_eq!(outcome(&r), Outcome::Fenced);
    // Fencing is per site: another site has accepted nothing yet.
    let r = apply(&mut agent, apply_req("s2", "e2", 1, 1, 1)).await;
    assert_eq!(outcome(&r), Outcome::Applied);
    assert_eq!(r.highest_token, 1);
    // Deletes are fenced the same way.
    let r = tokio::time::timeout(
        TEST_CALL_BOUND,
        agent.delete(DeleteRequest {
            target: target("s1", "res-1"),
            key: Some(IdempotencyKey {
                execution_id: "e3".into(),
                step: 1,
            }),
            attempt: 1,
            fence_token: 2,
        }),
    )
    .await
    .expect("in time")
    .expect("delete")
    .into_inner();
    assert_eq!(outcome(&r), Outcome::Fenced);
    sim.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_duplicate_returns_the_recorded_digest_and_applies_once() {
    let sim = RunningSim::start(SimConfig::default())
        .await
        .expect("sitesim");
    let (mut agent, mut admin) = clients(&sim).await;

    let first = apply(&mut agent, apply_req("s1", "e1", 1, 1, 1)).await;
    assert_eq!(outcome(&first), Outcome::Applied);
    assert_eq!(first.observed_digest, "digest-e1-1-1");
    // A re-dispatch after failover: same key, new attempt and term, different payload.
    let again = apply(&mut agent, apply_req("s1", "e1", 1, 2, 2)).await;
    assert_eq!(outcome(&again), Outcome::Duplicate);
    assert_eq!(
        again.observed_digest, "digest-e1-1-1",
        "the recorded result"
    );
    assert_eq!(
        again.highest_token, 2,
        "a duplicate still accepts the token"
    );
    let seen = agent
        .observe(ObserveRequest {
            target: target("s1", "res-1"),
        })
        .await
        .expect("observe")
        .into_inner();
    assert_eq!(seen.resources.len(), 1);
    assert_eq!(seen.resources[0].observed_digest, "digest-e1-1-1");
    assert!(seen.resources[0].properties_json.contains(r#""attempt":1"#));
    // The same key at another site is another effect.
    let other = apply(&mut agent, apply_req("s2", "e1", 1, 1, 1)).await;
    assert_eq!(outcome(&other), Outcome::Applied);

    let stats = admin
        .stats(SiteSimStatsRequest {})
        .await
        .expect("stats")
        .into_inner();
    assert_eq!((stats.applied, stats.duplicate, stats.sites), (2, 1, 2));
    sim.stop().await.expect("clean stop");
}

#[tokio::test]
async fn failed_attempts_can_be_retried_until_applied() {
    let sim = RunningSim::start(SimConfig {
        seed: 11,
        failure_rate: 0.5,
        fail_sites: vec!["broken".into()],
        ..SimConfig::default()
    })
    .await
    .expect("sitesim");
    let (mut agent, _) = clients(&sim).await;

    // Find a step whose first attempt fails (half of them do at rate 0.5).
    let mut step = 0;
    let first = loop {
        step += 1;
        assert!(step < 64, "no failed first attempt in 64 steps at rate 0.5");
        let r = apply(&mut agent, apply_req("s1", "e1", step, 1, 1)).await;
        if outcome(&r) == Outcome::Failed {
            break r;
        }
    };
    assert!(first.error.contains("simulated failure"), "{}", first.error);
    // Retry the failed key until it applies; then it is a duplicate.
    let mut attempt = 1;
    loop {
        attempt += 1;
        assert!(attempt < 64, "never applied in 64 attempts at rate 0.5");
        let r = apply(&mut agent, apply_req("s1", "e1", step, attempt, 1)).await;
        match outcome(&r) {
            Outcome::Failed => continue,
            Outcome::Applied => break,
            other => panic!("unexpected {other:?} on attempt {attempt}"),
        }
    }
    let r = apply(&mut agent, apply_req("s1", "e1", step, attempt + 1, 1)).await;
    assert_eq!(outcome(&r), Outcome::Duplicate);
    assert_eq!(r.observed_digest, format!("digest-e1-{step}-{attempt}"));

    // A late copy of the first (failed) attempt is answered from the record, not re-decided.
    let r = apply(&mut agent, apply_req("s1", "e1", step, 1, 1)).await;
    assert_eq!(outcome(&r), Outcome::Duplicate, "recorded, not re-decided");

    // A site configured to fail always fails, and nothing is stored there.
    for attempt in 1..=5 {
        let r = apply(&mut agent, apply_req("broken", "e1", 1, attempt, 1)).await;
        assert_eq!(outcome(&r), Outcome::Failed);
        assert!(r.error.contains("--fail-sites"), "{}", r.error);
    }
    let seen = agent
        .observe(ObserveRequest {
            target: target("broken", ""),
        })
        .await
        .expect("observe")
        .into_inner();
    assert!(seen.resources.is_empty());
    sim.stop().await.expect("clean stop");
}

#[tokio::test]
async fn an_unreachable_site_times_out_at_the_callers_deadline_while_others_answer() {
    let sim = RunningSim::start(SimConfig {
        unreachable: vec!["dark".into()],
        latency_ms: 5,
        ..SimConfig::default()
    })
    .await
    .expect("sitesim");
    let (mut agent, mut admin) = clients(&sim).await;
    let deadline = Duration::from_millis(400);

    let mut dark_agent = agent.clone();
    let started = Instant::now();
    let dark = tokio::spawn(async move {
        let mut req = Request::new(apply_req("dark", "e1", 1, 1, 1));
        req.set_timeout(deadline);
        let result = tokio::time::timeout(TEST_CALL_BOUND, dark_agent.apply(req))
            .await
            .expect("the deadline ends the call");
        (result, started.elapsed())
    });
    // While the dark site holds its call, a reachable site answers.
    while sim.sim().stats().held_now == 0 {
        assert!(started.elapsed() < deadline, "the dark call never arrived");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let lit = apply(&mut agent, apply_req("lit", "e1", 1, 1, 1)).await;
    assert_eq!(outcome(&lit), Outcome::Applied);
    assert!(!dark.is_finished(), "the dark site's call is still held");
    assert_eq!(sim.sim().stats().held_now, 1);

    let (result, elapsed) = dark.await.expect("dark call task");
    let status = result.expect_err("an unreachable site never answers");
    assert!(
        matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
        "deadline status, got {status:?}"
    );
    assert!(
        elapsed >= deadline,
        "ended after {elapsed:?}, before the deadline"
    );
    // The caller's timer and the server's (the same grpc-timeout) fire together: the server
    // may drop the held call just after the caller has given up. Wait for it, bounded.
    while sim.sim().stats().held_now != 0 {
        assert!(
            started.elapsed() < TEST_CALL_BOUND,
            "the held call was never released"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let stats = sim.sim().stats();
    assert_eq!((stats.held_now, stats.held_total, stats.applied), (0, 1, 1));

    // The admin service makes it reachable, and another site unreachable.
    let was = admin
        .set_unreachable(SetUnreachableRequest {
            site: "dark".into(),
            unreachable: false,
        })
        .await
        .expect("set reachable")
        .into_inner();
    assert!(was.was_unreachable);
    let r = apply(&mut agent, apply_req("dark", "e1", 1, 2, 1)).await;
    assert_eq!(
        outcome(&r),
        Outcome::Applied,
        "the held attempt never applied"
    );
    admin
        .set_unreachable(SetUnreachableRequest {
            site: "lit".into(),
            unreachable: true,
        })
        .await
        .expect("set unreachable");
    let mut req = Request::new(apply_req("lit", "e1", 2, 1, 1));
    req.set_timeout(Duration::from_millis(100));
    let status = agent.apply(req).await.expect_err("lit is now unreachable");
    assert!(matches!(
        status.code(),
        Code::Cancelled | Code::DeadlineExceeded
    ));
    sim.stop().await.expect("clean stop");
}

#[tokio::test]
async fn injected_drift_shows_in_observe() {
    let sim = RunningSim::start(SimConfig::default())
        .await
        .expect("sitesim");
    let (mut agent, mut admin) = clients(&sim).await;
    for step in 1..=2 {
        let r = apply(&mut agent, apply_req("s1", "e1", step, 1, 1)).await;
        assert_eq!(outcome(&r), Outcome::Applied);
    }
    let drifted = admin
        .inject_drift(InjectDriftRequest {
            site: "s1".into(),
            environment: "shop".into(),
            resource: "res-2".into(),
        })
        .await
        .expect("inject drift")
        .into_inner();
    let seen = agent
        .observe(ObserveRequest {
            target: target("s1", ""),
        })
        .await
        .expect("observe")
        .into_inner();
    let digests: Vec<(&str, &str)> = seen
        .resources
        .iter()
        .map(|r| (r.resource.as_str(), r.observed_digest.as_str()))
        .collect();
    assert_eq!(
        digests,
        vec![
            ("res-1", "digest-e1-1-1"),
            ("res-2", drifted.observed_digest.as_str())
        ]
    );
    assert_ne!(drifted.observed_digest, "digest-e1-2-1");
    assert!(seen.resources[1].properties_json.contains("_drift"));

    let missing = admin
        .inject_drift(InjectDriftRequest {
            site: "s1".into(),
            environment: "shop".into(),
            resource: "nope".into(),
        })
        .await
        .expect_err("no such resource");
    assert_eq!(missing.code(), Code::NotFound);
    sim.stop().await.expect("clean stop");
}

/// At `site-0` to `site-4` concurrently: steps 1..=8 under token 2, then per site a duplicate
/// (step 1 again), a fenced call (token 1) and a call to the always-failing site `broken`.
async fn eleven_calls_at_each_of_five_sites(agent: &Agent) {
    let mut tasks = Vec::new();
    for s in 0..5 {
        let mut agent = agent.clone();
        tasks.push(tokio::spawn(async move {
            let site = format!("site-{s}");
            for step in 1..=8 {
                apply(&mut agent, apply_req(&site, "e1", step, 1, 2)).await;
            }
            apply(&mut agent, apply_req(&site, "e1", 1, 2, 2)).await;
            apply(&mut agent, apply_req(&site, "e2", 1, 1, 1)).await;
            apply(&mut agent, apply_req("broken", &site, 1, 1, 1)).await;
        }));
    }
    for t in tasks {
        t.await.expect("calls");
    }
}

#[tokio::test]
async fn journal_holds_every_answered_call_after_flush() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let sim = RunningSim::start(SimConfig {
        journal: Some(path.clone()),
        fail_sites: vec!["broken".into()],
        journal_queue_capacity: 8, // small on purpose: handlers must wait, not drop lines
        ..SimConfig::default()
    })
    .await
    .expect("sitesim");
    let (agent, mut admin) = clients(&sim).await;
    eleven_calls_at_each_of_five_sites(&agent).await;
    let mut observer = agent.clone();
    observer
        .observe(ObserveRequest {
            target: target("site-0", ""),
        })
        .await
        .expect("observe");
    let answered = 5 * 11;
    assert_eq!(
        flush(&mut admin).await,
        answered,
        "observe is not journaled by default"
    );

    let lines = journal_lines(&path);
    assert_eq!(lines.len() as u64, answered);
    let count = |o: JournalOutcome| lines.iter().filter(|l| l.record.outcome == o).count();
    assert_eq!(count(JournalOutcome::Applied), 40);
    assert_eq!(count(JournalOutcome::Duplicate), 5);
    assert_eq!(count(JournalOutcome::Fenced), 5);
    assert_eq!(count(JournalOutcome::Failed), 5);
    let fenced = lines
        .iter()
        .find(|l| l.record.outcome == JournalOutcome::Fenced)
        .expect("a fenced line");
    assert_eq!(
        (
            fenced.record.fence_token,
            fenced.record.highest_token,
            fenced.record.op
        ),
        (1, 2, JournalOp::Apply)
    );
    assert_eq!(fenced.record.execution_id, "e2");
    let failed = lines
        .iter()
        .find(|l| l.record.outcome == JournalOutcome::Failed)
        .expect("a failed line");
    assert!(failed.record.error.contains("--fail-sites"));
    assert!(lines
        .iter()
        .all(|l| l.record.ts_ms > 0 && l.record.environment == "shop"));
    // Per site, journal order is processing order: steps 1..=8 appear in order.
    let site0: Vec<u32> = lines
        .iter()
        .filter(|l| l.record.site == "site-0" && l.record.attempt == 1)
        .map(|l| l.record.step)
        .collect();
    assert_eq!(site0, vec![1, 2, 3, 4, 5, 6, 7, 8, 1]);
    assert_eq!(sim.sim().stats().journal_error, None);
    sim.stop().await.expect("clean stop");
}

#[tokio::test]
async fn malformed_requests_are_refused_and_change_nothing() {
    let sim = RunningSim::start(SimConfig::default())
        .await
        .expect("sitesim");
    let (mut agent, _) = clients(&sim).await;
    let mut no_key = apply_req("s1", "e1", 1, 1, 1);
    no_key.key = None;
    let mut bad_json = apply_req("s1", "e1", 1, 1, 1);
    bad_json.properties_json = "{not json".into();
    let mut no_site = apply_req("", "e1", 1, 1, 1);
    no_site.target = target("", "r");
    let mut long_site = apply_req("s1", "e1", 1, 1, 1);
    long_site.target = target(&"x".repeat(300), "r");
    for req in [no_key, bad_json, no_site, long_site] {
        let status = agent.apply(req).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
    assert_eq!(sim.sim().stats().sites, 0, "nothing was created");
    sim.stop().await.expect("clean stop");
}

#[tokio::test]
async fn the_binary_announces_its_address_and_flushes_the_journal_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let program = env!("CARGO_BIN_EXE_moor-sitesim");
    assert!(
        program.ends_with(moor_site::SITESIM_BIN),
        "harnesses find the binary by moor_site::SITESIM_BIN"
    );
    let mut child = Command::new(program)
        .args(["--listen", "127.0.0.1:0", "--seed", "3", "--journal"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moor-sitesim");
    let stdout = child.stdout.take().expect("stdout");
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reader")
    .expect("first stdout line");
    let addr = moor_site::listening_addr(&first)
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();

    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut agent = SiteAgentClient::new(channel);
    let mut sites = BTreeSet::new();
    for step in 1..=3 {
        let site = format!("s{step}");
        let r = apply(&mut agent, apply_req(&site, "e1", step, 1, 1)).await;
        assert_eq!(outcome(&r), Outcome::Applied);
        sites.insert(site);
    }

    // SAFETY: kill(2) on a child we started and have not reaped; no memory is touched.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM sent");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < TEST_CALL_BOUND,
            "moor-sitesim did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "clean exit, got {status:?}");
    let lines = journal_lines(&path);
    let journaled: BTreeSet<String> = lines.iter().map(|l| l.record.site.clone()).collect();
    assert_eq!(journaled, sites, "every answered call is in the journal");
}
