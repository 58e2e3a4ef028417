//! Unit tests of `execution.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

fn exec(deps: &[&[u32]]) -> Execution {
    Execution {
        id: "x1".into(),
        environment: "env".into(),
        kind: ExecKind::Install,
        state: ExecState::Running,
        steps: deps
            .iter()
            .enumerate()
            .map(|(i, d)| {
                Step::new(
                    format!("r{i}"),
                    "sim.resource",
                    StepAction::Create,
                    crate::properties::Properties::new("{}".into()),
                    format!("d{i}"),
                    d.to_vec(),
                )
            })
            .collect(),
        target_revision: Some(1),
        retry: RetryPolicy {
            max_attempts: 2,
            backoff_base_ms: 100,
            backoff_max_ms: 1000,
            step_timeout_ms: 1000,
        },
        created_ms: 0,
        started_ms: 0,
        finished_ms: 0,
        error: None,
        rollout: None,
        rollout_target: None,
        inputs: None,
    }
}

fn done() -> StepOutcome {
    StepOutcome::Done {
        observed_digest: "d".into(),
    }
}

fn failed() -> StepOutcome {
    StepOutcome::Failed {
        error: "boom".into(),
        retryable: true,
    }
}

#[test]
fn independent_steps_run_in_parallel_dependents_wait() {
    let mut e = exec(&[&[], &[], &[0, 1]]);
    assert_eq!(e.dispatchable(1, 0), vec![0, 1]);
    e.dispatch(0, 1, 0).unwrap();
    e.dispatch(1, 1, 0).unwrap();
    assert!(e.dispatch(2, 1, 0).is_err(), "dependencies not done");
    e.record(0, 1, &done(), 1).unwrap();
    assert!(e.dispatchable(1, 1).is_empty());
    e.record(1, 1, &done(), 1).unwrap();
    assert_eq!(e.dispatchable(1, 1), vec![2]);
    e.dispatch(2, 1, 1).unwrap();
    e.record(2, 1, &done(), 2).unwrap();
    assert_eq!(e.state, ExecState::Succeeded);
}

#[test]
fn a_new_term_redispatches_in_flight_steps_with_a_new_token() {
    let mut e = exec(&[&[]]);
    assert_eq!(e.dispatch(0, 3, 0).unwrap(), 1);
    assert!(
        e.dispatchable(3, 0).is_empty(),
        "same term: still in flight"
    );
    assert_eq!(e.dispatchable(4, 0), vec![0]);
    assert_eq!(e.dispatch(0, 4, 0).unwrap(), 2);
    assert_eq!(e.steps[0].fence_token, 4);
    // The deposed leader's late answer for attempt 1 is ignored.
    assert!(matches!(
        e.record(0, 1, &done(), 1),
        Err(CheckpointRejected::Stale { .. })
    ));
    e.record(0, 2, &done(), 1).unwrap();
    assert_eq!(e.state, ExecState::Succeeded);
    // A finished step is never dispatched again, whatever the term.
    assert!(e.dispatchable(9, 5).is_empty());
}

#[test]
fn a_lost_dispatch_is_dispatched_again_after_twice_the_step_timeout() {
    let mut e = exec(&[&[]]);
    e.dispatch(0, 1, 100).unwrap();
    // step_timeout_ms is 1000 in this fixture.
    assert!(e.dispatchable(1, 2099).is_empty());
    assert_eq!(e.dispatchable(1, 2100), vec![0]);
    assert_eq!(e.dispatch(0, 1, 2100).unwrap(), 2);
    e.record(0, 2, &done(), 2200).unwrap();
    assert_eq!(e.state, ExecState::Succeeded);
}

#[test]
fn retries_back_off_then_fail_and_resume_touches_only_failed_steps() {
    let mut e = exec(&[&[], &[]]);
    e.dispatch(0, 1, 0).unwrap();
    e.dispatch(1, 1, 0).unwrap();
    e.record(0, 1, &done(), 10).unwrap();
    e.record(1, 1, &failed(), 10).unwrap();
    assert_eq!(e.steps[1].state, StepState::Pending);
    assert!(e.dispatchable(1, 50).is_empty(), "backoff of 100ms");
    assert_eq!(e.dispatchable(1, 110), vec![1]);
    e.dispatch(1, 1, 110).unwrap();
    e.record(1, 2, &failed(), 120).unwrap();
    assert_eq!(e.state, ExecState::Failed);
    assert!(e.error.as_ref().unwrap().contains("r1"));

    e.resume(200).unwrap();
    assert_eq!(e.dispatchable(1, 200), vec![1], "only the failed step");
    assert_eq!(e.steps[0].state, StepState::Succeeded);
    e.dispatch(1, 1, 200).unwrap();
    e.record(1, 1, &done(), 210).unwrap();
    assert_eq!(e.state, ExecState::Succeeded);
    assert!(
        e.resume(300).is_err(),
        "cannot resume a succeeded execution"
    );
}

#[test]
fn failure_waits_for_in_flight_steps_before_failing() {
    let mut e = exec(&[&[], &[], &[0]]);
    e.dispatch(0, 1, 0).unwrap();
    e.dispatch(1, 1, 0).unwrap();
    e.record(
        1,
        1,
        &StepOutcome::Failed {
            error: "fatal".into(),
            retryable: false,
        },
        1,
    )
    .unwrap();
    assert_eq!(e.state, ExecState::Running, "step 0 still in flight");
    assert!(
        e.dispatchable(1, 1).is_empty(),
        "nothing new after a failure"
    );
    e.record(0, 1, &done(), 2).unwrap();
    assert_eq!(e.state, ExecState::Failed);
    assert!(e.dispatchable(1, 3).is_empty());
}

#[test]
fn cancel_stops_dispatch_but_records_in_flight_results() {
    let mut e = exec(&[&[], &[0]]);
    e.dispatch(0, 1, 0).unwrap();
    e.cancel(1).unwrap();
    assert!(matches!(
        e.dispatch(1, 1, 2),
        Err(CheckpointRejected::NotRunning(_))
    ));
    assert_eq!(e.steps[1].state, StepState::Skipped);
    e.record(0, 1, &done(), 3).unwrap();
    assert_eq!(e.steps[0].state, StepState::Succeeded);
    assert_eq!(e.state, ExecState::Cancelled);
    assert!(e.cancel(4).is_err());
}

fn at(term: u64, now_ms: u64) -> At {
    At {
        term,
        now_ms,
        attempts: true,
    }
}

#[test]
fn attempts_are_kept_with_their_tokens_and_outcomes() {
    let mut e = exec(&[&[]]);
    e.retry.max_attempts = 5;
    assert_eq!(e.dispatch_at(0, at(3, 10)).unwrap(), 1);
    // Leader of term 3 is gone: term 4 dispatches again, the first attempt is superseded.
    assert_eq!(e.dispatch_at(0, at(4, 20)).unwrap(), 2);
    // The deposed leader's late answer changes nothing, in the history either.
    assert!(e.record_at(0, 1, &done(), at(4, 25)).is_err());
    let long = "é".repeat(MAX_ATTEMPT_ERROR);
    let fail = StepOutcome::Failed {
        error: long.clone(),
        retryable: true,
    };
    e.record_at(0, 2, &fail, at(4, 30)).unwrap();
    assert_eq!(e.dispatch_at(0, at(4, 1000)).unwrap(), 3);
    e.record_at(0, 3, &done(), at(5, 1010)).unwrap();
    let h = &e.steps[0].attempts;
    assert_eq!(h.len(), 3);
    assert_eq!(
        (
            h[0].attempt,
            h[0].fence_token,
            &h[0].outcome,
            h[0].result_term
        ),
        (1, 3, &AttemptOutcome::Superseded, 4)
    );
    assert_eq!(
        (h[1].attempt, h[1].fence_token, h[1].finished_ms),
        (2, 4, 30)
    );
    let AttemptOutcome::Failed { error } = &h[1].outcome else {
        panic!("{:?}", h[1].outcome)
    };
    assert!(error.len() <= MAX_ATTEMPT_ERROR && long.starts_with(error.as_str()));
    assert_eq!(
        (
            h[2].attempt,
            h[2].dispatched_ms,
            &h[2].outcome,
            h[2].result_term
        ),
        (3, 1000, &AttemptOutcome::Succeeded, 5)
    );
}

#[test]
fn the_history_is_bounded_and_absent_without_the_feature() {
    let mut e = exec(&[&[]]);
    for term in 1..=(MAX_ATTEMPTS_KEPT as u64 + 5) {
        e.dispatch_at(0, at(term, 0)).unwrap();
    }
    let h = &e.steps[0].attempts;
    assert_eq!(h.len(), MAX_ATTEMPTS_KEPT);
    assert_eq!(h.last().unwrap().attempt, MAX_ATTEMPTS_KEPT as u32 + 5);
    assert_eq!(h[0].attempt, 6, "the oldest ones are dropped first");
    assert_eq!(
        h.iter()
            .filter(|a| a.outcome == AttemptOutcome::Running)
            .count(),
        1
    );

    let mut e = exec(&[&[]]);
    e.dispatch(0, 1, 0).unwrap();
    e.record(0, 1, &done(), 1).unwrap();
    assert!(e.steps[0].attempts.is_empty());
    // A step dispatched before histories were kept, answered after: nothing to end.
    let mut e = exec(&[&[]]);
    e.dispatch(0, 1, 0).unwrap();
    e.record_at(0, 1, &done(), at(1, 1)).unwrap();
    assert!(e.steps[0].attempts.is_empty());
}
