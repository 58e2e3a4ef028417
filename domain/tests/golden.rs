//! Golden files: log entries and a snapshot encoded by this version, kept under
//! `domain/testdata/`, must still decode — and the entries must apply to the same state —
//! in every later version. A change that breaks them breaks every cluster's log on upgrade.
//!
//! `entries-v1.bin`: 600 entries (index, term, command) from the seeded generator (seed 7),
//! each encoded with `codec::encode` and length-prefixed; `snapshot-v1.bin`: the state after
//! applying them; `digest-v1.txt`: that state's digest. Regenerate (only when a format
//! change is deliberate and migrated) with `MOOR_GOLDEN_WRITE=1 cargo test -p moor-domain
//! --test golden`.

// A test, not apply: it may read its golden files and its seed from the environment.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::PathBuf;

use common::{Rng, World};
use moor_domain::codec;
use moor_domain::command::Command;
use moor_domain::state::MoorState;

const ENTRIES: u64 = 600;
const SEED: u64 = 7;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// The entries this version generates for the golden sequence.
fn generate() -> Vec<(u64, u64, Command)> {
    let world = World::new();
    let mut rng = Rng(SEED.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut state = MoorState::default();
    let (mut term, mut now_ms) = (1, 1_000);
    let mut entries = Vec::new();
    for index in 1..=ENTRIES {
        if rng.chance(3) {
            term += 1;
        }
        now_ms += rng.below(300);
        let command = world.command(&mut rng, &state, now_ms);
        state.apply(index, term, &command);
        entries.push((index, term, command));
    }
    entries
}

fn write_entries(entries: &[(u64, u64, Command)]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let bytes = codec::encode("golden entry", entry).expect("encodes");
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

fn read_entries(mut data: &[u8]) -> Vec<(u64, u64, Command)> {
    let mut entries = Vec::new();
    while !data.is_empty() {
        let (len, rest) = data.split_at(4);
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (bytes, rest) = rest.split_at(len);
        entries.push(codec::decode("golden entry", bytes).expect("a golden entry decodes"));
        data = rest;
    }
    entries
}

#[test]
fn golden_entries_and_snapshot_still_decode_and_apply_to_the_same_state() {
    if std::env::var_os("MOOR_GOLDEN_WRITE").is_some() {
        let entries = generate();
        let mut state = MoorState::default();
        for (index, term, command) in &entries {
            state.apply(*index, *term, command);
        }
        std::fs::write(path("entries-v1.bin"), write_entries(&entries)).unwrap();
        std::fs::write(path("snapshot-v1.bin"), state.encode().unwrap()).unwrap();
        std::fs::write(path("digest-v1.txt"), state.digest().unwrap() + "\n").unwrap();
    }
    let entries = read_entries(&std::fs::read(path("entries-v1.bin")).expect("golden entries"));
    assert_eq!(entries.len() as u64, ENTRIES);
    let want = std::fs::read_to_string(path("digest-v1.txt")).expect("golden digest");
    let mut state = MoorState::default();
    for (index, term, command) in &entries {
        state.apply(*index, *term, command);
    }
    state
        .invariants()
        .expect("the golden state holds every invariant");
    assert_eq!(
        state.digest().unwrap(),
        want.trim(),
        "the golden log applies to another state"
    );
    let snapshot = MoorState::decode(&std::fs::read(path("snapshot-v1.bin")).unwrap())
        .expect("the golden snapshot decodes");
    assert_eq!(snapshot, state, "the golden snapshot holds another state");
    // The golden sequence reaches deep states, or it proves little.
    assert!(state.workflow.executions.len() > 10);
    assert!(!state.workflow.rollouts.rollouts.is_empty());
}

/// The previous release's log (the golden entries, level 1) applied by this one with the
/// feature level raised half-way: everything before the raise is as that release computed
/// it, and level 2 only adds step attempt histories — with them taken out, the state is the
/// one level 1 computes, so the two levels never disagree about anything else.
#[test]
fn raising_the_feature_level_mid_log_only_adds_attempt_histories() {
    use moor_domain::cluster::ClusterCommand;
    use moor_domain::cluster::ClusterResult;
    use moor_domain::command::CommandResult;
    use moor_domain::execution::AttemptOutcome;
    use moor_domain::feature::{FeatureLevel, BASE};

    let entries = read_entries(&std::fs::read(path("entries-v1.bin")).expect("golden entries"));
    let (mut at_base, mut raised) = (MoorState::default(), MoorState::default());
    let half = entries.len() / 2;
    for (n, (index, term, command)) in entries.iter().enumerate() {
        if n == half {
            assert_eq!(at_base.digest().unwrap(), raised.digest().unwrap());
            let r = raised.apply(
                *index,
                *term,
                &Command::Cluster(ClusterCommand::SetFeatureLevel { level: 2 }),
            );
            assert_eq!(
                r,
                CommandResult::Cluster(ClusterResult::FeatureLevel {
                    previous: 1,
                    level: 2
                })
            );
        }
        at_base.apply(*index, *term, command);
        raised.apply(*index, *term, command);
        raised.invariants().expect("invariants hold at level 2");
    }
    assert_eq!(at_base.feature_level, BASE);
    assert_eq!(raised.feature_level, FeatureLevel(2));
    let steps = || {
        raised
            .workflow
            .executions
            .values()
            .flat_map(|e| e.steps.iter())
    };
    let kept: usize = steps().map(|s| s.attempts.len()).sum();
    assert!(kept >= 5, "level 2 kept {kept} attempts");
    assert!(steps().flat_map(|s| &s.attempts).all(|a| a.fence_token > 0));
    assert!(steps()
        .flat_map(|s| &s.attempts)
        .any(|a| a.outcome == AttemptOutcome::Succeeded));
    // A lower or equal level is refused and changes nothing.
    let before = raised.digest().unwrap();
    for level in [1, 2] {
        let r = raised.apply(
            ENTRIES + 1,
            99,
            &Command::Cluster(ClusterCommand::SetFeatureLevel { level }),
        );
        assert!(
            matches!(r, CommandResult::Cluster(ClusterResult::Refused(_))),
            "{r:?}"
        );
    }
    assert_eq!(raised.digest().unwrap(), before);
    // Without the histories and the level, level 2 computed level 1's state.
    for e in raised.workflow.executions.values_mut() {
        for s in &mut e.steps {
            s.attempts.clear();
        }
    }
    raised.feature_level = BASE;
    assert_eq!(raised.digest().unwrap(), at_base.digest().unwrap());
}
