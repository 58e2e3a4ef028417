//! A state restored from a backup: running executions become interrupted, dispatch nothing
//! until resumed, and then finish like after a failover (dispatched steps go out again).

// Test code only (the parent declares it under `#[cfg(test)]` too).
#![cfg(test)]

use super::{create, finish, world, ApplyChecked};
use crate::execution::{ExecState, StepState};
use crate::state::MoorState;
use crate::workflow::{Checkpoint, CheckpointResult, WorkflowCommand, WorkflowResult};

fn exec_id(r: &WorkflowResult) -> String {
    match r {
        WorkflowResult::Execution { id, .. } => id.clone(),
        other => panic!("{other:?}"),
    }
}

/// e1 has its first step dispatched under term 3 (in flight at backup time); e2 is done.
fn backup_state() -> (MoorState, String, String) {
    let (mut w, kv) = world();
    let e1 = exec_id(&create(&mut w, &kv, "e1"));
    let r = w.apply_checked(
        &kv,
        3,
        &WorkflowCommand::Checkpoints {
            now_ms: 10,
            items: vec![Checkpoint::Dispatch {
                execution: e1.clone(),
                step: 0,
            }],
            dispatch_budget: 0,
        },
    );
    assert!(matches!(r, WorkflowResult::Checkpoints { .. }), "{r:?}");
    let e2 = exec_id(&create(&mut w, &kv, "e2"));
    finish(&mut w, &kv, &e2, 3);
    let state = MoorState {
        kv,
        workflow: w,
        ..MoorState::default()
    };
    (state, e1, e2)
}

#[test]
fn a_restore_interrupts_running_executions_and_keeps_their_steps() {
    let (state, e1, e2) = backup_state();
    let (restored, report) = state.clone().restored("new-cluster", 40, 3).unwrap();
    assert_eq!(report.interrupted, vec![e1.clone()]);
    restored.invariants().unwrap();
    let x = &restored.workflow.executions[&e1];
    assert_eq!(x.state, ExecState::Interrupted);
    assert_eq!(x.steps[0].state, StepState::Dispatched);
    assert_eq!(x.steps[0].attempt, 1);
    assert_eq!(x.steps[0].fence_token, 3);
    assert!(restored.workflow.running.is_empty());
    assert_eq!(
        restored.workflow.executions[&e2].state,
        ExecState::Succeeded
    );
    assert_eq!(restored.cluster.id, "new-cluster");
    let from = restored.cluster.restored_from.clone().unwrap();
    assert_eq!((from.index, from.term), (40, 3));
    // Nothing else changed (but the suffix of new execution ids).
    assert!(restored.workflow.execution_suffix.starts_with("-r"));
    let mut back = restored.clone();
    back.workflow.execution_suffix.clear();
    back.workflow.executions.get_mut(&e1).unwrap().state = ExecState::Running;
    back.workflow.running.insert(e1.clone());
    back.cluster = state.cluster.clone();
    assert_eq!(back, state);
}

#[test]
fn an_interrupted_execution_dispatches_nothing_until_resumed_then_finishes() {
    let (state, e1, _) = backup_state();
    let (restored, _) = state.restored("new-cluster", 40, 3).unwrap();
    let kv = restored.kv.clone();
    let mut w = restored.workflow;
    assert!(w.executions[&e1].dispatchable(9, 100).is_empty());
    let r = w.apply_checked(
        &kv,
        9,
        &WorkflowCommand::Checkpoints {
            now_ms: 100,
            items: vec![Checkpoint::Dispatch {
                execution: e1.clone(),
                step: 0,
            }],
            dispatch_budget: 0,
        },
    );
    let WorkflowResult::Checkpoints { results, .. } = r else {
        panic!("{r:?}")
    };
    assert!(
        matches!(results[0], CheckpointResult::Rejected(_)),
        "{results:?}"
    );
    let r = w.apply_checked(
        &kv,
        9,
        &WorkflowCommand::Resume {
            execution: e1.clone(),
            now_ms: 101,
        },
    );
    assert!(
        matches!(
            r,
            WorkflowResult::Execution {
                state: ExecState::Running,
                ..
            }
        ),
        "{r:?}"
    );
    // The step in flight under the old cluster's term goes out again (same key).
    assert_eq!(w.executions[&e1].dispatchable(9, 101), vec![0]);
    finish(&mut w, &kv, &e1, 9);
    assert_eq!(w.executions[&e1].state, ExecState::Succeeded);
    assert_eq!(w.executions[&e1].steps[0].attempt, 2);
    // A new execution gets an id the old cluster never handed out.
    let WorkflowResult::Execution { id, .. } = super::create(&mut w, &kv, "e3") else {
        panic!()
    };
    assert!(
        id.starts_with("x3-r") && id.len() == "x3-r".len() + 12,
        "{id}"
    );
}

#[test]
fn an_interrupted_execution_can_be_cancelled() {
    let (state, e1, _) = backup_state();
    let (restored, _) = state.restored("new-cluster", 40, 3).unwrap();
    let kv = restored.kv.clone();
    let mut w = restored.workflow;
    let r = w.apply_checked(
        &kv,
        9,
        &WorkflowCommand::Cancel {
            execution: e1.clone(),
            now_ms: 101,
        },
    );
    assert!(
        matches!(
            r,
            WorkflowResult::Execution {
                state: ExecState::Cancelled,
                ..
            }
        ),
        "{r:?}"
    );
    assert!(w.environments["e1"].current_execution.is_none());
}

#[test]
fn a_restore_needs_a_new_valid_identity() {
    let (mut state, _, _) = backup_state();
    state.cluster.id = "old".into();
    assert!(state.clone().restored("old", 1, 1).is_err());
    assert!(state.clone().restored("", 1, 1).is_err());
    assert!(state.clone().restored("bad id!", 1, 1).is_err());
    let (restored, _) = state.restored("fresh", 1, 1).unwrap();
    assert_eq!(restored.cluster.restored_from.unwrap().cluster_id, "old");
}

#[test]
fn counts_name_every_kind() {
    let (state, _, _) = backup_state();
    let counts = state.counts();
    assert_eq!(counts["environments"], 2);
    assert_eq!(counts["executions"], 2);
    assert_eq!(counts["executions_running"], 1);
    assert_eq!(counts["sites"], 1);
    assert_eq!(counts["blueprints"], 1);
    assert_eq!(counts["variables"], 0);
}
