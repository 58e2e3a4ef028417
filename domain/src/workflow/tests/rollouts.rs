//! Rollout tests: waves, caps, budget, approval, rollback, fairness, follow-up dispatches.

// Test code only (the parent declares it under `#[cfg(test)]` too).
#![cfg(test)]

use std::collections::BTreeMap;

use super::{spec_of, ApplyChecked, BP};
use crate::execution::{ExecState, RetryPolicy, StepOutcome};
use crate::kv::KvState;
use crate::rollout::Selector;
use crate::rollout::{
    FailureBudget, Group, GroupKind, RolloutAction, RolloutOp, RolloutSpec, RolloutState,
    TargetState, WavesSpec,
};
use crate::site::Driver;
use crate::site::Site;
use crate::workflow::{
    Checkpoint, CheckpointResult, WorkflowCommand, WorkflowError, WorkflowResult, WorkflowState,
};

const BP2: &str = "name: app\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: 10 }\n  - name: b\n    type: sim.resource\n    depends_on: [a]\n    properties: { v: 20 }\n";

fn world(sites: usize) -> (WorkflowState, KvState) {
    let mut w = WorkflowState::default();
    let kv = KvState::default();
    w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::PutBlueprint {
            spec: spec_of(BP),
            source: BP.into(),
            now_ms: 1,
        },
    );
    for i in 0..sites {
        let labels: crate::site::Labels = [("tier".to_string(), "edge".to_string())]
            .into_iter()
            .collect();
        let r = w.apply_checked(
            &kv,
            1,
            &WorkflowCommand::PutSite {
                site: Site {
                    name: format!("s{i:03}"),
                    region: if i % 2 == 0 { "eu" } else { "us" }.into(),
                    latitude: 0.0,
                    longitude: 0.0,
                    labels,
                    driver: Driver::Agent {
                        endpoint: "127.0.0.1:9".into(),
                    },
                },
                now_ms: 1,
            },
        );
        assert!(matches!(r, WorkflowResult::Site { .. }), "{r:?}");
    }
    for (name, kind) in [
        ("edge", GroupKind::Sites),
        ("apps", GroupKind::Environments),
    ] {
        let r = w.put_group(
            &Group {
                name: name.into(),
                kind,
                selector: Selector::default(),
                created_ms: 0,
                updated_ms: 0,
                drift: None,
            },
            1,
        );
        assert!(r.is_ok());
    }
    (w, kv)
}

fn spec(group: &str, action: RolloutAction, parallel: u32, waves: &str) -> RolloutSpec {
    RolloutSpec {
        group: group.into(),
        action,
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        max_parallel: parallel,
        waves: WavesSpec::parse(waves).unwrap(),
        require_approval: false,
        budget: FailureBudget::default(),
    }
}

fn install() -> RolloutAction {
    RolloutAction::Install {
        blueprint: "app".into(),
        revision: 0,
        inputs: Default::default(),
        environment_name: String::new(),
        labels: BTreeMap::new(),
    }
}

fn start(w: &mut WorkflowState, kv: &KvState, s: RolloutSpec) -> WorkflowResult {
    w.apply_checked(kv, 1, &WorkflowCommand::StartRollout { spec: s, now_ms: 5 })
}

fn control(w: &mut WorkflowState, kv: &KvState, id: &str, op: RolloutOp) -> WorkflowResult {
    w.apply_checked(
        kv,
        1,
        &WorkflowCommand::ControlRollout {
            id: id.into(),
            op,
            now_ms: 6,
        },
    )
}

/// Plays the executor until nothing can be dispatched: every dispatchable step is
/// dispatched and answered in one entry each round; steps of environments `fails`
/// names fail for good. Returns the most children of `rollout` seen running at once.
fn drive(w: &mut WorkflowState, kv: &KvState, rollout: &str, fails: &dyn Fn(&str) -> bool) -> u32 {
    let mut max_running = w.rollouts.rollouts[rollout].running;
    let mut now = 10;
    loop {
        now += 1;
        let ready: Vec<(String, u32)> = w
            .running
            .iter()
            .flat_map(|id| {
                w.executions[id]
                    .dispatchable(1, now)
                    .into_iter()
                    .map(move |s| (id.clone(), s))
            })
            .collect();
        if ready.is_empty() {
            return max_running;
        }
        let items = ready
            .iter()
            .map(|(execution, step)| Checkpoint::Dispatch {
                execution: execution.clone(),
                step: *step,
            })
            .collect();
        let r = w.apply_checked(
            kv,
            1,
            &WorkflowCommand::Checkpoints {
                now_ms: now,
                items,
                dispatch_budget: 0,
            },
        );
        let WorkflowResult::Checkpoints { results, .. } = r else {
            panic!("{r:?}")
        };
        let items = ready
            .iter()
            .zip(results)
            .filter_map(|((execution, step), r)| {
                let CheckpointResult::Dispatched { attempt } = r else {
                    return None;
                };
                let env = &w.executions[execution].environment;
                let s = &w.executions[execution].steps[*step as usize];
                Some(Checkpoint::Result {
                    execution: execution.clone(),
                    step: *step,
                    attempt,
                    outcome: if fails(env) {
                        StepOutcome::Failed {
                            error: "site says no".into(),
                            retryable: false,
                        }
                    } else {
                        StepOutcome::Done {
                            observed_digest: s.desired_digest.to_string(),
                        }
                    },
                })
            })
            .collect();
        w.apply_checked(
            kv,
            1,
            &WorkflowCommand::Checkpoints {
                now_ms: now,
                items,
                dispatch_budget: 0,
            },
        );
        let r = &w.rollouts.rollouts[rollout];
        max_running = max_running.max(r.running);
        assert!(r.running <= r.max_parallel, "cap exceeded: {}", r.running);
    }
}

fn rollout_id(r: &WorkflowResult) -> String {
    match r {
        WorkflowResult::Rollout { id } => id.clone(),
        other => panic!("expected a rollout, got {other:?}"),
    }
}

#[test]
fn install_rollout_runs_in_waves_at_the_cap() {
    let (mut w, kv) = world(20);
    let id = rollout_id(&start(
        &mut w,
        &kv,
        spec("edge", install(), 3, "1,25%,100%"),
    ));
    let r = &w.rollouts.rollouts[&id];
    assert_eq!(r.wave_ends, vec![1, 5, 20]);
    // The canary wave holds one target, so only one started.
    assert_eq!((r.running, r.wave), (1, 0));
    let max = drive(&mut w, &kv, &id, &|_| false);
    assert_eq!(max, 3);
    let r = &w.rollouts.rollouts[&id];
    assert_eq!(r.state, RolloutState::Succeeded);
    assert_eq!(
        (r.succeeded, r.failed, r.running, r.queued()),
        (20, 0, 0, 0)
    );
    assert_eq!(w.environments.len(), 20);
    for e in w.environments.values() {
        assert_eq!(
            e.status,
            crate::environment::EnvStatus::InSync,
            "{}",
            e.name
        );
        assert_eq!(e.labels.get("moor.rollout"), Some(&id));
        assert!(e.name.starts_with("app-s"));
    }
    assert!(w.rollouts.active.is_empty());
}

#[test]
fn budget_pauses_resume_retries_only_failed_and_rollback_reverts() {
    let (mut w, kv) = world(30);
    let id = rollout_id(&start(&mut w, &kv, spec("edge", install(), 4, "")));
    drive(&mut w, &kv, &id, &|_| false);
    // Update everything to revision 2; environments of sites 5..=12 fail.
    w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::PutBlueprint {
            spec: spec_of(BP2),
            source: BP2.into(),
            now_ms: 7,
        },
    );
    let mut s = spec(
        "apps",
        RolloutAction::Update {
            revision: None,
            inputs: None,
        },
        4,
        "",
    );
    s.budget.max_failed = Some(2);
    let up = rollout_id(&start(&mut w, &kv, s));
    let failing = |env: &str| ("app-s005".."app-s013").contains(&env);
    drive(&mut w, &kv, &up, &failing);
    let r = &w.rollouts.rollouts[&up];
    assert_eq!(r.state, RolloutState::Paused, "{r:?}");
    assert!(r.pause_reason.as_deref().unwrap().contains("budget"));
    // Paused as soon as the third failure arrived; children already running finished.
    assert!(r.failed >= 3 && r.failed <= 3 + 3, "{}", r.failed);
    assert_eq!(r.running, 0);
    assert!(r.queued() > 0, "paused before the end");
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert!(r.failures.keys().all(|k| k.contains("site says no")));
    assert_eq!(r.failures.values().sum::<u32>(), r.failed);
    let failed_execs: Vec<String> = r
        .targets
        .iter()
        .filter(|t| t.state == TargetState::Failed)
        .map(|t| t.execution.clone().unwrap())
        .collect();
    let succeeded_before = r.succeeded;
    // Resume with the sites healthy again: failed targets resume their own executions.
    assert!(matches!(
        control(&mut w, &kv, &up, RolloutOp::Resume),
        WorkflowResult::Rollout { .. }
    ));
    drive(&mut w, &kv, &up, &|_| false);
    let r = &w.rollouts.rollouts[&up];
    assert_eq!(r.state, RolloutState::Succeeded, "{r:?}");
    assert_eq!(r.succeeded, 30);
    for x in &failed_execs {
        let e = &w.executions[x];
        assert_eq!(e.state, ExecState::Succeeded);
        // Step b depends on a, which failed: a ran twice (attempt reset by resume),
        // nothing that had succeeded ran again.
        assert!(e.steps.iter().all(|s| s.attempt == 1), "{:?}", e.steps);
    }
    assert!(r.succeeded > succeeded_before);
    for e in w.environments.values() {
        assert_eq!(e.revision, 2);
    }
    // Rolling back the update takes every environment back to revision 1.
    let back = rollout_id(&control(&mut w, &kv, &up, RolloutOp::Rollback));
    assert_ne!(back, up);
    assert_eq!(
        w.rollouts.rollouts[&up].rolled_back_by.as_deref(),
        Some(back.as_str())
    );
    drive(&mut w, &kv, &back, &|_| false);
    let b = &w.rollouts.rollouts[&back];
    assert_eq!((b.state, b.succeeded), (RolloutState::Succeeded, 30));
    for e in w.environments.values() {
        assert_eq!(e.revision, 1, "{}", e.name);
    }
    // A second rollback of the same rollout is refused.
    assert!(matches!(
        control(&mut w, &kv, &up, RolloutOp::Rollback),
        WorkflowResult::Rejected(WorkflowError::FailedPrecondition(_))
    ));
}

#[test]
fn approval_between_waves_pause_and_cancel() {
    let (mut w, kv) = world(10);
    let mut s = spec("edge", install(), 2, "2,100%");
    s.require_approval = true;
    let id = rollout_id(&start(&mut w, &kv, s));
    drive(&mut w, &kv, &id, &|_| false);
    let r = &w.rollouts.rollouts[&id];
    assert_eq!(
        (r.state, r.succeeded, r.wave),
        (RolloutState::WaitingApproval, 2, 0)
    );
    assert!(matches!(
        control(&mut w, &kv, &id, RolloutOp::Resume),
        WorkflowResult::Rejected(WorkflowError::FailedPrecondition(m)) if m.contains("approve")
    ));
    control(&mut w, &kv, &id, RolloutOp::Approve);
    let r = &w.rollouts.rollouts[&id];
    assert_eq!((r.state, r.running, r.wave), (RolloutState::Running, 2, 1));
    control(&mut w, &kv, &id, RolloutOp::Pause);
    assert_eq!(w.rollouts.rollouts[&id].state, RolloutState::Paused);
    // Paused: the two running children finish, nothing new starts.
    drive(&mut w, &kv, &id, &|_| false);
    let r = &w.rollouts.rollouts[&id];
    assert_eq!((r.succeeded, r.running), (4, 0));
    control(&mut w, &kv, &id, RolloutOp::Resume);
    assert_eq!(w.rollouts.rollouts[&id].running, 2);
    control(&mut w, &kv, &id, RolloutOp::SetMaxParallel(3));
    assert_eq!(w.rollouts.rollouts[&id].running, 3);
    control(&mut w, &kv, &id, RolloutOp::Cancel);
    let r = &w.rollouts.rollouts[&id];
    assert_eq!(r.state, RolloutState::Cancelled);
    assert_eq!((r.succeeded, r.running, r.skipped), (4, 0, 6));
    assert!(w.running.is_empty(), "running children were cancelled");
    assert!(w.rollouts.active.is_empty());
}

#[test]
fn bad_rollouts_are_refused_and_change_nothing() {
    let (mut w, kv) = world(5);
    let before = w.clone();
    let update = RolloutAction::Update {
        revision: None,
        inputs: None,
    };
    for (s, want) in [
        (spec("edge", install(), 0, ""), "at least 1"),
        (spec("edge", install(), 2, "1,50%"), "do not add up"),
        (spec("edge", install(), 2, "3,2,100%"), "must grow"),
        (spec("nope", install(), 2, ""), "group nope"),
        (spec("edge", update.clone(), 2, ""), "selects sites"),
        (spec("apps", install(), 2, ""), "selects environments"),
        (spec("apps", update, 2, ""), "selects no environments"),
    ] {
        let r = start(&mut w, &kv, s);
        let WorkflowResult::Rejected(e) = r else {
            panic!("accepted: {r:?}")
        };
        assert!(e.to_string().contains(want), "{e} lacks {want}");
        assert_eq!(w, before);
    }
    // Installing twice onto the same sites would overwrite environments: refused.
    let id = rollout_id(&start(&mut w, &kv, spec("edge", install(), 5, "")));
    drive(&mut w, &kv, &id, &|_| false);
    let after = w.clone();
    let r = start(&mut w, &kv, spec("edge", install(), 5, ""));
    assert!(
        matches!(&r, WorkflowResult::Rejected(WorkflowError::FailedPrecondition(m)) if m.contains("already exist")),
        "{r:?}"
    );
    assert_eq!(w, after);
}

#[test]
fn rollouts_share_the_global_cap_fairly() {
    let (mut w, kv) = world(40);
    w.set_rollout_limits(&kv, 6, 1).unwrap();
    let mut s = spec("edge", install(), 10, "");
    s.group = "east".into();
    w.put_group(
        &Group {
            name: "east".into(),
            kind: GroupKind::Sites,
            selector: Selector {
                match_labels: [("region".to_string(), "eu".to_string())].into(),
                names: vec![],
            },
            created_ms: 0,
            updated_ms: 0,
            drift: None,
        },
        1,
    )
    .unwrap();
    let a = rollout_id(&start(&mut w, &kv, s));
    assert_eq!(w.rollouts.rollouts[&a].running, 6, "global cap");
    assert_eq!(w.rollouts.rollouts[&a].targets.len(), 20, "eu sites only");
    let mut s = spec("edge", install(), 10, "");
    if let RolloutAction::Install {
        environment_name, ..
    } = &mut s.action
    {
        *environment_name = "second-{site}".into();
    }
    let b = rollout_id(&start(&mut w, &kv, s));
    // No room yet for b; as a's children end, the freed slots alternate between them.
    assert_eq!(w.rollouts.rollouts[&b].running, 0);
    drive(&mut w, &kv, &a, &|_| false);
    assert_eq!(w.rollouts.rollouts[&a].state, RolloutState::Succeeded);
    assert_eq!(w.rollouts.rollouts[&b].state, RolloutState::Succeeded);
    let starts_b_before_a_done = w
        .executions
        .values()
        .filter(|e| e.rollout.as_deref() == Some(b.as_str()))
        .filter(|e| e.created_ms < w.rollouts.rollouts[&a].finished_ms)
        .count();
    assert!(starts_b_before_a_done > 0, "b starved until a finished");
}

#[test]
fn a_result_dispatches_the_next_step_in_the_same_entry() {
    let (mut w, kv) = world(3);
    let id = rollout_id(&start(&mut w, &kv, spec("edge", install(), 1, "")));
    let x = w.rollouts.rollouts[&id].targets[0]
        .execution
        .clone()
        .unwrap();
    let r = w.apply_checked(
        &kv,
        3,
        &WorkflowCommand::Checkpoints {
            now_ms: 20,
            items: vec![Checkpoint::Dispatch {
                execution: x.clone(),
                step: 0,
            }],
            dispatch_budget: 10,
        },
    );
    assert!(matches!(&r, WorkflowResult::Checkpoints { dispatched, .. } if dispatched.is_empty()));
    let digest = w.executions[&x].steps[0].desired_digest.clone();
    let r = w.apply_checked(
        &kv,
        3,
        &WorkflowCommand::Checkpoints {
            now_ms: 21,
            items: vec![Checkpoint::Result {
                execution: x.clone(),
                step: 0,
                attempt: 1,
                outcome: StepOutcome::Done {
                    observed_digest: digest.to_string(),
                },
            }],
            dispatch_budget: 10,
        },
    );
    let WorkflowResult::Checkpoints { dispatched, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(dispatched, vec![(x.clone(), 1, 1)]);
    let s = &w.executions[&x].steps[1];
    assert_eq!((s.fence_token, s.dispatched_ms), (3, 21));
    // Finishing the last step starts the next target and dispatches its first step.
    let digest = w.executions[&x].steps[1].desired_digest.clone();
    let r = w.apply_checked(
        &kv,
        3,
        &WorkflowCommand::Checkpoints {
            now_ms: 22,
            items: vec![Checkpoint::Result {
                execution: x.clone(),
                step: 1,
                attempt: 1,
                outcome: StepOutcome::Done {
                    observed_digest: digest.to_string(),
                },
            }],
            dispatch_budget: 10,
        },
    );
    let WorkflowResult::Checkpoints { dispatched, .. } = r else {
        panic!("{r:?}")
    };
    let next = w.rollouts.rollouts[&id].targets[1]
        .execution
        .clone()
        .unwrap();
    assert_eq!(dispatched, vec![(next, 0, 1)]);
    // A zero budget dispatches nothing by itself.
    let (mut w2, kv2) = world(1);
    let id2 = rollout_id(&start(&mut w2, &kv2, spec("edge", install(), 1, "")));
    let x2 = w2.rollouts.rollouts[&id2].targets[0]
        .execution
        .clone()
        .unwrap();
    let r = w2.apply_checked(
        &kv2,
        3,
        &WorkflowCommand::Checkpoints {
            now_ms: 20,
            items: vec![Checkpoint::Dispatch {
                execution: x2,
                step: 0,
            }],
            dispatch_budget: 0,
        },
    );
    assert!(matches!(&r, WorkflowResult::Checkpoints { dispatched, .. } if dispatched.is_empty()));
}
