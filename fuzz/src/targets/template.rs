//! `template`: the reference syntax inside blueprint strings (`${inputs.NAME}`,
//! `${var:KEY}`, `$${` for a literal) through [`parse_template`].
//!
//! Checked against the documented contract: an error's offset is in the text, on a character
//! boundary, at a `${`; segments never hold two texts in a row or an empty text; an input
//! reference names an identifier; a variable key is not empty and has no whitespace.

use arbitrary::Unstructured;
use moor_domain::blueprint::template::{is_identifier, parse_template, Segment};
use rand::rngs::SmallRng;
use rand::Rng;

use crate::engine::{Pool, Target};
use crate::pick;

pub const TARGET: Target = Target {
    name: "template",
    about: "references in blueprint strings: parse_template",
    seeds,
    generate,
    run,
};

fn seeds() -> Vec<Vec<u8>> {
    (0u8..8).map(|i| vec![i.wrapping_mul(41); 32]).collect()
}

fn generate(rng: &mut SmallRng, _pool: &Pool) -> Vec<u8> {
    let len = rng.random_range(2..=64);
    (0..len).map(|_| rng.random()).collect()
}

const PIECES: &[&str] = &[
    "${inputs.size}",
    "${inputs.a_1}",
    "${inputs.}",
    "${inputs.A}",
    "${inputs.1a}",
    "${var:color}",
    "${var:a/b}",
    "${var:}",
    "${var: x}",
    "${var:a\tb}",
    "${input.x}",
    "${",
    "$${",
    "$$${",
    "$",
    "}",
    "{",
    "${}",
    "${var:${x}",
    "text",
    " ",
    "é",
    "\u{1F600}",
    "${inputs.size",
    "$${inputs.size}",
];

fn run(input: &[u8]) -> bool {
    let mut u = Unstructured::new(input);
    let Ok(text) = pick::joined(&mut u, 8, "", |u| pick::string(u, PIECES)) else {
        return false;
    };
    check(&text);
    true
}

fn check(text: &str) {
    match parse_template(text) {
        Err(e) => {
            assert!(
                text.is_char_boundary(e.offset),
                "offset {} of {text:?} is inside a character",
                e.offset
            );
            assert!(
                text.get(e.offset..)
                    .is_some_and(|rest| rest.starts_with("${")),
                "offset {} of {text:?} is not at a reference",
                e.offset
            );
        }
        Ok(segments) => {
            for pair in segments.windows(2) {
                assert!(
                    !matches!(pair, [Segment::Text(_), Segment::Text(_)]),
                    "{text:?}: two texts in a row: {segments:?}"
                );
            }
            for s in &segments {
                match s {
                    Segment::Text(t) => assert!(!t.is_empty(), "{text:?}: an empty text"),
                    Segment::Input(name) => {
                        assert!(is_identifier(name), "{text:?}: input {name:?}")
                    }
                    Segment::Var(key) => assert!(
                        !key.is_empty() && !key.chars().any(char::is_whitespace),
                        "{text:?}: variable {key:?}"
                    ),
                }
            }
        }
    }
}
