//! `duration`: durations as drift policies and flags write them (`30s`, `5m`, `2h`,
//! `1500ms`) through [`parse_duration_ms`].
//!
//! Checked: parsing refuses instead of panicking or overflowing; what it accepts it accepts
//! again written in milliseconds, and surrounding spaces change nothing.

use arbitrary::{Result, Unstructured};
use moor_domain::drift::parse_duration_ms;
use rand::rngs::SmallRng;
use rand::Rng;

use crate::engine::{Pool, Target};
use crate::pick;

pub const TARGET: Target = Target {
    name: "duration",
    about: "durations: parse_duration_ms",
    seeds,
    generate,
    run,
};

fn seeds() -> Vec<Vec<u8>> {
    (0u8..8).map(|i| vec![i.wrapping_mul(29); 16]).collect()
}

fn generate(rng: &mut SmallRng, _pool: &Pool) -> Vec<u8> {
    let len = rng.random_range(2..=24);
    (0..len).map(|_| rng.random()).collect()
}

fn text(u: &mut Unstructured) -> Result<String> {
    let digits = pick::string(
        u,
        &[
            "0",
            "1",
            "30",
            "1500",
            "",
            "18446744073709551615",
            "18446744073709551616",
            "5124095576030431",
            "5124095576030432",
            "١",
            "+1",
            "-1",
        ],
    )?;
    let unit = pick::string(
        u,
        &[
            "", "ms", "s", "m", "h", "d", "MS", " s", "µs", "hh", "s ", "m5",
        ],
    )?;
    let pad = pick::string(u, &["", " ", "\t", "\u{a0}"])?;
    Ok(format!("{pad}{digits}{unit}{pad}"))
}

fn run(input: &[u8]) -> bool {
    let mut u = Unstructured::new(input);
    let Ok(text) = text(&mut u) else {
        return false;
    };
    let parsed = parse_duration_ms(&text);
    assert!(
        parsed == parse_duration_ms(&format!(" {text} ")),
        "spaces around {text:?} change its meaning"
    );
    let Ok(ms) = parsed else {
        return false;
    };
    assert_eq!(
        parse_duration_ms(&format!("{ms}ms")),
        Ok(ms),
        "{text:?} is {ms} ms, but {ms}ms is not"
    );
    true
}
