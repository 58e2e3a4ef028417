//! `apply`: the replicated state machine. Commands that decode are applied to a state, and
//! apply must never panic (a panic there fires on every member at the same index, and again
//! on every replay of the log).
//!
//! An input is a base-state selector byte and then commands, each a codec payload behind a
//! 4-byte little-endian length. The bases are an empty state, the state half way through
//! the golden log and the state at its end (sites, environments, executions mid-flight,
//! rollouts, receivers, sources). The generator takes golden commands, as they are or
//! mutated as MessagePack trees ([`crate::msgpack`]), so most inputs decode and reach apply
//! with names that exist in the state and numbers at their limits.
//!
//! Checked after every command, as the domain's property test does: `invariants()` holds; a
//! command refused as a whole changed nothing (a denied audited command excepted: it records
//! the denial in the audit log); a second replica applying the same commands gets the same
//! results and the same state.

use std::sync::OnceLock;

use moor_domain::codec;
use moor_domain::command::{Command, CommandResult};
use moor_domain::state::MoorState;
use moor_domain::workflow::WorkflowResult;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::engine::{Pool, Target};
use crate::golden::{frame, golden, state_after, unframe};
use crate::msgpack;

pub const TARGET: Target = Target {
    name: "apply",
    about: "decoded (and mutated) log commands applied to real states; invariants after each",
    seeds,
    generate,
    run,
};

/// A state to apply to, and the index and term of the entry that made it.
struct Base {
    state: MoorState,
    index: u64,
    term: u64,
}

fn bases() -> &'static [Base] {
    static BASES: OnceLock<Vec<Base>> = OnceLock::new();
    BASES.get_or_init(|| {
        let n = golden().entries.len();
        [0, n / 2, n]
            .into_iter()
            .map(|k| {
                let (state, index, term) = state_after(k);
                Base { state, index, term }
            })
            .collect()
    })
}

/// Most commands of one input that are applied (inputs are sequences, not whole logs).
const MAX_COMMANDS: usize = 16;

fn seeds() -> Vec<Vec<u8>> {
    let g = golden();
    // Each base with a few consecutive golden commands from the point it was taken at.
    let n = g.commands.len();
    (0..3u8)
        .flat_map(|base| {
            let from = [0, n / 2, n.saturating_sub(8)][usize::from(base)];
            (0..4).map(move |k| (base, from + k * 2))
        })
        .map(|(base, from)| {
            let mut input = vec![base];
            input.extend(frame(
                g.commands.iter().skip(from).take(3).map(Vec::as_slice),
            ));
            input
        })
        .collect()
}

/// True when the whole command was refused (every part of a batch, for a batch).
fn refused(result: &CommandResult) -> bool {
    match result {
        CommandResult::Workflow(WorkflowResult::Rejected(_)) | CommandResult::Refused(_) => true,
        CommandResult::Batch(results) => !results.is_empty() && results.iter().all(refused),
        _ => false,
    }
}

/// Whether `command` is, or holds, an audited command.
fn audited(command: &Command) -> bool {
    match command {
        Command::Audited { .. } => true,
        Command::Batch(commands) => commands.iter().any(audited),
        _ => false,
    }
}

fn run(input: &[u8]) -> bool {
    let Some((&selector, rest)) = input.split_first() else {
        return false;
    };
    let base = &bases()[usize::from(selector) % 3];
    // A new leader now and then: the term is part of what apply stamps (fence tokens).
    let mut term = base.term + u64::from(selector >> 7);
    let mut index = base.index;
    let mut a = base.state.clone();
    let mut b = base.state.clone();
    let mut applied = 0;
    for payload in unframe(rest).into_iter().take(MAX_COMMANDS) {
        let Ok(command) = codec::decode::<Command>("command", payload) else {
            continue;
        };
        index += 1;
        if payload.len() % 5 == 0 {
            term += 1;
        }
        let before = a.clone();
        let result = a.apply(index, term, &command);
        if let Err(broken) = a.invariants() {
            panic!("invariant broken at index {index} by {command:?}: {broken}");
        }
        // A denied audited command is refused and still records the denial in the audit log.
        if refused(&result) && !audited(&command) {
            assert!(
                a == before,
                "a refused command changed the state: {command:?} -> {result:?}"
            );
        }
        let again = b.apply(index, term, &command);
        assert!(
            result == again,
            "replicas disagree on the result of {command:?}"
        );
        applied += 1;
    }
    assert!(a == b, "replicas diverged");
    applied > 0
}

fn generate(rng: &mut SmallRng, pool: &Pool) -> Vec<u8> {
    let g = golden();
    let picked = pool.pick(rng);
    let from_pool: Vec<&[u8]> = picked
        .split_first()
        .map_or_else(Vec::new, |(_, r)| unframe(r));
    let mut payloads = Vec::new();
    for _ in 0..rng.random_range(1..=4) {
        let source = if !from_pool.is_empty() && rng.random_bool(0.5) {
            from_pool[rng.random_range(0..from_pool.len())]
        } else {
            g.commands[rng.random_range(0..g.commands.len())].as_slice()
        };
        let payload = match msgpack::read(source) {
            Some(mut tree) if rng.random_ratio(4, 5) => {
                msgpack::mutate(rng, &mut tree, &g.dictionary);
                msgpack::write(&tree)
            }
            _ => source.to_vec(),
        };
        payloads.push(payload);
    }
    let mut input = vec![rng.random()];
    input.extend(frame(payloads.iter().map(Vec::as_slice)));
    input
}
