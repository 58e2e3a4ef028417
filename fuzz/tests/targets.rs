//! Every target, for a bounded number of executions (not a time: tests never depend on the
//! machine's speed), so `make test` runs each generator and check and fails on any crash.

use moor_fuzz::engine::{self, Budget};
use moor_fuzz::targets::{self, proto};

/// Executions per target: a few seconds for all of them in a release build.
const EXECUTIONS: u64 = 2_000;

#[test]
fn every_target_runs_without_a_crash() {
    let mut failures = Vec::new();
    for target in targets::ALL {
        let report = engine::run(target, Budget::Executions(EXECUTIONS), 1, None);
        assert_eq!(report.executions, EXECUTIONS);
        println!(
            "{}: {} executions, {} accepted, {} unique crashes",
            target.name,
            report.executions,
            report.accepted,
            report.crashes.len()
        );
        assert!(
            report.accepted > 0,
            "{}: no input was ever accepted: its generator reaches nothing",
            target.name
        );
        for crash in report.crashes.values() {
            failures.push(format!(
                "{}: {} ({} hits)",
                target.name, crash.panic, crash.hits
            ));
        }
    }
    assert!(failures.is_empty(), "crashes:\n{}", failures.join("\n"));
}

#[test]
fn every_message_of_the_proto_files_is_fuzzed() {
    let declared: std::collections::BTreeSet<String> = proto::descriptors()
        .all_messages()
        .filter(|m| !m.is_map_entry())
        .map(|m| m.full_name().to_string())
        .collect();
    let fuzzed: std::collections::BTreeSet<String> = proto::MESSAGES
        .iter()
        .map(|m| m.full_name.to_string())
        .collect();
    assert_eq!(
        declared, fuzzed,
        "the fuzzed list must be every message the .proto files declare"
    );
    assert!(
        declared.len() > 100,
        "only {} messages: the descriptor set is incomplete",
        declared.len()
    );
}

#[test]
fn target_names_are_unique() {
    let mut names: Vec<_> = targets::ALL.iter().map(|t| t.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), targets::ALL.len());
}
