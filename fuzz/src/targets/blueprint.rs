//! `blueprint`: blueprint YAML, as `moorctl blueprint apply` and Git sources send it, through
//! [`blueprint::parse`] and, when it parses, [`blueprint::render`].
//!
//! Inputs are text. Besides the generic byte mutations, two generators know the grammar:
//! one writes whole blueprints from parts (inputs of every type with right and wrong
//! defaults, resources of every type, `depends_on` forwards, backwards and in cycles,
//! properties and outputs full of references), the other edits an accepted blueprint line by
//! line (drop, repeat, swap, re-indent, splice from another, replace a value or a name).
//!
//! Checked: parsing returns diagnostics instead of panicking, at most the cap plus one;
//! a parsed spec has a dependency order over all its resources and survives the log codec;
//! rendering it (with inputs and variables chosen from the text's hash, so a replay renders
//! the same) never panics, is deterministic, gives every resource the digest of its
//! properties, and never shows a secret input's value in an error or in a redacted copy.

use std::collections::BTreeMap;

use moor_domain::blueprint::dag::DependencyGraph;
use moor_domain::blueprint::parse::MAX_DIAGNOSTICS;
use moor_domain::blueprint::{self, BlueprintSpec, InputType};
use moor_domain::codec;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::engine::{fnv64, Pool, Target};

pub const TARGET: Target = Target {
    name: "blueprint",
    about: "blueprint YAML through parse and render",
    seeds,
    generate,
    run,
};

/// The repository's example blueprints and a few that use what they do not.
pub const EXAMPLES: [&str; 7] = [
    include_str!("../../../examples/blueprints/hello.yaml"),
    include_str!("../../../examples/blueprints/motd.yaml"),
    include_str!("../../../examples/blueprints/webshop.yaml"),
    include_str!("../../../examples/blueprints/edge-stack.yaml"),
    "name: app\ninputs:\n  size: { type: number, default: 1 }\n  tags: { type: map, default: { a: 1 } }\n  on: { type: bool }\nresources:\n  - name: a\n    type: sim.resource\n    properties: { v: \"${inputs.size}\", t: \"${inputs.tags}\", o: \"x-${inputs.on}\" }\n  - name: b\n    type: kubernetes.manifest\n    depends_on: [a]\n    properties:\n      apiVersion: v1\n      kind: ConfigMap\n      data: { w: \"${var:color}\", lit: \"$${HOME}\" }\noutputs:\n  size: \"${inputs.size}\"\n",
    "name: cmd\ninputs:\n  token: { type: string, secret: true, default: \"${var:cmd/token}\" }\n  ports: { type: list, default: [80, 443] }\nresources:\n  - name: run\n    type: agent.command\n    properties:\n      apply: [\"sh\", \"-c\", \"echo ${inputs.token} > /tmp/t\"]\n      delete: [\"rm\", \"/tmp/t\"]\n      observe: [\"cat\", \"/tmp/t\"]\n      ports: \"${inputs.ports}\"\noutputs:\n  token: \"${inputs.token}\"\n  both: \"${inputs.token}:${inputs.ports}\"\n",
    "name: x\nresources:\n  - name: x\n    type: sim.resource\n    properties: {}\n",
];

fn seeds() -> Vec<Vec<u8>> {
    EXAMPLES.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// The marker a secret input's value carries: it must never reach an error or a redacted
/// rendering.
const SECRET_MARK: &str = "MOOR-FUZZ-SECRET";

fn run(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    match blueprint::parse("fuzz.yaml", &text) {
        Err(diagnostics) => {
            assert!(
                !diagnostics.is_empty(),
                "a refused blueprint without a diagnostic"
            );
            assert!(
                diagnostics.len() <= MAX_DIAGNOSTICS + 1,
                "{} diagnostics, more than the cap of {MAX_DIAGNOSTICS} and a count",
                diagnostics.len()
            );
            let _ = blueprint::format_diagnostics(&diagnostics);
            false
        }
        Ok(spec) => {
            check_spec(&spec);
            let mut rng = SmallRng::seed_from_u64(fnv64(text.as_bytes()));
            for _ in 0..3 {
                check_render(&spec, &mut rng);
            }
            true
        }
    }
}

fn check_spec(spec: &BlueprintSpec) {
    let graph = DependencyGraph::new(
        spec.resources
            .iter()
            .map(|r| (r.name.as_str(), r.depends_on.iter().map(String::as_str))),
    )
    .unwrap_or_else(|e| panic!("a parsed blueprint has a broken dependency graph: {e}"));
    let order = graph
        .order()
        .unwrap_or_else(|e| panic!("a parsed blueprint has no dependency order: {e}"));
    assert_eq!(
        order.len(),
        spec.resources.len(),
        "the order misses resources"
    );
    let bytes = codec::encode("spec", spec).unwrap_or_else(|e| panic!("spec encodes: {e}"));
    let back: BlueprintSpec =
        codec::decode("spec", &bytes).unwrap_or_else(|e| panic!("spec decodes: {e}"));
    assert!(&back == spec, "a spec changed through the log codec");
}

fn check_render(spec: &BlueprintSpec, rng: &mut SmallRng) {
    let inputs = render_inputs(spec, rng);
    let var_seed: u64 = rng.random();
    let lookup = move |key: &str| -> Option<String> {
        let choice = (fnv64(key.as_bytes()) ^ var_seed) % 8;
        match choice {
            0 => None,
            1 => Some("3".into()),
            2 => Some("true".into()),
            3 => Some("[1, \"two\"]".into()),
            4 => Some("{\"a\": {\"b\": null}}".into()),
            5 => Some("${inputs.size}".into()),
            6 => Some("not json {".into()),
            _ => Some(String::new()),
        }
    };
    let first = blueprint::render(spec, &inputs, &lookup);
    let second = blueprint::render(spec, &inputs, &lookup);
    assert!(first == second, "render is not deterministic");
    match first {
        Err(errors) => {
            assert!(!errors.is_empty(), "render failed without an error");
            for e in &errors {
                assert!(
                    !e.contains(SECRET_MARK),
                    "a render error shows a secret: {e}"
                );
            }
        }
        Ok(rendered) => {
            assert_eq!(rendered.resources.len(), spec.resources.len());
            for r in &spec.resources {
                let out = rendered
                    .resources
                    .get(&r.name)
                    .unwrap_or_else(|| panic!("resource {} not rendered", r.name));
                assert_eq!(
                    out.digest,
                    blueprint::digest(&out.resource_type, &out.properties)
                );
                assert_eq!(out.depends_on, r.depends_on);
            }
            assert!(rendered.outputs.keys().eq(spec.outputs.keys()));
            let shown = serde_json::to_string(&rendered.redacted()).unwrap_or_default();
            assert!(
                !shown.contains(SECRET_MARK),
                "a redacted rendering shows a secret: {shown}"
            );
        }
    }
}

/// Inputs for one rendering: each declared input left to its default, given a value of its
/// type, of another type, or (for a secret) a value carrying [`SECRET_MARK`]; now and then
/// an undeclared one.
fn render_inputs(spec: &BlueprintSpec, rng: &mut SmallRng) -> BTreeMap<String, Value> {
    let mut inputs = BTreeMap::new();
    for (name, input) in &spec.inputs {
        let value = match rng.random_range(0..4) {
            0 => continue,
            1 if input.secret => secret_value(input.input_type),
            1 | 2 => value_of(input.input_type, rng),
            _ => value_of(InputType::ALL[rng.random_range(0..5)], rng),
        };
        // A value of another type may still carry a secret: it must not show in the error.
        let value = if input.secret && rng.random_bool(0.5) {
            secret_value(InputType::ALL[rng.random_range(0..5)])
        } else {
            value
        };
        inputs.insert(name.clone(), value);
    }
    if rng.random_ratio(1, 6) {
        inputs.insert("undeclared_input".into(), json!("x"));
    }
    inputs
}

fn secret_value(t: InputType) -> Value {
    match t {
        InputType::String => json!(format!("{SECRET_MARK}-s")),
        InputType::List => json!([format!("{SECRET_MARK}-l"), 1]),
        InputType::Map => json!({ "k": format!("{SECRET_MARK}-m") }),
        InputType::Number => json!(7),
        InputType::Bool => json!(true),
    }
}

fn value_of(t: InputType, rng: &mut SmallRng) -> Value {
    match t {
        InputType::String => {
            json!(["", "v", "${inputs.size}", "$${x}", "é"][rng.random_range(0..5)])
        }
        InputType::Number => json!([0.0, -1.0, 1e300, 0.5, 42.0][rng.random_range(0..5)]),
        InputType::Bool => json!(rng.random_bool(0.5)),
        InputType::List => {
            let lists = [json!([]), json!([1]), json!(["a", {"b": [null]}])];
            lists[rng.random_range(0..3)].clone()
        }
        InputType::Map => {
            let maps = [
                json!({}),
                json!({"a": 1}),
                json!({"n": {"m": ["${var:k}"]}}),
            ];
            maps[rng.random_range(0..3)].clone()
        }
    }
}

fn generate(rng: &mut SmallRng, pool: &Pool) -> Vec<u8> {
    if rng.random_bool(0.4) {
        return grammar(rng).into_bytes();
    }
    let base = String::from_utf8_lossy(pool.pick(rng)).into_owned();
    let other = String::from_utf8_lossy(pool.pick(rng)).into_owned();
    let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
    let donor: Vec<&str> = other.lines().collect();
    for _ in 0..rng.random_range(1..=4) {
        edit_lines(rng, &mut lines, &donor);
    }
    let mut text = lines.join("\n");
    if rng.random_bool(0.9) {
        text.push('\n');
    }
    text.into_bytes()
}

/// Scalars and fragments that have broken YAML loaders and template parsers before.
const TOKENS: &[&str] = &[
    "${inputs.size}",
    "${inputs.token}",
    "${inputs.missing}",
    "${inputs.}",
    "${inputs.Size}",
    "${var:color}",
    "${var:}",
    "${var: x}",
    "${input.x}",
    "${",
    "$${",
    "$$${inputs.size}",
    "}",
    "\"",
    "'",
    "{",
    "[",
    "]",
    "- ",
    ": ",
    "? ",
    "&a ",
    "*a",
    "<<: *a",
    "!!binary ",
    "!tag ",
    "|",
    ">-",
    "---",
    "...",
    "#",
    "%YAML 1.2",
    "~",
    "null",
    "yes",
    ".nan",
    "-.inf",
    "1e999",
    "-0",
    "0x1F",
    "0o17",
    "18446744073709551616",
    "-9223372036854775809",
    "\t",
    "\u{feff}",
    "\u{0}",
    "é",
    "\u{1F600}",
    "\\",
];

fn token(rng: &mut SmallRng) -> &'static str {
    TOKENS[rng.random_range(0..TOKENS.len())]
}

fn edit_lines(rng: &mut SmallRng, lines: &mut Vec<String>, donor: &[&str]) {
    let n = lines.len();
    match rng.random_range(0..9) {
        0 if n > 0 => {
            lines.remove(rng.random_range(0..n));
        }
        1 if n > 0 => {
            let i = rng.random_range(0..n);
            let copy = lines[i].clone();
            lines.insert(rng.random_range(0..=n), copy);
        }
        2 if n > 1 => {
            let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
            lines.swap(a, b);
        }
        3 if !donor.is_empty() => {
            let line = donor[rng.random_range(0..donor.len())].to_string();
            lines.insert(rng.random_range(0..=n), line);
        }
        4 if n > 0 => {
            // Re-indent: YAML's structure is its indentation.
            let i = rng.random_range(0..n);
            if rng.random_bool(0.5) {
                lines[i].insert_str(0, ["  ", " ", "\t", "    "][rng.random_range(0..4)]);
            } else {
                let trimmed = lines[i].trim_start().to_string();
                let keep = lines[i].len() - trimmed.len();
                let indent = keep.saturating_sub(2);
                lines[i] = format!("{}{trimmed}", " ".repeat(indent));
            }
        }
        5 if n > 0 => {
            // Replace the value after `key:` with a generated one.
            let i = rng.random_range(0..n);
            if let Some(at) = lines[i].find(": ") {
                lines[i].truncate(at + 2);
                let value = scalar(rng);
                lines[i].push_str(&value);
            }
        }
        6 if n > 0 => {
            // Insert a token at a character boundary.
            let i = rng.random_range(0..n);
            let bounds: Vec<usize> = lines[i]
                .char_indices()
                .map(|(b, _)| b)
                .chain([lines[i].len()])
                .collect();
            let at = bounds[rng.random_range(0..bounds.len())];
            let t = token(rng);
            lines[i].insert_str(at, t);
        }
        7 if n > 0 => {
            // Rename: a name used in depends_on or a reference now names something else.
            let i = rng.random_range(0..n);
            let from = [
                "a", "b", "app", "db", "network", "size", "message", "config",
            ][rng.random_range(0..8)];
            let to = ["a", "b", "x", "app", "", "A", "a-b", "a_b", "1"][rng.random_range(0..9)];
            lines[i] = lines[i].replace(from, to);
        }
        _ => {
            // A whole generated line.
            let line = format!(
                "{}{}: {}",
                " ".repeat(rng.random_range(0..8)),
                key(rng),
                scalar(rng)
            );
            lines.insert(rng.random_range(0..=n), line);
        }
    }
}

fn key(rng: &mut SmallRng) -> String {
    const KEYS: &[&str] = &[
        "name",
        "type",
        "default",
        "secret",
        "description",
        "inputs",
        "resources",
        "outputs",
        "depends_on",
        "properties",
        "nmae",
        "Type",
        "path",
        "content",
        "apply",
        "size",
        "a",
        "",
    ];
    KEYS[rng.random_range(0..KEYS.len())].to_string()
}

/// A YAML value written inline: a scalar, a reference, or a small flow collection.
fn scalar(rng: &mut SmallRng) -> String {
    match rng.random_range(0..12) {
        0 => token(rng).to_string(),
        1 => format!("\"{}\"", reference(rng)),
        2 => format!("\"prefix {} suffix {}\"", reference(rng), reference(rng)),
        3 => ["true", "false", "0", "-1", "1.5", "null", "''", "\"\""][rng.random_range(0..8)]
            .to_string(),
        4 => format!("[{}, {}]", scalar_simple(rng), scalar_simple(rng)),
        5 => format!(
            "{{ a: {}, b: [{}] }}",
            scalar_simple(rng),
            scalar_simple(rng)
        ),
        6 => ["string", "number", "bool", "list", "map", "int", ""][rng.random_range(0..7)]
            .to_string(),
        7 => [
            "sim.resource",
            "kubernetes.manifest",
            "agent.file",
            "agent.service",
            "agent.command",
            "k8s.manifest",
        ][rng.random_range(0..6)]
        .to_string(),
        8 => format!("[{}]", resource_name(rng)),
        9 => "x".repeat(rng.random_range(0..300)),
        10 => format!("{}", rng.random::<i64>()),
        _ => scalar_simple(rng),
    }
}

fn scalar_simple(rng: &mut SmallRng) -> String {
    [
        "1",
        "a",
        "\"${inputs.size}\"",
        "\"${var:k}\"",
        "~",
        "true",
        "{}",
        "[]",
        "'q'",
    ][rng.random_range(0..9)]
    .to_string()
}

fn reference(rng: &mut SmallRng) -> String {
    match rng.random_range(0..6) {
        0 => format!("${{inputs.{}}}", input_name(rng)),
        1 => format!(
            "${{var:{}}}",
            ["color", "a/b", "k", "x y", ""][rng.random_range(0..5)]
        ),
        2 => "$${literal}".into(),
        3 => "${unknown}".into(),
        4 => "${inputs.size".into(),
        _ => format!("${{inputs.{}}}", input_name(rng)),
    }
}

fn input_name(rng: &mut SmallRng) -> &'static str {
    ["size", "token", "tags", "on", "missing", "Size", "s1"][rng.random_range(0..7)]
}

fn resource_name(rng: &mut SmallRng) -> &'static str {
    ["a", "b", "c", "d", "a", "Bad_Name", "-x"][rng.random_range(0..7)]
}

/// A whole blueprint from parts: mostly valid, with a wrong part now and then.
fn grammar(rng: &mut SmallRng) -> String {
    let mut out = String::new();
    if rng.random_ratio(9, 10) {
        out.push_str(&format!(
            "name: {}\n",
            ["app", "db", "x", "Bad", "a-b"][rng.random_range(0..5)]
        ));
    }
    if rng.random_bool(0.3) {
        out.push_str(&format!("description: {}\n", scalar(rng)));
    }
    let n_inputs = rng.random_range(0..5);
    if n_inputs > 0 {
        out.push_str("inputs:\n");
        for _ in 0..n_inputs {
            let t = ["string", "number", "bool", "list", "map", "text"][rng.random_range(0..6)];
            out.push_str(&format!("  {}: {{ type: {t}", input_name(rng)));
            if rng.random_bool(0.6) {
                let default = match (t, rng.random_range(0..3)) {
                    (_, 0) => scalar(rng),
                    ("number", _) => "3".into(),
                    ("bool", _) => "false".into(),
                    ("list", _) => "[1, 2]".into(),
                    ("map", _) => "{ a: 1 }".into(),
                    _ => format!("\"{}\"", reference(rng)),
                };
                out.push_str(&format!(", default: {default}"));
            }
            if rng.random_bool(0.3) {
                out.push_str(", secret: true");
            }
            out.push_str(" }\n");
        }
    }
    out.push_str("resources:\n");
    let names = ["a", "b", "c", "d"];
    let n_resources = rng.random_range(0..=4);
    for i in 0..n_resources {
        let name = if rng.random_ratio(1, 10) {
            resource_name(rng)
        } else {
            names[i]
        };
        out.push_str(&format!("  - name: {name}\n"));
        let t = [
            "sim.resource",
            "kubernetes.manifest",
            "agent.file",
            "agent.service",
            "agent.command",
        ][rng.random_range(0..5)];
        out.push_str(&format!("    type: {t}\n"));
        if rng.random_bool(0.5) {
            let deps: Vec<&str> = (0..rng.random_range(1..=3))
                .map(|_| names[rng.random_range(0..names.len())])
                .collect();
            out.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
        }
        out.push_str("    properties:\n");
        properties(rng, &mut out, 6, 0);
    }
    if rng.random_bool(0.5) {
        out.push_str("outputs:\n");
        for _ in 0..rng.random_range(1..=3) {
            out.push_str(&format!("  {}: \"{}\"\n", input_name(rng), reference(rng)));
        }
    }
    out
}

fn properties(rng: &mut SmallRng, out: &mut String, indent: usize, depth: usize) {
    for _ in 0..rng.random_range(1..=4) {
        let k = ["v", "w", "path", "content", "items", "nested"][rng.random_range(0..6)];
        if depth < 3 && rng.random_ratio(1, 4) {
            out.push_str(&format!("{}{k}:\n", " ".repeat(indent)));
            properties(rng, out, indent + 2, depth + 1);
        } else if depth < 3 && rng.random_ratio(1, 5) {
            out.push_str(&format!("{}{k}:\n", " ".repeat(indent)));
            for _ in 0..rng.random_range(1..=3) {
                out.push_str(&format!("{}- {}\n", " ".repeat(indent + 2), scalar(rng)));
            }
        } else {
            out.push_str(&format!("{}{k}: {}\n", " ".repeat(indent), scalar(rng)));
        }
    }
}
