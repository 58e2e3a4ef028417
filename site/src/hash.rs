//! The one stable hash of this crate: FNV-1a over length-prefixed parts, finished with
//! splitmix64's mixer. Stable across Rust releases and platforms (unlike `std`'s
//! `DefaultHasher`) and well spread, so a digest or a seeded decision computed today is the
//! same in every later run. Used by the protocol rules (content digests, drift digests) and by
//! the simulator's dice (seeded decisions, shard choice).

/// Hashes the seed and the parts (length-prefixed, so `("ab","c")` ≠ `("a","bc")`).
pub fn stable_hash(seed: u64, parts: &[&[u8]]) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = FNV_OFFSET;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    };
    eat(&seed.to_le_bytes());
    for part in parts {
        eat(&(part.len() as u64).to_le_bytes());
        eat(part);
    }
    splitmix64(h)
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_deterministic_seeded_and_length_prefixed() {
        assert_eq!(stable_hash(1, &[b"a"]), stable_hash(1, &[b"a"]));
        assert_ne!(stable_hash(1, &[b"a"]), stable_hash(2, &[b"a"]));
        assert_ne!(
            stable_hash(1, &[b"ab", b"c"]),
            stable_hash(1, &[b"a", b"bc"])
        );
    }
}
