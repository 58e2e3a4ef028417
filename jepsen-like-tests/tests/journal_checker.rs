//! The journal checker (WF2, WF3, WF5) on journals a real sitesim wrote: a run with failures,
//! retries and a failover passes; a phantom completion and a planted lower-token acceptance
//! are found; and the WF6 negative control — sites with fencing and dedupe off — is reported,
//! which proves the checker sees the duplicates and fencing breaks it claims to check.
//!
//! The sitesim runs in this process and is called directly ([`SiteSim::mutate`]): the gRPC
//! layer changes nothing the journal records, and `moor-site`'s tests cover it.

use std::path::Path;

use moor_jepsen_like_tests::checkers::journal::{check, Check, DoneStep};
use moor_proto::site::Outcome;
use moor_site::journal::{read_journal, JournalLine, JournalRecord};
use moor_site::sim::MutateCall;
use moor_site::{SimConfig, SiteSim};

/// An apply of `res-{step}` in environment `shop` at `site`, keyed (`execution`, `step`).
fn call(site: &str, execution: &str, step: u32, attempt: u32, token: u64) -> MutateCall {
    MutateCall {
        site: site.into(),
        environment: "shop".into(),
        resource: format!("res-{step}"),
        execution_id: execution.into(),
        step,
        attempt,
        fence_token: token,
        apply: Some((
            format!(r#"{{"step":{step},"attempt":{attempt}}}"#),
            format!("digest-{execution}-{step}-{attempt}"),
        )),
    }
}

async fn answer(sim: &SiteSim, call: MutateCall) -> Outcome {
    sim.mutate(call).await.expect("answered").outcome
}

fn journal_lines(path: &Path) -> Vec<JournalLine> {
    let journal = read_journal(path).expect("journal readable");
    assert_eq!(journal.truncated_tail, None, "no torn line after a flush");
    journal.lines
}

/// Plays a leader and its successor against `sim`: dispatch every step under term 1
/// with retries after failures, then fail over: the new leader (term 2) re-dispatches every
/// step (same key, next attempt), and the deposed one sends one late dispatch under term 1.
/// Returns the steps the "leaders" recorded as done (applied or duplicate answers).
async fn leader_and_failover(sim: &SiteSim, sites: usize, steps: u32) -> Vec<DoneStep> {
    let mut tasks = Vec::new();
    for s in 0..sites {
        let sim = sim.clone();
        tasks.push(tokio::spawn(async move {
            let site = format!("site-{s:03}");
            let mut done = Vec::new();
            let mut attempts = vec![0u32; steps as usize + 1];
            for step in 1..=steps {
                loop {
                    attempts[step as usize] += 1;
                    let a = attempts[step as usize];
                    assert!(a < 100, "step never applied");
                    if answer(&sim, call(&site, "exec", step, a, 1)).await != Outcome::Failed {
                        break;
                    }
                }
            }
            for step in 1..=steps {
                loop {
                    attempts[step as usize] += 1;
                    let a = attempts[step as usize];
                    assert!(a < 200, "step never acknowledged");
                    match answer(&sim, call(&site, "exec", step, a, 2)).await {
                        Outcome::Failed => continue,
                        Outcome::Applied | Outcome::Duplicate => {
                            done.push(DoneStep {
                                execution_id: "exec".into(),
                                step,
                                site: site.clone(),
                            });
                            break;
                        }
                        other @ (Outcome::Fenced | Outcome::Unspecified) => {
                            panic!("unexpected {other:?}")
                        }
                    }
                }
            }
            // The deposed leader's late dispatch of a new step.
            answer(&sim, call(&site, "exec", steps + 1, 1, 1)).await;
            done
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.extend(t.await.expect("leader task"));
    }
    done
}

#[tokio::test]
async fn checker_passes_a_clean_run_and_finds_a_phantom_completion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let sim = SiteSim::new(SimConfig {
        seed: 5,
        failure_rate: 0.2,
        latency_ms: 1,
        latency_jitter_ms: 1,
        journal: Some(path.clone()),
        ..SimConfig::default()
    })
    .expect("sitesim");
    let mut done = leader_and_failover(&sim, 20, 5).await;
    sim.flush_journal().await.expect("flush");

    let lines = journal_lines(&path);
    let verdict = check(&lines, &done);
    assert!(verdict.is_clean(), "{verdict}");
    let s = &verdict.stats;
    assert_eq!(s.applied, 100, "each of 20 × 5 steps applied exactly once");
    assert_eq!(s.duplicate, 100, "every re-dispatch was a duplicate");
    assert_eq!(
        s.fenced, 20,
        "every late dispatch of the deposed leader was fenced"
    );
    assert!(s.failed > 0, "the failure rate produced failures");
    assert_eq!((s.sites, s.done_steps_confirmed), (20, 100));

    // A step recorded done that the site never acknowledged is a phantom completion.
    done.push(DoneStep {
        execution_id: "exec".into(),
        step: 6,
        site: "site-000".into(),
    });
    let verdict = check(&lines, &done);
    assert_eq!(verdict.violations.len(), 1, "{verdict}");
    assert_eq!(verdict.count(Check::Wf5NoPhantomCompletion), 1);
    assert_eq!(
        verdict.violations[0].lines.len(),
        1,
        "the fenced line is shown"
    );
}

#[tokio::test]
async fn negative_control_unsafe_sites_are_reported_as_wf2_and_wf3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let sim = SiteSim::new(SimConfig {
        seed: 5,
        unsafe_no_fencing_no_dedupe: true,
        journal: Some(path.clone()),
        ..SimConfig::default()
    })
    .expect("sitesim");
    let done = leader_and_failover(&sim, 4, 3).await;
    sim.flush_journal().await.expect("flush");

    let verdict = check(&journal_lines(&path), &done);
    // Every re-dispatched key applied twice; every late term-1 dispatch accepted after term 2.
    assert_eq!(
        verdict.count(Check::Wf2AtMostOnceEffect),
        4 * 3,
        "{verdict}"
    );
    assert_eq!(verdict.count(Check::Wf3MonotonicFencing), 4, "{verdict}");
    assert_eq!(verdict.count(Check::Wf5NoPhantomCompletion), 0);
    let wf2 = verdict
        .violations
        .iter()
        .find(|v| v.check == Check::Wf2AtMostOnceEffect)
        .expect("a WF2 violation");
    assert_eq!(wf2.lines.len(), 2, "both applies are shown");
    assert!(wf2.to_string().starts_with("WF2"), "{wf2}");
}

#[tokio::test]
async fn a_planted_lower_token_acceptance_is_reported_as_wf3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let sim = SiteSim::new(SimConfig {
        journal: Some(path.clone()),
        ..SimConfig::default()
    })
    .expect("sitesim");
    for (step, token) in [(1, 3), (2, 3), (3, 4)] {
        assert_eq!(
            answer(&sim, call("s1", "e1", step, 1, token)).await,
            Outcome::Applied
        );
    }
    sim.flush_journal().await.expect("flush");
    // Nothing more is written: the planted line below is the only other writer.
    drop(sim);
    assert!(check(&journal_lines(&path), &[]).is_clean());

    // Plant what a broken site would write: step 4 accepted under token 3 after token 4.
    let planted = JournalRecord {
        step: 4,
        fence_token: 3,
        ..journal_lines(&path)[0].record.clone()
    };
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str(&serde_json::to_string(&planted).expect("json"));
    text.push('\n');
    std::fs::write(&path, text).expect("write");

    let verdict = check(&journal_lines(&path), &[]);
    assert_eq!(verdict.violations.len(), 1, "{verdict}");
    let v = &verdict.violations[0];
    assert_eq!(v.check, Check::Wf3MonotonicFencing);
    assert_eq!((v.site.as_str(), v.step), ("s1", 4));
    let involved: Vec<usize> = v.lines.iter().map(|l| l.line).collect();
    assert_eq!(
        involved,
        vec![3, 4],
        "the token-4 line and the planted line"
    );
}
