//! Unit tests of `render.rs`, kept out of the file that apply runs (test code may unwrap).

use super::*;
use crate::blueprint::fixtures::WEBSHOP;
use crate::blueprint::parse;
use crate::blueprint::REDACTED;
use serde_json::json;

fn inputs(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn vars(key: &str) -> Option<String> {
    match key {
        "webshop/db_password" => Some("s3cret-from-kv".into()),
        "count" => Some("3".into()),
        "not-json" => Some("three".into()),
        "region" => Some("eu-west".into()),
        _ => None,
    }
}

fn messages(errors: Vec<String>) -> Vec<String> {
    errors
}

#[test]
fn defaults_types_and_interpolation() {
    let spec = parse("webshop.yaml", WEBSHOP).unwrap();
    let rendered = render(&spec, &inputs(&[("image", json!("shop"))]), &vars).unwrap();
    let app = &rendered.resources["app"];
    // A whole reference keeps the input's type: 2 stays a number.
    assert_eq!(app.properties, json!({ "image": "shop", "replicas": 2 }));
    assert_eq!(app.resource_type, "kubernetes.manifest");
    assert_eq!(app.depends_on, vec!["db".to_string()]);
    assert_eq!(
        rendered.resources["db"].properties,
        json!({ "engine": "postgres", "password": "s3cret-from-kv" })
    );
    assert_eq!(rendered.outputs["url"], json!("https://shop.example"));
    assert_eq!(app.digest, digest("kubernetes.manifest", &app.properties));
    // A given value wins over the default.
    let rendered = render(
        &spec,
        &inputs(&[("image", json!("shop")), ("replicas", json!(5))]),
        &vars,
    )
    .unwrap();
    assert_eq!(rendered.resources["app"].properties["replicas"], json!(5));
}

#[test]
fn non_text_values_interpolate_as_json_and_double_dollar_is_literal() {
    let spec = parse(
        "t.yaml",
        "name: t\ninputs:\n  n: { type: number, default: 3 }\n  b: { type: bool, default: true }\n  \
         l: { type: list, default: [1, \"a\"] }\n  m: { type: map, default: { k: v } }\n\
         resources:\n- name: r\n  type: agent.file\n  properties:\n    \
         text: \"n=${inputs.n} b=${inputs.b} l=${inputs.l} m=${inputs.m}\"\n    \
         script: \"echo $${HOME} ${var:region}\"\n    list: \"${inputs.l}\"\n    nested: [\"${inputs.m}\"]\n",
    )
    .unwrap();
    let r = render(&spec, &BTreeMap::new(), &vars).unwrap();
    assert_eq!(
        r.resources["r"].properties,
        json!({
            "text": "n=3 b=true l=[1,\"a\"] m={\"k\":\"v\"}",
            "script": "echo ${HOME} eu-west",
            "list": [1, "a"],
            "nested": [{ "k": "v" }],
        })
    );
}

#[test]
fn missing_wrong_and_unknown_inputs_are_all_reported() {
    let spec = parse("webshop.yaml", WEBSHOP).unwrap();
    let errors = render(
        &spec,
        &inputs(&[
            ("replicas", json!("2")),
            ("imgae", json!("x")),
            ("zzz", json!(1)),
        ]),
        &vars,
    )
    .unwrap_err();
    assert_eq!(
        messages(errors),
        vec![
            "unknown input `imgae`: did you mean `image`? blueprint `webshop` takes \
             db_password, image, replicas",
            "unknown input `zzz`: remove it; blueprint `webshop` takes db_password, image, \
             replicas",
            "input `image` is required (type string) and has no default: pass a value for it",
            "input `replicas` must be a number, got a string: pass a number",
        ]
    );
}

#[test]
fn secrets_never_appear_in_errors_and_are_listed_for_redaction() {
    let spec = parse("webshop.yaml", WEBSHOP).unwrap();
    let errors = render(
        &spec,
        &inputs(&[
            ("image", json!("shop")),
            ("db_password", json!(["hunter2"])),
        ]),
        &vars,
    )
    .unwrap_err();
    let text = messages(errors).join("\n");
    assert_eq!(
        text,
        "input `db_password` must be a string, got a list: pass a string"
    );
    assert!(!text.contains("hunter2"));

    let with_secret_output = WEBSHOP.replace(
        "outputs:\n",
        "outputs:\n  dsn: \"postgres://app:${inputs.db_password}@db\"\n",
    );
    let spec = parse("webshop.yaml", &with_secret_output).unwrap();
    let rendered = render(
        &spec,
        &inputs(&[("image", json!("shop")), ("db_password", json!("hunter2"))]),
        &vars,
    )
    .unwrap();
    assert_eq!(
        rendered.resources["db"].secret_paths,
        vec!["/password".to_string()]
    );
    assert_eq!(rendered.resources["app"].secret_paths, Vec::<String>::new());
    assert_eq!(rendered.secret_outputs, vec!["dsn".to_string()]);
    let shown = rendered.redacted();
    assert_eq!(
        shown.resources["db"].properties["password"],
        json!(REDACTED)
    );
    assert_eq!(shown.outputs["dsn"], json!(REDACTED));
    assert_eq!(shown.outputs["url"], json!("https://shop.example"));
    // Digests are of the real values: redaction must not look like drift.
    assert_eq!(
        shown.resources["db"].digest,
        rendered.resources["db"].digest
    );
    assert!(!format!("{shown:?}").contains("hunter2"));
}

#[test]
fn variables_resolve_through_the_lookup() {
    let spec = parse(
        "t.yaml",
        "name: t\ninputs:\n  count: { type: number, default: \"${var:count}\" }\n  \
         bad: { type: number, default: \"${var:not-json}\" }\n  \
         host: { type: string, default: \"db.${var:region}.internal\" }\n\
         resources:\n- name: r\n  type: sim.resource\n  properties:\n    \
         count: \"${inputs.count}\"\n    host: \"${inputs.host}\"\n    direct: \"${var:region}\"\n",
    )
    .unwrap();
    let errors = render(&spec, &BTreeMap::new(), &vars).unwrap_err();
    assert_eq!(
        messages(errors),
        vec![
            "variable `not-json` (default of input `bad`) does not hold a number written as \
              JSON: set it to one, or pass input `bad`"
        ]
    );
    let r = render(&spec, &inputs(&[("bad", json!(1))]), &vars).unwrap();
    assert_eq!(
        r.resources["r"].properties,
        json!({ "count": 3, "host": "db.eu-west.internal", "direct": "eu-west" })
    );
    // Unset variables name the variable, the user and what to do.
    let errors = render(&spec, &inputs(&[("bad", json!(1))]), &|_| None).unwrap_err();
    assert_eq!(
        messages(errors),
        vec![
            "variable `count` is not set (used by default of input `count`): set it in the \
             key/value namespace, or pass input `count`",
            "variable `region` is not set (used by default of input `host`): set it in the \
             key/value namespace, or pass input `host`",
        ]
    );
    let errors = render(
        &spec,
        &inputs(&[("bad", json!(1)), ("count", json!(1)), ("host", json!("h"))]),
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(
        messages(errors),
        vec![
            "variable `region` is not set (used by resource `r`): set it in the key/value \
              namespace"
        ]
    );
}

#[test]
fn digest_is_canonical_and_pinned() {
    // Pinned: changing the canonical form changes every stored digest and would show
    // every environment as drifted.
    let properties = json!({ "b": [true, null, "x"], "a": 1 });
    assert_eq!(
        canonical_json(&properties),
        r#"{"a":1,"b":[true,null,"x"]}"#
    );
    assert_eq!(
        digest("sim.resource", &properties),
        "4fc2abbc3c08352155b7a508cc7abd44bcc66126507fe260a23dacf82daa42ce"
    );
    // The key order of the source does not matter; the type does.
    let one = parse(
        "a.yaml",
        "name: t\nresources:\n- { name: r, type: sim.resource, properties: { x: 1, y: { p: 1, q: 2 } } }\n",
    )
    .unwrap();
    let two = parse(
        "b.yaml",
        "name: t\nresources:\n- { properties: { y: { q: 2, p: 1 }, x: 1 }, type: sim.resource, name: r }\n",
    )
    .unwrap();
    let none = BTreeMap::new();
    let d1 = render(&one, &none, &|_| None).unwrap().resources["r"]
        .digest
        .clone();
    let d2 = render(&two, &none, &|_| None).unwrap().resources["r"]
        .digest
        .clone();
    assert_eq!(d1, d2);
    assert_eq!(d1.len(), 64);
    let props = json!({ "x": 1 });
    assert_ne!(digest("sim.resource", &props), digest("agent.file", &props));
    assert_ne!(
        digest("sim.resource", &json!({ "x": 1 })),
        digest("sim.resource", &json!({ "x": "1" }))
    );
}

fn sealed_token(key: &str, fingerprint_digit: char, payload: &str) -> String {
    crate::sealed::format(key, &fingerprint_digit.to_string().repeat(32), payload)
}

#[test]
fn sealed_values_render_whole_or_inside_text_and_are_listed_as_secret() {
    let spec = parse(
        "t.yaml",
        "name: t\ninputs:\n  port: { type: number, secret: true }\n  \
         pw: { type: string, default: \"${var:db/pw}\" }\n\
         resources:\n  - name: r\n    type: sim.resource\n    properties:\n      \
         port: \"${inputs.port}\"\n      dsn: \"user=a password=${inputs.pw}\"\n",
    )
    .unwrap();
    let port = sealed_token("k1", 'a', "cG9ydA");
    let pw = sealed_token("k1", 'b', "cHc");
    let lookup = |key: &str| (key == "db/pw").then(|| pw.clone());
    // A sealed number passes the type check (the sealing member checked the plaintext).
    let rendered = render(&spec, &inputs(&[("port", json!(port))]), &lookup).unwrap();
    let r = &rendered.resources["r"];
    assert_eq!(r.properties["port"], json!(port));
    assert_eq!(r.properties["dsn"], json!(format!("user=a password={pw}")));
    // `pw` is not declared secret, but its variable was sealed: listed all the same.
    let mut paths = r.secret_paths.clone();
    paths.sort();
    assert_eq!(paths, vec!["/dsn".to_string(), "/port".to_string()]);
}

#[test]
fn resealing_keeps_the_digest_and_another_plaintext_changes_it() {
    let props = |token: &str| json!({ "dsn": format!("password={token};"), "n": 1 });
    let first = digest("sim.resource", &props(&sealed_token("k1", 'a', "Zmlyc3Q")));
    let resealed = digest("sim.resource", &props(&sealed_token("k2", 'a', "c2Vjb25k")));
    let other = digest("sim.resource", &props(&sealed_token("k1", 'c', "Zmlyc3Q")));
    assert_eq!(first, resealed, "new key and nonce, same plaintext");
    assert_ne!(first, other, "another plaintext");
    // Strings without a token hash exactly as before (pinned digests stay valid).
    let plain = json!({ "a": "[moor-sealed:v1:not a token]" });
    let mut canonical = String::from("{\"properties\":");
    write_canonical(&plain, &mut canonical);
    canonical.push_str(",\"type\":\"x\"}");
    let expected: String = Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest("x", &plain), expected);
}
