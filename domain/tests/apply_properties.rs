//! Property test of the replicated apply: long random command sequences — valid, stale,
//! duplicated, out of order, naming things that do not exist — applied to fresh states.
//!
//! Asserted for every sequence:
//! - apply never panics, and the full `invariants()` check holds after every command;
//! - a command refused as a whole changes nothing (same state digest before and after);
//! - two replicas applying the same entries end with byte-identical snapshots, and so does a
//!   third that restored the first one's snapshot half way through;
//! - the same holds for sequences restored from a backup a third of the way in
//!   (`MoorState::restored`: interrupted executions, a new identity, terms above a floor).
//!
//! Seeded with a tiny xorshift generator (no dependency, the domain takes no randomness):
//! a failure prints its seed; rerun one with `MOOR_PROPERTY_SEED=<seed>`.

// A test, not apply: it may read its golden files and its seed from the environment.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{Rng, World};
use moor_domain::command::CommandResult;
use moor_domain::execution::StepState;
use moor_domain::state::MoorState;
use moor_domain::workflow::WorkflowResult;

/// Sequences per run and commands per sequence: 40 × 1,500 = 60,000 commands.
const SEQUENCES: u64 = 40;
const COMMANDS: usize = 1_500;

/// True when the whole command was refused (every part of a batch, for a batch).
fn refused(result: &CommandResult) -> bool {
    match result {
        CommandResult::Workflow(WorkflowResult::Rejected(_)) | CommandResult::Refused(_) => true,
        CommandResult::Batch(results) => !results.is_empty() && results.iter().all(refused),
        _ => false,
    }
}

struct Stats {
    commands: usize,
    refused: usize,
    executions: usize,
    steps_done: usize,
    rollouts: usize,
    interrupted: usize,
}

fn run(seed: u64) -> Stats {
    let world = World::new();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (mut a, mut b) = (MoorState::default(), MoorState::default());
    let mut c: Option<MoorState> = None;
    let mut restored_once = false;
    let (mut term, mut now_ms) = (1u64, 1_000u64);
    let mut stats = Stats {
        commands: 0,
        refused: 0,
        executions: 0,
        steps_done: 0,
        rollouts: 0,
        interrupted: 0,
    };
    for index in 1..=COMMANDS as u64 {
        // New leaders now and then; their clocks may be behind the old one's.
        if rng.chance(3) {
            term += 1;
        }
        now_ms = if rng.chance(5) {
            now_ms.saturating_sub(rng.below(500))
        } else {
            now_ms + rng.below(300)
        };
        let command = world.command(&mut rng, &a, now_ms);
        let before = a.clone();
        let result = a.apply(index, term, &command);
        if let Err(broken) = a.invariants() {
            panic!("seed {seed}: invariant broken at index {index} by {command:?}: {broken}");
        }
        if refused(&result) {
            stats.refused += 1;
            assert!(
                a == before,
                "seed {seed}: refused command at index {index} changed the state: {command:?} -> {result:?}"
            );
        }
        let again = b.apply(index, term, &command);
        assert_eq!(
            result, again,
            "seed {seed}: replicas disagree on the result at index {index}"
        );
        if let Some(c) = c.as_mut() {
            c.apply(index, term, &command);
        }
        // Every other sequence is restored from a backup once, a third of the way in or later
        // when an execution runs (both
        // replicas alike): running executions become interrupted, terms jump above a floor,
        // and the random commands that follow (resumes, cancels, checkpoints) meet them.
        if seed % 2 == 1
            && !restored_once
            && index >= COMMANDS as u64 / 3
            && !a.workflow.running.is_empty()
        {
            restored_once = true;
            let id = format!("restored-{seed}");
            let (restored, report) = a.restored(&id, index, term).expect("restores");
            stats.interrupted += report.interrupted.len();
            a = restored;
            b = b.restored(&id, index, term).expect("restores").0;
            c = c.map(|c| c.restored(&id, index, term).expect("restores").0);
            term += 1_000_000;
            if let Err(broken) = a.invariants() {
                panic!("seed {seed}: invariant broken by the restore at index {index}: {broken}");
            }
        }
        if index == COMMANDS as u64 / 2 {
            c = Some(MoorState::decode(&a.encode().expect("encodes")).expect("decodes"));
        }
        stats.commands += 1;
    }
    let bytes = a.encode().expect("encodes");
    assert_eq!(
        bytes,
        b.encode().expect("encodes"),
        "seed {seed}: replicas diverged"
    );
    assert_eq!(
        bytes,
        c.expect("restored half way").encode().expect("encodes"),
        "seed {seed}: the replica restored from a snapshot diverged"
    );
    a.invariants()
        .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    stats.executions = a.workflow.executions.len();
    stats.steps_done = a
        .workflow
        .executions
        .values()
        .flat_map(|e| &e.steps)
        .filter(|s| s.state == StepState::Succeeded)
        .count();
    stats.rollouts = a.workflow.rollouts.rollouts.len();
    stats
}

#[test]
fn random_command_sequences_never_panic_keep_invariants_and_agree() {
    let seeds: Vec<u64> = match std::env::var("MOOR_PROPERTY_SEED") {
        Ok(s) => vec![s.parse().expect("MOOR_PROPERTY_SEED is a number")],
        Err(_) => (1..=SEQUENCES).collect(),
    };
    let mut total = Stats {
        commands: 0,
        refused: 0,
        executions: 0,
        steps_done: 0,
        rollouts: 0,
        interrupted: 0,
    };
    for seed in seeds {
        let s = std::panic::catch_unwind(|| run(seed))
            .unwrap_or_else(|_| panic!("seed {seed} failed: rerun with MOOR_PROPERTY_SEED={seed}"));
        total.commands += s.commands;
        total.refused += s.refused;
        total.executions += s.executions;
        total.steps_done += s.steps_done;
        total.rollouts += s.rollouts;
        total.interrupted += s.interrupted;
    }
    println!(
        "commands {} (refused {}), executions {}, steps succeeded {}, rollouts {}, interrupted by restores {}",
        total.commands,
        total.refused,
        total.executions,
        total.steps_done,
        total.rollouts,
        total.interrupted
    );
    // The generator must reach deep states, or the property says little.
    assert!(
        total.executions > 100,
        "too few executions: {}",
        total.executions
    );
    assert!(
        total.steps_done > 100,
        "too few steps succeeded: {}",
        total.steps_done
    );
    assert!(total.rollouts > 10, "too few rollouts: {}", total.rollouts);
    assert!(
        total.interrupted > 10,
        "too few executions interrupted by restores: {}",
        total.interrupted
    );
    assert!(
        total.refused > 100 && total.refused < total.commands,
        "refusals {}",
        total.refused
    );
}
