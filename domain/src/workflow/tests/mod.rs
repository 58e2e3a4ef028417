//! Workflow registry tests: queues, refusals, revisions (here) and rollouts
//! ([`rollouts`]). Every command goes through [`ApplyChecked::apply_checked`], which checks
//! the whole registry's invariants after it: apply itself never panics, so the tests do the
//! checking.

// Test code only (the parent declares it under `#[cfg(test)]` too).
#![cfg(test)]

mod drift;
mod reachability;
mod restore;
mod rollouts;
mod secrets;
mod shared;

use crate::blueprint::{self, BlueprintSpec};
use crate::environment::EnvStatus;
use crate::execution::{ExecKind, ExecState, RetryPolicy, StepOutcome};
use crate::kv::KvState;
use crate::site::Driver;
use crate::site::Site;
use crate::workflow::{
    Checkpoint, CheckpointResult, WorkflowCommand, WorkflowError, WorkflowResult, WorkflowState,
};

pub(super) const BP: &str = "name: app\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: 1 }\n  - name: b\n    type: sim.resource\n    depends_on: [a]\n    properties: { v: 2 }\n";

pub(super) fn world() -> (WorkflowState, KvState) {
    let mut w = WorkflowState::default();
    let kv = KvState::default();
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::PutBlueprint {
            spec: spec_of(BP),
            source: BP.into(),
            now_ms: 1,
        },
    );
    assert!(
        matches!(r, WorkflowResult::Blueprint { revision: 1, .. }),
        "{r:?}"
    );
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::PutSite {
            site: Site {
                name: "s1".into(),
                region: "eu".into(),
                latitude: 1.0,
                longitude: 2.0,
                labels: Default::default(),
                driver: Driver::Agent {
                    endpoint: "127.0.0.1:9".into(),
                },
            },
            now_ms: 1,
        },
    );
    assert!(matches!(r, WorkflowResult::Site { created: true, .. }));
    (w, kv)
}

pub(super) fn create(w: &mut WorkflowState, kv: &KvState, name: &str) -> WorkflowResult {
    w.apply_checked(
        kv,
        1,
        &WorkflowCommand::CreateEnvironment {
            name: name.into(),
            site: "s1".into(),
            blueprint: "app".into(),
            revision: None,
            inputs: Default::default(),
            labels: Default::default(),
            retry: RetryPolicy::default(),
            now_ms: 2,
            drift: None,
        },
    )
}

/// Runs every dispatchable step of `id` to success under `term`.
pub(super) fn finish(w: &mut WorkflowState, kv: &KvState, id: &str, term: u64) {
    while let Some(step) = w.executions[id].dispatchable(term, 10).first().copied() {
        let r = w.apply_checked(
            kv,
            term,
            &WorkflowCommand::Checkpoints {
                now_ms: 10,
                items: vec![Checkpoint::Dispatch {
                    execution: id.into(),
                    step,
                }],
                dispatch_budget: 0,
            },
        );
        let WorkflowResult::Checkpoints { results: rs, .. } = r else {
            panic!("{r:?}")
        };
        let CheckpointResult::Dispatched { attempt } = rs[0] else {
            panic!("{rs:?}")
        };
        w.apply_checked(
            kv,
            term,
            &WorkflowCommand::Checkpoints {
                now_ms: 11,
                items: vec![Checkpoint::Result {
                    execution: id.into(),
                    step,
                    attempt,
                    outcome: StepOutcome::Done {
                        observed_digest: w.executions[id].steps[step as usize]
                            .desired_digest
                            .to_string(),
                    },
                }],
                dispatch_budget: 0,
            },
        );
    }
}

#[test]
fn executions_of_one_environment_queue_behind_each_other() {
    let (mut w, kv) = world();
    let WorkflowResult::Execution { id: install, state } = create(&mut w, &kv, "e1") else {
        panic!()
    };
    assert_eq!(state, ExecState::Running);
    let start = |w: &mut WorkflowState, kind| {
        w.apply_checked(
            &kv,
            1,
            &WorkflowCommand::StartExecution {
                environment: "e1".into(),
                kind,
                revision: None,
                inputs: None,
                retry: RetryPolicy::default(),
                now_ms: 3,
            },
        )
    };
    // Heal needs something installed: refused while the install has not finished.
    assert!(matches!(
        start(&mut w, ExecKind::Heal),
        WorkflowResult::Rejected(WorkflowError::FailedPrecondition(_))
    ));
    let WorkflowResult::Execution {
        id: uninstall,
        state,
    } = start(&mut w, ExecKind::Uninstall)
    else {
        panic!()
    };
    assert_eq!(state, ExecState::Queued);
    assert_eq!(w.running.len(), 1);
    assert!(w.executions[&uninstall].dispatchable(1, 10).is_empty());

    finish(&mut w, &kv, &install, 1);
    assert_eq!(w.executions[&install].state, ExecState::Succeeded);
    // The queued execution started by itself, planned against what is applied now.
    assert_eq!(
        w.environments["e1"].current_execution,
        Some(uninstall.clone())
    );
    assert_eq!(w.executions[&uninstall].steps.len(), 2);
    finish(&mut w, &kv, &uninstall, 1);
    assert_eq!(w.executions[&uninstall].state, ExecState::Succeeded);
    assert_eq!(w.environments["e1"].status, EnvStatus::Uninstalled);
    assert!(w.environments["e1"].applied.is_empty());
    assert!(w.running.is_empty());
}

#[test]
fn an_environments_executions_are_found_through_the_index_which_a_decode_rebuilds() {
    let (mut w, kv) = world();
    let mut created = std::collections::BTreeMap::<&str, Vec<String>>::new();
    // Twelve executions over two environments, so ids x1..x12 sort differently as text
    // (x10 < x2) and in creation order.
    for name in ["e1", "e2"] {
        let WorkflowResult::Execution { id, .. } = create(&mut w, &kv, name) else {
            panic!()
        };
        finish(&mut w, &kv, &id, 1);
        created.entry(name).or_default().push(id);
    }
    for i in 0..10 {
        let name = if i % 3 == 0 { "e2" } else { "e1" };
        let r = w.apply_checked(
            &kv,
            1,
            &WorkflowCommand::StartExecution {
                environment: name.into(),
                kind: ExecKind::Heal,
                revision: None,
                inputs: None,
                retry: RetryPolicy::default(),
                now_ms: 20 + i,
            },
        );
        let WorkflowResult::Execution { id, .. } = r else {
            panic!("{r:?}")
        };
        finish(&mut w, &kv, &id, 1);
        created.entry(name).or_default().push(id);
    }
    for (name, ids) in &created {
        let of: Vec<&str> = w.executions_of(name).map(|e| e.id.as_str()).collect();
        assert_eq!(&of, ids, "{name}: oldest first, as created");
        assert!(of.iter().all(|id| w.executions[*id].environment == *name));
    }
    assert_eq!(w.executions_of("nobody").count(), 0);
    // The index is not encoded: a decoded state rebuilds it, equal to the one kept live.
    let state = crate::state::MoorState {
        workflow: w.clone(),
        ..Default::default()
    };
    let decoded = crate::state::MoorState::decode(&state.encode().unwrap()).unwrap();
    assert_eq!(decoded.workflow.by_environment, w.by_environment);
    assert!(decoded.invariants().is_ok());
    // An index that disagrees with the executions is an invariant broken, named.
    let mut broken = w.clone();
    broken.by_environment.remove("e2");
    let why = broken.invariants().unwrap_err();
    assert!(why.contains("index of executions"), "{why}");
}

#[test]
fn refused_commands_change_nothing() {
    let (mut w, kv) = world();
    let before = w.clone();
    for (cmd, want) in [
        (
            WorkflowCommand::PutBlueprint {
                spec: {
                    let mut spec = spec_of(BP);
                    spec.name = "Not A Name".into();
                    spec
                },
                source: BP.into(),
                now_ms: 5,
            },
            "blueprint name",
        ),
        (
            WorkflowCommand::StartExecution {
                environment: "missing".into(),
                kind: ExecKind::Update,
                revision: None,
                inputs: None,
                retry: RetryPolicy::default(),
                now_ms: 5,
            },
            "environment missing",
        ),
        (
            WorkflowCommand::Resume {
                execution: "x99".into(),
                now_ms: 5,
            },
            "execution x99",
        ),
    ] {
        match w.apply_checked(&kv, 1, &cmd) {
            WorkflowResult::Rejected(e) => assert!(e.to_string().contains(want), "{e}"),
            other => panic!("{cmd:?} was not refused: {other:?}"),
        }
    }
    assert_eq!(w, before);

    // Unknown input and unknown site are refused before anything is created.
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::CreateEnvironment {
            name: "e2".into(),
            site: "s1".into(),
            blueprint: "app".into(),
            revision: None,
            inputs: [("nope".to_string(), serde_json::json!(1))].into(),
            labels: Default::default(),
            retry: RetryPolicy::default(),
            now_ms: 5,
            drift: None,
        },
    );
    assert!(
        matches!(r, WorkflowResult::Rejected(WorkflowError::Invalid(_))),
        "{r:?}"
    );
    assert_eq!(w, before);
}

#[test]
fn an_unchanged_blueprint_makes_no_new_revision() {
    let (mut w, kv) = world();
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::PutBlueprint {
            spec: spec_of(BP),
            source: BP.into(),
            now_ms: 9,
        },
    );
    assert_eq!(
        r,
        WorkflowResult::Blueprint {
            name: "app".into(),
            revision: 1,
            created: false
        }
    );
}

pub(super) fn spec_of(source: &str) -> BlueprintSpec {
    blueprint::parse("app.yaml", source).expect("test blueprints are valid")
}

/// Apply followed by the invariants check, for every command a test sends.
pub(super) trait ApplyChecked {
    fn apply_checked(
        &mut self,
        kv: &KvState,
        term: u64,
        command: &WorkflowCommand,
    ) -> WorkflowResult;
}

impl ApplyChecked for WorkflowState {
    fn apply_checked(
        &mut self,
        kv: &KvState,
        term: u64,
        command: &WorkflowCommand,
    ) -> WorkflowResult {
        let result = self.apply_at(kv, term, crate::feature::SUPPORTED, command);
        if let Err(broken) = self.invariants() {
            panic!("invariant broken by {command:?}: {broken}");
        }
        result
    }
}
