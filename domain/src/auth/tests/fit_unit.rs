//! Unit tests of `fit.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

fn put(key: &str) -> Command {
    Command::Kv(KvCommand::Put {
        key: key.into(),
        value: b"v".to_vec(),
    })
}

fn named(name: &str) -> Target {
    Target {
        name: Some(name.into()),
        ..Target::default()
    }
}

#[test]
fn the_operation_must_carry_the_command() {
    let w = WorkflowState::default();
    assert!(check(Op::VarPut, &named("k"), &put("k"), &w).is_ok());
    assert!(check(Op::VarPut, &Target::default(), &put("k"), &w).is_ok());
    let err = check(Op::VarGet, &named("k"), &put("k"), &w).unwrap_err();
    assert!(
        err.contains("stamped \"var.get\"") && err.contains("[var.put, var.put_secret]"),
        "{err}"
    );
    let observed = Command::Workflow(WorkflowCommand::Observed {
        environment: "e".into(),
        resources: Default::default(),
        now_ms: 1,
        basis: None,
    });
    assert!(check(Op::ExecutionStart, &Target::default(), &observed, &w).is_err());
}

#[test]
fn the_target_must_be_the_commands_object() {
    let w = WorkflowState::default();
    let err = check(Op::VarPut, &named("other"), &put("k"), &w).unwrap_err();
    assert!(
        err.contains("target name \"other\" is not its command's \"k\""),
        "{err}"
    );
}

#[test]
fn nested_batches_and_audited_commands_do_not_fit() {
    let w = WorkflowState::default();
    let batch = Command::Batch(vec![put("k")]);
    let err = check(Op::VarPut, &Target::default(), &batch, &w).unwrap_err();
    assert!(err.contains("carries one command"), "{err}");
}
