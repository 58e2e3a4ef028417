//! `waves`: wave specifications (`--waves 1,10%,100%`) through [`parse_waves`] (where a
//! rollout request arrives) and [`resolve_waves`] (inside apply, against the number of
//! targets).
//!
//! Checked: parsing refuses instead of panicking and gives one boundary per comma-separated
//! part; resolving never panics, and what it returns is a non-empty, strictly increasing list
//! of wave ends whose last is the number of targets.

use arbitrary::{Result, Unstructured};
use moor_domain::rollout::{parse_waves, resolve_waves, WavesSpec, MAX_TARGETS};
use rand::rngs::SmallRng;
use rand::Rng;

use crate::engine::{Pool, Target};
use crate::pick;

pub const TARGET: Target = Target {
    name: "waves",
    about: "wave specifications: parse_waves and resolve_waves",
    seeds,
    generate,
    run,
};

fn seeds() -> Vec<Vec<u8>> {
    (0u8..16).map(|i| vec![i.wrapping_mul(71); 48]).collect()
}

fn generate(rng: &mut SmallRng, _pool: &Pool) -> Vec<u8> {
    let len = rng.random_range(4..=96);
    (0..len).map(|_| rng.random()).collect()
}

const PARTS: &[&str] = &[
    "1",
    "10%",
    "100%",
    "50%",
    "0",
    "0%",
    "101%",
    " 5 ",
    "50 %",
    "%",
    "",
    "4294967295",
    "4294967296",
    "-1",
    "+1",
    "1.5",
    "١",
    "99%",
    "1000000",
    "2%",
];

fn spec(u: &mut Unstructured) -> Result<(String, usize)> {
    let text = pick::joined(u, 6, ",", |u| pick::string(u, PARTS))?;
    let total = if u.ratio(1, 50)? {
        u.int_in_range(0..=MAX_TARGETS)?
    } else {
        pick::number(u, &[0usize, 1, 2, 3, 7, 10, 99, 100, 101, 1000])? % (MAX_TARGETS + 1)
    };
    Ok((text, total))
}

fn run(input: &[u8]) -> bool {
    let mut u = Unstructured::new(input);
    let Ok((text, total)) = spec(&mut u) else {
        return false;
    };
    let parsed = parse_waves(&text);
    assert!(
        parsed == WavesSpec::parse(&text).map(|s| s.waves),
        "WavesSpec::parse and parse_waves disagree on {text:?}"
    );
    let Ok(waves) = parsed else {
        return false;
    };
    assert!(!waves.is_empty(), "{text:?} parsed to no wave");
    if !text.trim().is_empty() {
        assert_eq!(
            waves.len(),
            text.split(',').count(),
            "{text:?}: one wave per part"
        );
    }
    let Ok(ends) = resolve_waves(&waves, total) else {
        return false;
    };
    assert!(!ends.is_empty(), "{text:?} over {total}: no wave");
    assert!(
        ends.windows(2).all(|w| w[0] < w[1]),
        "{text:?} over {total}: {ends:?} does not grow"
    );
    assert!(ends[0] >= 1, "{text:?} over {total}: an empty first wave");
    assert_eq!(
        ends.last().copied(),
        u32::try_from(total).ok(),
        "{text:?}: the last wave is not all {total}"
    );
    true
}
