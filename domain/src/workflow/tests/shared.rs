//! Rendered properties are held once per distinct value, across environments, steps and
//! applied resources, live and after a decode; sharing changes no byte of the encoding.

use super::*;
use crate::atom::Atom;
use crate::execution::Step;
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
    all_pairs(handles, |a, b| a.same(b))
}

/// Whether `same` holds for each neighbouring pair of `items`.
fn all_pairs<T: ?Sized>(items: &[&T], same: impl Fn(&T, &T) -> bool) -> bool {
    items.windows(2).all(|pair| match pair {
        [a, b] => same(a, b),
        _ => true,
    })
}

/// `w` encoded and decoded again, checked equal and encoded to the same bytes.
fn round_trip(w: &WorkflowState) -> MoorState {
    let state = MoorState {
        workflow: w.clone(),
        ..Default::default()
    };
    let bytes = state.encode().unwrap();
    let decoded = MoorState::decode(&bytes).unwrap();
    assert_eq!(decoded, state);
    assert_eq!(decoded.encode().unwrap(), bytes);
    decoded
}

/// Environments e1, e2, e3 of one revision, each installed (its one execution finished).
fn three_installed() -> (WorkflowState, KvState) {
    let (mut w, kv) = world();
    for name in ["e1", "e2", "e3"] {
        let WorkflowResult::Execution { id, .. } = create(&mut w, &kv, name) else {
            panic!()
        };
        finish(&mut w, &kv, &id, 1);
    }
    (w, kv)
}

#[test]
fn one_revision_over_many_environments_holds_each_resources_properties_once() {
    let (mut w, kv) = three_installed();
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
    let decoded = round_trip(&w);
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

/// Every copy of resource `resource`'s name and desired digest the state holds: in steps
/// (name, desired and observed digest), applied resources (key, digest) and observed ones
/// (key, digest).
fn atoms_of<'a>(w: &'a WorkflowState, resource: &str) -> (Vec<&'a Atom>, Vec<&'a Atom>) {
    let mut names = Vec::new();
    let mut digests = Vec::new();
    for step in w.executions.values().flat_map(|e| e.steps.iter()) {
        if step.resource == resource {
            names.push(&step.resource);
            digests.push(&step.desired_digest);
            if !step.observed_digest.is_empty() {
                digests.push(&step.observed_digest);
            }
        }
    }
    for env in w.environments.values() {
        for (name, a) in env.applied.iter().filter(|(n, _)| *n == resource) {
            names.push(name);
            digests.push(&a.digest);
        }
        for (name, o) in env.observed.iter().filter(|(n, _)| *n == resource) {
            names.push(name);
            digests.extend(o.digest.as_ref());
        }
    }
    (names, digests)
}

fn one_atom(atoms: &[&Atom]) -> bool {
    all_pairs(atoms, |a, b| a.same(b))
}

#[test]
fn names_and_digests_are_held_once_live_after_observations_and_after_a_decode() {
    let (mut w, kv) = three_installed();
    let (names, digests) = atoms_of(&w, "a");
    // 3 steps, 3 applied and 3 observed resources; each step's observed digest too.
    assert_eq!((names.len(), digests.len()), (9, 12));
    assert!(one_atom(&names) && one_atom(&digests));

    // A site's report of the same digest shares it; a changed one is its own.
    let desired = digests[0].to_string();
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::Observed {
            environment: "e1".into(),
            resources: [
                ("a".to_string(), Some(desired.clone())),
                ("b".to_string(), Some("changed".to_string())),
            ]
            .into_iter()
            .collect(),
            now_ms: 40,
            basis: None,
        },
    );
    assert!(matches!(r, WorkflowResult::Observation { .. }), "{r:?}");
    let (names, digests) = atoms_of(&w, "a");
    assert!(one_atom(&names) && one_atom(&digests));
    let observed_b = &w.environments["e1"].observed.get("b").unwrap();
    assert_eq!(observed_b.digest.as_deref(), Some("changed"));

    // A decode shares them again, and the encoding is the one of plain strings.
    let decoded = round_trip(&w);
    let (names, digests) = atoms_of(&decoded.workflow, "a");
    assert_eq!((names.len(), digests.len()), (9, 12));
    assert!(one_atom(&names) && one_atom(&digests));
    assert!(!names[0].same(atoms_of(&w, "a").0[0]), "each state its own");
    assert_eq!(desired, digests[0].as_str());
}

/// Each map's properties, names and digests of resource `resource`, in steps and in applied
/// resources separately: what a decode shares before `reindex` joins them.
fn shared_within_each_map(w: &WorkflowState, resource: &str) -> bool {
    let steps: Vec<&Step> = w
        .executions
        .values()
        .flat_map(|e| e.steps.iter())
        .filter(|s| s.resource == resource)
        .collect();
    let applied: Vec<(&Atom, &crate::environment::AppliedResource)> = w
        .environments
        .values()
        .flat_map(|e| e.applied.iter().filter(|(n, _)| *n == resource))
        .collect();
    let step_properties: Vec<&Properties> = steps.iter().map(|s| &s.properties).collect();
    let step_digests: Vec<&Atom> = steps.iter().map(|s| &s.desired_digest).collect();
    let applied_names: Vec<&Atom> = applied.iter().map(|(n, _)| *n).collect();
    let applied_properties: Vec<&Properties> = applied.iter().map(|(_, a)| &a.properties).collect();
    assert_eq!((steps.len(), applied.len()), (3, 3), "{resource}");
    all_one_allocation(&step_properties)
        && one_atom(&step_digests)
        && one_atom(&applied_names)
        && all_one_allocation(&applied_properties)
}

#[test]
fn executions_and_environments_are_shared_while_they_are_decoded_not_only_after() {
    let (w, _) = three_installed();
    // Decoded without `reindex` (which `MoorState::decode` runs afterwards): the maps'
    // entries already share, in both encodings the state is written in.
    let bytes = crate::codec::encode("test", &w).unwrap();
    let packed: WorkflowState = crate::codec::decode("test", &bytes).unwrap();
    let json: WorkflowState = serde_json::from_slice(&serde_json::to_vec(&w).unwrap()).unwrap();
    for decoded in [&packed, &json] {
        // Equal but for the index `reindex` builds, which is not encoded.
        assert_eq!(crate::codec::encode("test", decoded).unwrap(), bytes);
        assert!(shared_within_each_map(decoded, "a"));
        assert!(shared_within_each_map(decoded, "b"));
    }
    // Anything but a map there is refused, saying what was expected.
    let mut value = serde_json::to_value(&w).unwrap();
    value["executions"] = serde_json::json!([1]);
    let err = serde_json::from_value::<WorkflowState>(value).unwrap_err();
    assert!(
        err.to_string().contains("a map of executions by id"),
        "{err}"
    );
}
