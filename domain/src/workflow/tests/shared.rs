//! Rendered properties are held once per distinct value, across environments, steps and
//! applied resources, live and after a decode; sharing changes no byte of the encoding.

use super::*;
use crate::properties::Properties;
use crate::state::MoorState;

/// Every properties handle of resource `resource`: in each execution's steps that create
/// or modify it, and in each environment's applied resources.
fn handles_of<'a>(w: &'a WorkflowState, resource: &str) -> Vec<&'a Properties> {
    let steps = w.executions.values().flat_map(|e| {
        e.steps
            .iter()
            .filter(move |s| s.resource == resource && !s.properties.is_null())
            .map(|s| &s.properties)
    });
    let applied = w
        .environments
        .values()
        .filter_map(move |e| e.applied.get(resource))
        .map(|a| &a.properties);
    steps.chain(applied).collect()
}

fn all_one_allocation(handles: &[&Properties]) -> bool {
    handles.windows(2).all(|pair| match pair {
        [a, b] => a.same(b),
        _ => true,
    })
}

#[test]
fn one_revision_over_many_environments_holds_each_resources_properties_once() {
    let (mut w, kv) = world();
    for name in ["e1", "e2", "e3"] {
        let WorkflowResult::Execution { id, .. } = create(&mut w, &kv, name) else {
            panic!()
        };
        finish(&mut w, &kv, &id, 1);
    }
    for resource in ["a", "b"] {
        let handles = handles_of(&w, resource);
        assert_eq!(handles.len(), 6, "3 steps and 3 applied resources");
        assert!(all_one_allocation(&handles), "{resource}");
    }
    let a = handles_of(&w, "a")[0].clone();
    let b = handles_of(&w, "b")[0].clone();
    assert!(!a.same(&b));
    assert_eq!(*a, serde_json::json!({"v": 1}));

    // An uninstall's deletes carry null, and the others keep what they share.
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::StartExecution {
            environment: "e1".into(),
            kind: ExecKind::Uninstall,
            revision: None,
            inputs: None,
            retry: RetryPolicy::default(),
            now_ms: 30,
        },
    );
    let WorkflowResult::Execution { id, .. } = r else {
        panic!("{r:?}")
    };
    finish(&mut w, &kv, &id, 1);
    assert!(w.executions[&id]
        .steps
        .iter()
        .all(|s| s.properties.is_null()));
    assert!(all_one_allocation(&handles_of(&w, "a")));

    // A decode holds every value once again, and the bytes are the same either way.
    let state = MoorState {
        workflow: w.clone(),
        ..Default::default()
    };
    let bytes = state.encode().unwrap();
    let decoded = MoorState::decode(&bytes).unwrap();
    assert_eq!(decoded, state);
    assert_eq!(decoded.encode().unwrap(), bytes);
    for resource in ["a", "b"] {
        let handles = handles_of(&decoded.workflow, resource);
        assert_eq!(
            handles.len(),
            5,
            "{resource}: 3 install steps, 2 still applied"
        );
        assert!(all_one_allocation(&handles), "{resource}");
    }
    // Each value once per state: the decoded one is its own, not the live one's.
    assert!(!handles_of(&decoded.workflow, "a")[0].same(&a));
}
