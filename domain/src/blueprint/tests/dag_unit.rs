//! Unit tests of `dag.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;

fn graph(edges: &[(&'static str, &[&'static str])]) -> DependencyGraph {
    DependencyGraph::new(edges.iter().map(|(n, d)| (*n, d.iter().copied()))).unwrap()
}

#[test]
fn order_puts_dependencies_first_and_keeps_insertion_order_for_ties() {
    // web -> api -> db, worker -> db, cache free.
    let g = graph(&[
        ("web", &["api"]),
        ("api", &["db"]),
        ("cache", &[]),
        ("db", &[]),
        ("worker", &["db"]),
    ]);
    assert_eq!(
        g.order().unwrap(),
        vec!["cache", "db", "api", "web", "worker"]
    );
    assert_eq!(
        g.reverse_order().unwrap(),
        vec!["worker", "web", "api", "db", "cache"]
    );
    assert_eq!(g.dependents("db"), vec!["api", "worker"]);
    assert_eq!(g.dependencies("web"), vec!["api"]);
    assert!(g.cycles().is_empty());
}

#[test]
fn cycle_is_spelt_from_first_inserted_member() {
    let g = graph(&[
        ("free", &[]),
        ("a", &["b"]),
        ("b", &["c"]),
        ("c", &["a", "free"]),
    ]);
    assert_eq!(g.cycles(), vec![vec!["a", "b", "c", "a"]]);
    let err = g.order().unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle: a -> b -> c -> a");
}

#[test]
fn one_cycle_per_component_including_self_loops() {
    let g = graph(&[
        ("x", &["x"]),
        ("p", &["q"]),
        ("q", &["p", "r"]),
        ("r", &["q"]),
    ]);
    assert_eq!(g.cycles(), vec![vec!["x", "x"], vec!["p", "q", "p"]]);
}

#[test]
fn shortest_way_back_is_chosen() {
    // a -> b -> c -> d -> a and a shortcut c -> a.
    let g = graph(&[
        ("a", &["b"]),
        ("b", &["c"]),
        ("c", &["d", "a"]),
        ("d", &["a"]),
    ]);
    assert_eq!(g.cycles(), vec![vec!["a", "b", "c", "a"]]);
}

#[test]
fn unknown_and_duplicate_names_are_errors() {
    let err = DependencyGraph::new([("a", vec!["nope"])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource `a` depends on `nope`, which does not exist"
    );
    let err = DependencyGraph::new([("a", vec![]), ("a", vec![])]).unwrap_err();
    assert_eq!(err, DagError::DuplicateResource("a".into()));
}

#[test]
fn long_chains_do_not_overflow_the_stack() {
    let names: Vec<String> = (0..20_000).map(|i| format!("r{i}")).collect();
    let g = DependencyGraph::new(names.iter().enumerate().map(|(i, n)| {
        let deps: Vec<&str> = if i == 0 {
            vec![names.last().unwrap().as_str()]
        } else {
            vec![names[i - 1].as_str()]
        };
        (n.as_str(), deps)
    }))
    .unwrap();
    let cycles = g.cycles();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0].len(), 20_001);
}
