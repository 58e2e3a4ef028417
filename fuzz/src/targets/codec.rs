//! `codec`: the payloads of the Raft log and of snapshots (a version byte and MessagePack),
//! decoded as a [`Command`] and as a whole [`MoorState`], as a member does with entries and
//! snapshots it receives.
//!
//! Starts from the golden log's commands and snapshot; mutates them as MessagePack trees
//! ([`crate::msgpack`]) as well as bytes. Checked: decoding refuses instead of panicking;
//! whatever decodes encodes again, and that encoding decodes and re-encodes to the same bytes
//! (bytes, not values, so a NaN does not look like a difference); a decoded state's
//! invariant check and digest run without panicking (the check may fail: a decoded state is
//! not validated, and moord runs the check on such states in debug builds).

use moor_domain::codec;
use moor_domain::command::Command;
use moor_domain::state::MoorState;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::engine::{Pool, Target};
use crate::golden::golden;
use crate::msgpack;

pub const TARGET: Target = Target {
    name: "codec",
    about: "log commands and snapshots through the versioned MessagePack codec",
    seeds,
    generate,
    run,
};

fn seeds() -> Vec<Vec<u8>> {
    let g = golden();
    let mut seeds: Vec<Vec<u8>> = g.commands.iter().step_by(10).cloned().collect();
    seeds.push(g.snapshot.clone());
    seeds
}

fn run(input: &[u8]) -> bool {
    let mut accepted = false;
    if let Ok(command) = codec::decode::<Command>("command", input) {
        accepted = true;
        let once = codec::encode("command", &command)
            .unwrap_or_else(|e| panic!("a decoded command does not encode: {e}"));
        let back: Command = codec::decode("command", &once)
            .unwrap_or_else(|e| panic!("a re-encoded command does not decode: {e}"));
        let twice = codec::encode("command", &back).unwrap_or_else(|e| panic!("encodes: {e}"));
        assert!(once == twice, "a command changed through encode and decode");
    }
    if let Ok(state) = MoorState::decode(input) {
        accepted = true;
        let _ = state.invariants();
        let once = state
            .encode()
            .unwrap_or_else(|e| panic!("a decoded state does not encode: {e}"));
        let back = MoorState::decode(&once)
            .unwrap_or_else(|e| panic!("a re-encoded state does not decode: {e}"));
        let twice = back.encode().unwrap_or_else(|e| panic!("encodes: {e}"));
        assert!(once == twice, "a state changed through encode and decode");
        let _ = state.digest();
    }
    accepted
}

fn generate(rng: &mut SmallRng, pool: &Pool) -> Vec<u8> {
    let g = golden();
    let base = if rng.random_ratio(1, 10) {
        g.snapshot.as_slice()
    } else if rng.random_bool(0.5) {
        g.commands[rng.random_range(0..g.commands.len())].as_slice()
    } else {
        pool.pick(rng)
    };
    let Some(mut tree) = msgpack::read(base) else {
        return base.to_vec();
    };
    msgpack::mutate(rng, &mut tree, &g.dictionary);
    msgpack::write(&tree)
}
