//! Mutations that know nothing of the input's format: the havoc stage of AFL and libFuzzer
//! (flip a bit, write an interesting number, insert, delete, duplicate or splice a range),
//! one to eight of them stacked. Targets that know their grammar add their own
//! (`targets::*::generate`); these find what a grammar would never write.

use rand::rngs::SmallRng;
use rand::Rng;

use crate::engine::Pool;

/// Values at the edges of integer types, where length and count checks go wrong.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    i64::MAX as u64,
    u64::MAX,
];

/// Applies 1 to 8 random mutations to `input`, keeping it at most `max_len` bytes.
pub fn bytes(rng: &mut SmallRng, input: &mut Vec<u8>, pool: &Pool, max_len: usize) {
    for _ in 0..rng.random_range(1..=8) {
        one(rng, input, pool);
    }
    input.truncate(max_len);
}

fn one(rng: &mut SmallRng, input: &mut Vec<u8>, pool: &Pool) {
    let len = input.len();
    match rng.random_range(0..10) {
        0 if len > 0 => {
            let i = rng.random_range(0..len);
            input[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = rng.random_range(0..len);
            input[i] = rng.random();
        }
        2 if len > 0 => {
            // An interesting number, little- or big-endian, 1 to 8 bytes wide.
            let value = INTERESTING[rng.random_range(0..INTERESTING.len())];
            let width = [1, 2, 4, 8][rng.random_range(0..4)].min(len);
            let at = rng.random_range(0..=len - width);
            let bytes = if rng.random_bool(0.5) {
                value.to_le_bytes()
            } else {
                value.to_be_bytes()
            };
            input[at..at + width].copy_from_slice(&bytes[..width]);
        }
        3 if len > 0 => {
            // Delete a range.
            let at = rng.random_range(0..len);
            let n = rng.random_range(1..=(len - at).min(64));
            input.drain(at..at + n);
        }
        4 => {
            // Insert random bytes.
            let at = rng.random_range(0..=len);
            let n = rng.random_range(1..=16);
            let fill: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            input.splice(at..at, fill);
        }
        5 if len > 0 => {
            // Duplicate a range in place (repeated structure: lists, nesting).
            let at = rng.random_range(0..len);
            let n = rng.random_range(1..=(len - at).min(256));
            let copy = input[at..at + n].to_vec();
            let to = rng.random_range(0..=len);
            input.splice(to..to, copy);
        }
        6 if len > 0 => {
            // Add to or subtract from one byte (a length off by a little).
            let i = rng.random_range(0..len);
            let delta = rng.random_range(1..=16u8);
            input[i] = if rng.random_bool(0.5) {
                input[i].wrapping_add(delta)
            } else {
                input[i].wrapping_sub(delta)
            };
        }
        7 | 8 => {
            // Splice in a range of another input of the pool.
            let other = pool.pick(rng);
            if !other.is_empty() {
                let at = rng.random_range(0..other.len());
                let n = rng.random_range(1..=(other.len() - at).min(512));
                let to = rng.random_range(0..=len);
                let end = rng.random_range(to..=len.min(to + n));
                input.splice(to..end, other[at..at + n].iter().copied());
            }
        }
        _ => {
            // Cut the tail (a truncated message).
            if len > 0 {
                input.truncate(rng.random_range(0..len));
            }
        }
    }
}
