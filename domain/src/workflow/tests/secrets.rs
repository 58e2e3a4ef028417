//! `ResealInputs`: a sealed input moves to another key and nothing else changes; anything
//! that would change a secret (or is not one) is refused with the state untouched.

// Test code only (the parent declares it under `#[cfg(test)]` too).
#![cfg(test)]

use std::collections::BTreeMap;

use serde_json::json;

use super::{spec_of, world, ApplyChecked};
use crate::execution::RetryPolicy;
use crate::sealed;
use crate::workflow::{WorkflowCommand, WorkflowResult};

fn token(key: &str, fp: char, payload: &str) -> String {
    sealed::format(key, &fp.to_string().repeat(32), payload)
}

#[test]
fn a_reseal_moves_values_to_the_new_key_and_refuses_any_other_change() {
    let (mut w, kv) = world();
    let bp = "name: db\ninputs:\n  pw: { type: string, secret: true }\n  n: { type: number }\n\
              resources:\n  - name: a\n    type: sim.resource\n    properties: { p: \"${inputs.pw}\" }\n";
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::PutBlueprint {
            spec: spec_of(bp),
            source: bp.into(),
            now_ms: 1,
        },
    );
    assert!(matches!(r, WorkflowResult::Blueprint { .. }), "{r:?}");
    let old = token("k-old", 'a', "b2xk");
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::CreateEnvironment {
            name: "e1".into(),
            site: "s1".into(),
            blueprint: "db".into(),
            revision: None,
            inputs: [("pw".to_string(), json!(old)), ("n".to_string(), json!(1))].into(),
            labels: Default::default(),
            retry: RetryPolicy::default(),
            now_ms: 2,
            drift: None,
        },
    );
    assert!(matches!(r, WorkflowResult::Execution { .. }), "{r:?}");
    let reseal = |replace: BTreeMap<String, String>| WorkflowCommand::ResealInputs {
        environment: "e1".into(),
        replace,
        now_ms: 5,
    };
    // Refused, state untouched: another fingerprint (would change the secret), not a
    // token, nothing to do, an unknown environment.
    let before = w.clone();
    for bad in [
        [(old.clone(), token("k-new", 'b', "bmV3"))].into(),
        [("plain".to_string(), token("k-new", 'a', "bmV3"))].into(),
        BTreeMap::new(),
    ] {
        let r = w.apply_checked(&kv, 1, &reseal(bad));
        assert!(matches!(r, WorkflowResult::Rejected(_)), "{r:?}");
        assert_eq!(w, before);
    }
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::ResealInputs {
            environment: "nope".into(),
            replace: [(old.clone(), token("k-new", 'a', "bmV3"))].into(),
            now_ms: 5,
        },
    );
    assert!(matches!(r, WorkflowResult::Rejected(_)), "{r:?}");
    assert_eq!(w, before);
    // The same fingerprint under a new key: replaced, other inputs as they were.
    let new = token("k-new", 'a', "bmV3");
    let r = w.apply_checked(&kv, 1, &reseal([(old.clone(), new.clone())].into()));
    assert!(matches!(r, WorkflowResult::Done), "{r:?}");
    let env = &w.environments["e1"];
    assert_eq!(env.inputs["pw"], json!(new));
    assert_eq!(env.inputs["n"], json!(1));
    assert_eq!(
        env.current_execution,
        before.environments["e1"].current_execution
    );
    assert_eq!(
        w.executions, before.executions,
        "no execution starts or changes"
    );
}
