//! Structure-aware mutation of the log codec's payloads: a version byte and MessagePack
//! (`moor_domain::codec`). The payload is read into a MessagePack tree ([`rmpv::Value`]), a
//! few of its nodes are changed, and it is written back, so the result is still MessagePack
//! and usually still decodes as the type it came from — with a number at its limit, a name
//! that exists elsewhere in the state, a list one item longer, an enum variant swapped for
//! another, or a subtree from another command. Byte flips almost never get that far.
//!
//! The replacements come from a [`Dictionary`] collected from real payloads (the golden log
//! and snapshot): their strings (names of sites, environments, executions; field and variant
//! names), integers and subtrees.

use rand::rngs::SmallRng;
use rand::Rng;
use rmpv::Value;

use moor_domain::codec::ENCODING_VERSION;

/// Values taken from real payloads.
#[derive(Default)]
pub struct Dictionary {
    strings: Vec<String>,
    integers: Vec<Value>,
    subtrees: Vec<Value>,
}

/// Most subtrees a dictionary keeps.
const MAX_SUBTREES: usize = 4000;
/// Subtrees larger than this many nodes are not kept (they would make every mutation huge).
const MAX_SUBTREE_NODES: usize = 64;

impl Dictionary {
    /// Collects from `trees`.
    pub fn collect<'a>(trees: impl IntoIterator<Item = &'a Value>) -> Dictionary {
        let mut d = Dictionary::default();
        for tree in trees {
            d.visit(tree);
        }
        d.strings.sort();
        d.strings.dedup();
        d.integers.dedup();
        d
    }

    fn visit(&mut self, v: &Value) -> usize {
        let nodes = match v {
            Value::String(s) => {
                if let Some(s) = s.as_str() {
                    if s.len() <= 64 {
                        self.strings.push(s.to_string());
                    }
                }
                1
            }
            Value::Integer(_) => {
                if self.integers.len() < 1000 {
                    self.integers.push(v.clone());
                }
                1
            }
            Value::Array(items) => 1 + items.iter().map(|i| self.visit(i)).sum::<usize>(),
            Value::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| self.visit(k) + self.visit(v))
                    .sum::<usize>()
            }
            _ => 1,
        };
        if nodes <= MAX_SUBTREE_NODES && self.subtrees.len() < MAX_SUBTREES {
            self.subtrees.push(v.clone());
        }
        nodes
    }

    fn string(&self, rng: &mut SmallRng) -> String {
        if self.strings.is_empty() || rng.random_ratio(1, 5) {
            return EDGE_STRINGS[rng.random_range(0..EDGE_STRINGS.len())].to_string();
        }
        self.strings[rng.random_range(0..self.strings.len())].clone()
    }

    fn subtree(&self, rng: &mut SmallRng) -> Value {
        if self.subtrees.is_empty() {
            return Value::Nil;
        }
        self.subtrees[rng.random_range(0..self.subtrees.len())].clone()
    }

    /// A subtree of the same MessagePack kind as `like` when one turns up in a few tries
    /// (it then usually still decodes as the field's type), else any.
    fn subtree_like(&self, rng: &mut SmallRng, like: &Value) -> Value {
        let kind = std::mem::discriminant(like);
        for _ in 0..16 {
            let candidate = self.subtree(rng);
            if std::mem::discriminant(&candidate) == kind {
                return candidate;
            }
        }
        self.subtree(rng)
    }
}

const EDGE_STRINGS: &[&str] = &[
    "",
    "-",
    "a",
    "é",
    "${inputs.size}",
    "${var:color}",
    "..",
    "/",
    "a/b",
    "\u{0}",
    "x x",
    "UPPER",
    "0123456789012345678901234567890123456789012345678901234567890123456789",
];

/// The MessagePack tree of a codec payload, or none if it is not one.
pub fn read(payload: &[u8]) -> Option<Value> {
    let (&version, mut rest) = payload.split_first()?;
    if version != ENCODING_VERSION {
        return None;
    }
    rmpv::decode::read_value(&mut rest).ok()
}

/// A codec payload of `tree`.
pub fn write(tree: &Value) -> Vec<u8> {
    let mut out = vec![ENCODING_VERSION];
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, tree);
    out
}

/// Applies 1 to 4 mutations (mostly one: each may make the payload undecodable) to random
/// nodes of `tree`.
pub fn mutate(rng: &mut SmallRng, tree: &mut Value, dict: &Dictionary) {
    let n = [1, 1, 1, 2, 2, 3, 4][rng.random_range(0..7)];
    for _ in 0..n {
        let count = count(tree);
        let mut k = rng.random_range(0..count);
        if let Some(node) = nth(tree, &mut k) {
            mutate_node(rng, node, dict);
        }
    }
}

fn count(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(count).sum::<usize>(),
        Value::Map(entries) => 1 + entries.iter().map(|(_, v)| count(v)).sum::<usize>(),
        _ => 1,
    }
}

/// The `k`-th node in pre-order (map values only: keys are changed through their map).
fn nth<'a>(v: &'a mut Value, k: &mut usize) -> Option<&'a mut Value> {
    if *k == 0 {
        return Some(v);
    }
    *k -= 1;
    match v {
        Value::Array(items) => items.iter_mut().find_map(|i| nth(i, k)),
        Value::Map(entries) => entries.iter_mut().find_map(|(_, v)| nth(v, k)),
        _ => None,
    }
}

fn mutate_node(rng: &mut SmallRng, node: &mut Value, dict: &Dictionary) {
    if rng.random_ratio(1, 4) {
        // Splice: a subtree from another payload, mostly of the same kind (another site in
        // a site's place, another command in a batch), now and then of any kind.
        *node = if rng.random_ratio(4, 5) {
            dict.subtree_like(rng, node)
        } else {
            dict.subtree(rng)
        };
        return;
    }
    match node {
        Value::Integer(i) => *node = integer(rng, i.as_i64(), i.as_u64(), dict),
        Value::String(_) => *node = Value::from(dict.string(rng)),
        Value::Boolean(b) => *b = !*b,
        Value::F64(_) | Value::F32(_) => {
            *node = Value::F64(
                [
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    -0.0,
                    1e308,
                    90.5,
                    -180.5,
                    0.0,
                ][rng.random_range(0..8)],
            )
        }
        Value::Binary(bytes) => {
            let n = rng.random_range(0..=16);
            *bytes = (0..n).map(|_| rng.random()).collect();
        }
        Value::Nil => *node = dict.subtree(rng),
        Value::Array(items) => mutate_array(rng, items, dict),
        Value::Map(entries) => mutate_map(rng, entries, dict),
        Value::Ext(_, _) => {}
    }
}

fn integer(
    rng: &mut SmallRng,
    signed: Option<i64>,
    unsigned: Option<u64>,
    dict: &Dictionary,
) -> Value {
    match rng.random_range(0..10) {
        0 => Value::from(0u64),
        1 => Value::from(u64::MAX),
        2 => Value::from(i64::MIN),
        3 => Value::from(-1i64),
        4 => Value::from(u64::from(u32::MAX)),
        5 => Value::from(unsigned.map_or(0, |u| u.wrapping_add(1))),
        6 => Value::from(signed.map_or(0, |s| s.wrapping_sub(1))),
        7 if !dict.integers.is_empty() => {
            dict.integers[rng.random_range(0..dict.integers.len())].clone()
        }
        _ => Value::from(rng.random_range(0..10u64)),
    }
}

fn mutate_array(rng: &mut SmallRng, items: &mut Vec<Value>, dict: &Dictionary) {
    let n = items.len();
    match rng.random_range(0..6) {
        0 if n > 0 => {
            items.remove(rng.random_range(0..n));
        }
        1 if n > 0 => {
            let copy = items[rng.random_range(0..n)].clone();
            items.insert(rng.random_range(0..=n), copy);
        }
        2 if n > 1 => items.swap(rng.random_range(0..n), rng.random_range(0..n)),
        3 => items.clear(),
        4 if n > 0 => {
            // Many copies: lists longer than any check expects.
            let copy = items[rng.random_range(0..n)].clone();
            items.extend(std::iter::repeat_n(copy, rng.random_range(1..=64)));
        }
        _ => items.insert(rng.random_range(0..=n), dict.subtree(rng)),
    }
}

fn mutate_map(rng: &mut SmallRng, entries: &mut Vec<(Value, Value)>, dict: &Dictionary) {
    let n = entries.len();
    match rng.random_range(0..5) {
        0 if n > 0 => {
            entries.remove(rng.random_range(0..n));
        }
        1 if n > 0 && rng.random_bool(0.3) => {
            // Rename a key: an unknown field, or another variant of an enum.
            let i = rng.random_range(0..n);
            entries[i].0 = Value::from(dict.string(rng));
        }
        2 if n > 0 => {
            // Repeat an entry: a duplicate field.
            let copy = entries[rng.random_range(0..n)].clone();
            entries.push(copy);
        }
        3 if n > 0 => {
            let i = rng.random_range(0..n);
            entries[i].1 = dict.subtree(rng);
        }
        _ => entries.push((Value::from(dict.string(rng)), dict.subtree(rng))),
    }
}
