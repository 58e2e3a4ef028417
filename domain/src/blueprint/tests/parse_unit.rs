//! Unit tests of `parse.rs`, kept out of the library file (test code may unwrap).

use super::*;
use crate::blueprint::InputType;
use serde_json::json;

use crate::blueprint::fixtures::{problems, WEBSHOP};

#[test]
fn the_example_parses() {
    let spec = parse("webshop.yaml", WEBSHOP).unwrap();
    assert_eq!(spec.name, "webshop");
    assert_eq!(spec.description, "Web shop with database");
    assert_eq!(spec.inputs["replicas"].input_type, InputType::Number);
    assert_eq!(spec.inputs["replicas"].default, Some(json!(2)));
    assert_eq!(spec.inputs["image"].default, None);
    assert!(spec.inputs["db_password"].secret);
    assert_eq!(spec.secret_inputs(), vec!["db_password".to_string()]);
    let names: Vec<_> = spec.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["db", "app"]);
    assert_eq!(spec.resources[1].resource_type, "kubernetes.manifest");
    assert_eq!(spec.resources[1].depends_on, vec!["db".to_string()]);
    assert_eq!(
        spec.resources[1].properties,
        json!({ "image": "${inputs.image}", "replicas": "${inputs.replicas}" })
    );
    assert_eq!(
        spec.outputs["url"],
        json!("https://${inputs.image}.example")
    );
}

#[test]
fn plain_scalars_follow_the_yaml_core_schema_and_quoted_ones_are_strings() {
    let spec = parse(
        "t.yaml",
        "name: t\nresources:\n- name: r\n  type: sim.resource\n  properties:\n    \
         i: 42\n    f: 1.5\n    b: true\n    n: ~\n    s: \"42\"\n    w: yes\n    inf: .inf\n    \
         big: 18446744073709551615\n    block: |\n      two\n      lines\n",
    )
    .unwrap();
    assert_eq!(
        spec.resources[0].properties,
        json!({ "i": 42, "f": 1.5, "b": true, "n": null, "s": "42", "w": "yes",
                "inf": ".inf", "big": 18446744073709551615u64, "block": "two\nlines\n" })
    );
}

#[test]
fn diagnostic_display_is_compiler_style() {
    let d = Diagnostic {
        source: "a.yaml".into(),
        line: 3,
        column: 7,
        message: "bad".into(),
        hint: Some("fix it".into()),
    };
    assert_eq!(d.to_string(), "a.yaml:3:7: error: bad\n  hint: fix it");
    let no_hint = Diagnostic { hint: None, ..d };
    assert_eq!(no_hint.to_string(), "a.yaml:3:7: error: bad");
}

#[test]
fn malformed_yaml_points_at_the_parser_position() {
    assert_eq!(
        problems("name: x\nresources:\n  - name: [a\n"),
        vec!["bp.yaml:4:1: error: malformed YAML: while parsing a flow sequence, expected ',' or ']'"]
    );
    assert_eq!(
        problems("name: x\n  bad: indent\n"),
        vec!["bp.yaml:2:6: error: malformed YAML: mapping values are not allowed in this context"]
    );
}

#[test]
fn unknown_fields_list_the_valid_ones_at_every_level() {
    let text = "name: x\nversion: 2\ninputs:\n  a: { type: string, defualt: z }\n\
                resources:\n  - name: r\n    type: sim.resource\n    dependson: []\n";
    assert_eq!(
        problems(text),
        vec![
            "bp.yaml:2:1: error: unknown field `version` in blueprint\n  \
             hint: valid fields: name, description, inputs, resources, outputs",
            "bp.yaml:4:22: error: unknown field `defualt` in input `a`\n  \
             hint: did you mean `default`? valid fields: type, default, secret, description",
            "bp.yaml:8:5: error: unknown field `dependson` in resource `r`\n  \
             hint: did you mean `depends_on`? valid fields: name, type, depends_on, properties",
        ]
    );
}

#[test]
fn missing_and_misshapen_fields_are_reported() {
    let text = "description: [not, text]\ninputs:\n  a: string\n  b: { default: 1 }\n\
                resources:\n  - just-a-name\n  - type: sim.resource\n  - name: r\n    \
                depends_on: r2\n    properties: [1]\n    type: sim.resource\n";
    assert_eq!(
        problems(text),
        vec![
            "bp.yaml:1:1: error: blueprint has no `name`\n  \
             hint: add `name: my-app` (lower-case letters, digits and `-`)",
            "bp.yaml:1:14: error: `description` must be a single value, found a list",
            "bp.yaml:3:6: error: input `a` must be a mapping, found a scalar\n  \
             hint: write e.g. `{ type: string, default: \"x\" }`",
            "bp.yaml:4:3: error: input `b` has no `type`\n  \
             hint: add `type:` with one of string, number, bool, list, map",
            "bp.yaml:6:5: error: a resource must be a mapping, found a scalar\n  \
             hint: write `- name: ...` with `type:` and `properties:` below it",
            "bp.yaml:7:5: error: resource has no `name`\n  \
             hint: add `name:` (lower-case letters, digits and `-`)",
            "bp.yaml:9:17: error: `depends_on` must be a list, found a scalar\n  \
             hint: write `depends_on: [db, cache]`",
            "bp.yaml:10:17: error: `properties` of resource `r` must be a mapping, found a list",
        ]
    );
}

#[test]
fn a_blueprint_needs_resources() {
    assert_eq!(
        problems("name: x\n"),
        vec![
            "bp.yaml:1:1: error: blueprint has no `resources`\n  \
              hint: add `resources:` with at least one `- name: ... type: ...`"
        ]
    );
    assert_eq!(
        problems("name: x\nresources: []\n"),
        vec![
            "bp.yaml:2:1: error: blueprint declares no resources\n  \
              hint: add at least one `- name: ...` with `type:` under `resources:`"
        ]
    );
    assert_eq!(
        problems(""),
        vec![
            "bp.yaml:1:1: error: blueprint has no `name`\n  \
             hint: add `name: my-app` (lower-case letters, digits and `-`)",
            "bp.yaml:1:1: error: blueprint has no `resources`\n  \
             hint: add `resources:` with at least one `- name: ... type: ...`",
        ]
    );
}

#[test]
fn duplicate_keys_are_reported_with_both_positions() {
    let text = "name: x\nresources:\n  - name: r\n    type: sim.resource\n    name: s\n";
    assert_eq!(
        problems(text),
        vec![
            "bp.yaml:5:5: error: duplicate key `name` (first at 3:5)\n  \
              hint: remove one of them"
        ]
    );
}

#[test]
fn oversized_sources_are_refused_before_parsing() {
    let text = format!("name: x\n#{}\n", "x".repeat(MAX_SOURCE_BYTES));
    assert_eq!(
        problems(&text),
        vec![format!(
            "bp.yaml:1:1: error: blueprint is {} bytes, more than the limit of 1048576\n  \
             hint: split it into several blueprints",
            text.len()
        )]
    );
}

#[test]
fn limits_bound_the_work() {
    let mut text = String::from("name: big\nresources:\n");
    for i in 0..=MAX_RESOURCES {
        text.push_str(&format!("- {{ name: r{i}, type: sim.resource }}\n"));
    }
    assert_eq!(
        problems(&text),
        vec![
            "bp.yaml:1003:3: error: blueprint declares 1001 resources, more than the limit \
              of 1000\n  hint: split it into several blueprints"
        ]
    );

    let mut text = String::from("name: typos\nresources:\n");
    for i in 0..150 {
        text.push_str(&format!(
            "- {{ name: r{i}, type: sim.resource, depends_on: [x{i}] }}\n"
        ));
    }
    let all = parse("bp.yaml", &text).unwrap_err();
    assert_eq!(all.len(), MAX_DIAGNOSTICS + 1);
    assert_eq!(
        all[MAX_DIAGNOSTICS].to_string(),
        "bp.yaml:103:50: error: 50 more problems from here on are not shown\n  \
         hint: fix the ones above and push again"
    );
}

#[test]
fn a_mapping_with_many_keys_is_read_in_n_log_n() {
    // Quadratic duplicate-key detection would take minutes here.
    let keys: String = (0..50_000).map(|i| format!("    k{i}: {i}\n")).collect();
    let text =
        format!("name: wide\nresources:\n- name: r\n  type: sim.resource\n  properties:\n{keys}");
    let spec = parse("bp.yaml", &text).unwrap();
    assert_eq!(
        spec.resources[0].properties.as_object().unwrap().len(),
        50_000
    );
}
