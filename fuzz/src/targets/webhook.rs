//! `webhook`: what `POST /hooks/{receiver}` does with a delivery before it is recorded —
//! the signature check ([`verify`]) on the raw body, then the payload ([`parse_payload`]) —
//! for GitHub, GitLab and Standard Webhooks receivers.
//!
//! Bodies are CI systems' real push and ping payloads, mutated as JSON trees (a field
//! missing, of another type, a number where a URL was, nested deeper) or as bytes; headers
//! are chosen from the input bytes among the ones each system sends, at the edges of valid
//! (ids of 200 and 201 bytes, timestamps at and past the tolerance, `sha256=` without a hex
//! digest, several `v1,` signatures). The signature is computed here, independently, and is
//! right, wrong, or right for another body.
//!
//! Checked: neither check panics; a delivery signed with the receiver's secret over exactly
//! its body (and, for Standard Webhooks, its id and a timestamp within the tolerance) is
//! accepted with the id it carries; the same signature over a body one byte different is
//! refused; a push that parses names at least one repository URL.

use arbitrary::{Result, Unstructured};
use base64::Engine;
use hmac::{Hmac, Mac};
use moor_domain::hooks::receiver::{Payload, ReceiverKind, ReceiverSpec, DEFAULT_TOLERANCE_S};
use moor_domain::names::WireName;
use moor_node::api::http::{parse_payload, verify, MAX_ID_BYTES};
use rand::rngs::SmallRng;
use rand::Rng;
use serde_json::{json, Value};
use sha2::Sha256;
use tonic::codegen::http::{HeaderMap, HeaderName, HeaderValue};

use crate::engine::{Pool, Target};
use crate::pick;

pub const TARGET: Target = Target {
    name: "webhook",
    about: "webhook deliveries: signature checks and payloads of GitHub, GitLab, Standard Webhooks",
    seeds,
    generate,
    run,
};

/// The member's clock in every check (seconds since the epoch).
const NOW_S: u64 = 1_750_000_000;

/// An input: choices (`Unstructured`) for the receiver and headers, then the body after a
/// 2-byte little-endian length of the choices.
fn split(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = input.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    Some(rest.split_at(len))
}

fn join(choices: &[u8], body: &[u8]) -> Vec<u8> {
    let len = choices.len().min(usize::from(u16::MAX));
    let mut out = (len as u16).to_le_bytes().to_vec();
    out.extend_from_slice(&choices[..len]);
    out.extend_from_slice(body);
    out
}

fn bodies() -> Vec<Value> {
    vec![
        json!({"ref": "refs/heads/main", "after": "0123456789abcdef0123456789abcdef01234567",
               "repository": {"full_name": "acme/bp", "clone_url": "https://github.com/acme/bp.git",
               "html_url": "https://github.com/acme/bp", "ssh_url": "git@github.com:acme/bp.git"}}),
        json!({"zen": "Keep it logically awesome.", "hook_id": 1}),
        json!({"object_kind": "push", "ref": "refs/heads/main", "checkout_sha": null,
               "after": "0123456789abcdef0123456789abcdef01234567",
               "project": {"path_with_namespace": "acme/bp", "git_http_url": "https://gitlab.example/acme/bp.git",
               "git_ssh_url": "git@gitlab.example:acme/bp.git", "web_url": "https://gitlab.example/acme/bp"}}),
        json!({"type": "push", "data": {"repository": "https://git.example/acme/bp.git",
               "ref": "refs/heads/main", "commit": "0123456789abcdef0123456789abcdef01234567"}}),
        json!({"type": "ping"}),
    ]
}

fn seeds() -> Vec<Vec<u8>> {
    bodies()
        .iter()
        .enumerate()
        .map(|(i, body)| join(&[i as u8; 24], body.to_string().as_bytes()))
        .collect()
}

fn generate(rng: &mut SmallRng, pool: &Pool) -> Vec<u8> {
    let (choices, body) = split(pool.pick(rng)).unwrap_or((&[], &[]));
    let mut choices = choices.to_vec();
    if choices.is_empty() || rng.random_bool(0.5) {
        choices = (0..rng.random_range(8..64)).map(|_| rng.random()).collect();
    }
    let mut tree = serde_json::from_slice::<Value>(body).unwrap_or_else(|_| {
        let all = bodies();
        all[rng.random_range(0..all.len())].clone()
    });
    for _ in 0..rng.random_range(1..=3) {
        mutate_json(rng, &mut tree, 0);
    }
    join(&choices, tree.to_string().as_bytes())
}

/// Changes one node of `value`: a field dropped, retyped or renamed, a value wrapped deeper.
fn mutate_json(rng: &mut SmallRng, value: &mut Value, depth: usize) {
    const KEYS: &[&str] = &[
        "ref",
        "after",
        "checkout_sha",
        "repository",
        "project",
        "clone_url",
        "html_url",
        "url",
        "git_http_url",
        "web_url",
        "full_name",
        "type",
        "data",
        "commit",
        "zen",
    ];
    match value {
        Value::Object(map) if !map.is_empty() && depth < 4 && rng.random_bool(0.7) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.random_range(0..keys.len())];
            match rng.random_range(0..4) {
                0 => {
                    map.remove(key);
                }
                1 => {
                    let v = map.remove(key).unwrap_or(Value::Null);
                    map.insert(KEYS[rng.random_range(0..KEYS.len())].to_string(), v);
                }
                _ => {
                    if let Some(v) = map.get_mut(key) {
                        mutate_json(rng, v, depth + 1);
                    }
                }
            }
        }
        _ => {
            *value = match rng.random_range(0..9) {
                0 => Value::Null,
                1 => json!(true),
                2 => json!(-1),
                3 => json!(1e300),
                4 => json!(""),
                5 => json!(["https://x.example/a.git"]),
                6 => json!({"clone_url": "https://x.example/a.git"}),
                7 => json!("x".repeat(rng.random_range(0..300))),
                _ => json!([value.take()]),
            }
        }
    }
}

/// How the generated signature relates to the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signing {
    Right,
    Wrong,
    Missing,
}

const IDS: &[&str] = &[
    "d-1",
    "",
    " ",
    "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "é",
    "a\tb",
];

fn receiver(u: &mut Unstructured) -> Result<ReceiverSpec> {
    Ok(ReceiverSpec {
        name: "hook".into(),
        kind: *u.choose(ReceiverKind::ALL)?,
        secret: pick::string(
            u,
            &[
                "0123456789abcdef0123",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "whsec_!!notbase64",
                "x",
            ],
        )?,
        max_body_bytes: 0,
        rate_per_minute: 0,
        tolerance_s: pick::number(u, &[0, 1, DEFAULT_TOLERANCE_S, 86_400])?,
    })
}

struct Delivery {
    headers: HeaderMap,
    /// The id and timestamp the headers carry, when they carry one a check must accept.
    id: Option<String>,
    signing: Signing,
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.append(HeaderName::from_static(name), v);
    }
}

/// The text a receiver reads from a header sent as `value`: none when it cannot be sent
/// or is not visible ASCII; trimmed.
fn header_text(value: &str) -> Option<String> {
    let v = HeaderValue::from_str(value).ok()?;
    v.to_str().ok().map(|t| t.trim().to_string())
}

/// Whether `id`, sent as a delivery id header, is one a check accepts as it is.
fn id_ok(id: &str) -> bool {
    header_text(id).is_some_and(|t| !t.is_empty() && t.len() <= MAX_ID_BYTES && t == id)
}

fn delivery(u: &mut Unstructured, spec: &ReceiverSpec, body: &[u8]) -> Result<Delivery> {
    let mut headers = HeaderMap::new();
    let long_id = "i".repeat(MAX_ID_BYTES);
    let too_long_id = "i".repeat(MAX_ID_BYTES + 1);
    let id = pick::string(
        u,
        &[
            IDS[0],
            IDS[1],
            IDS[2],
            IDS[3],
            IDS[4],
            IDS[5],
            &long_id,
            &too_long_id,
        ],
    )?;
    let signing = *u.choose(&[Signing::Right, Signing::Wrong, Signing::Missing])?;
    let event = pick::string(
        u,
        &["push", "ping", "issues", "Push Hook", "Tag Push Hook", ""],
    )?;
    let tolerance = spec.tolerance_s() as i64;
    let skew: i64 = pick::number(
        u,
        &[0, 1, -1, tolerance, tolerance + 1, -tolerance - 1, i64::MIN],
    )?;
    let ts = (NOW_S as i64).saturating_add(skew).max(0).to_string();
    let ts = pick::string(u, &[&ts, &ts, &ts, "", "1e9", "-5", "18446744073709551616"])?;
    let standard = spec.kind == ReceiverKind::Standard
        || (spec.kind == ReceiverKind::Gitlab && u.ratio(1, 3)?);
    let mut mac_key = spec.secret.as_bytes().to_vec();
    if standard {
        insert(&mut headers, "webhook-id", &id);
        insert(&mut headers, "webhook-timestamp", &ts);
        if let Some(b64) = spec.secret.strip_prefix("whsec_") {
            if let Ok(key) = base64::engine::general_purpose::STANDARD.decode(b64) {
                mac_key = key;
            }
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&mac_key)
            .map_err(|_| arbitrary::Error::IncorrectFormat)?;
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        let right = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let sig = match signing {
            Signing::Right => format!("v1,{right}"),
            Signing::Wrong => pick::string(
                u,
                &["v1,AAAA", "v1,", "v2,abc", "v1,!!!", "v1,AAAA v1,BBBB"],
            )?,
            Signing::Missing => String::new(),
        };
        let sig = if signing == Signing::Right && u.ratio(1, 3)? {
            format!("v1,AAAA {sig}")
        } else {
            sig
        };
        if signing != Signing::Missing {
            insert(&mut headers, "webhook-signature", &sig);
        }
        if spec.kind == ReceiverKind::Gitlab {
            insert(&mut headers, "x-gitlab-event", &event);
        }
        let in_time = ts
            .parse::<u64>()
            .is_ok_and(|t| t.abs_diff(NOW_S) <= spec.tolerance_s());
        let accept = signing == Signing::Right && in_time && id_ok(&id);
        return Ok(Delivery {
            headers,
            id: accept.then(|| id.clone()),
            signing,
        });
    }
    match spec.kind {
        ReceiverKind::Github => {
            insert(&mut headers, "x-github-event", &event);
            insert(&mut headers, "x-github-delivery", &id);
            let mut mac = Hmac::<Sha256>::new_from_slice(&mac_key)
                .map_err(|_| arbitrary::Error::IncorrectFormat)?;
            mac.update(body);
            let hex: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let sig = match signing {
                Signing::Right => format!("sha256={hex}"),
                Signing::Wrong => {
                    pick::string(u, &["sha256=", "sha256=zz", "sha1=00", &hex, "sha256=0"])?
                }
                Signing::Missing => String::new(),
            };
            if signing != Signing::Missing {
                insert(&mut headers, "x-hub-signature-256", &sig);
            }
        }
        _ => {
            insert(&mut headers, "x-gitlab-event", &event);
            insert(&mut headers, "x-gitlab-event-uuid", &id);
            let token = match signing {
                Signing::Right => spec.secret.clone(),
                Signing::Wrong => pick::string(u, &["", "wrong", "0123456789abcdef012"])?,
                Signing::Missing => String::new(),
            };
            if signing != Signing::Missing {
                insert(&mut headers, "x-gitlab-token", &token);
            }
        }
    }
    let token_ok =
        spec.kind == ReceiverKind::Github || header_text(&spec.secret) == Some(spec.secret.clone());
    let accept = signing == Signing::Right && id_ok(&id) && token_ok;
    Ok(Delivery {
        headers,
        id: accept.then_some(id),
        signing,
    })
}

fn run(input: &[u8]) -> bool {
    let Some((choices, body)) = split(input) else {
        return false;
    };
    let mut u = Unstructured::new(choices);
    // Only receivers moord would accept (a secret of 16 to 4,096 bytes).
    let Ok(spec) = receiver(&mut u) else {
        return false;
    };
    if !spec.problems().is_empty() {
        return false;
    }
    let Ok(d) = delivery(&mut u, &spec, body) else {
        return false;
    };
    let verified = verify(&spec, &d.headers, body, NOW_S);
    match &d.id {
        Some(id) => assert_eq!(
            verified.as_ref().map_err(|r| &r.reason),
            Ok(id),
            "a delivery signed right was refused ({:?})",
            d.headers
        ),
        None if d.signing != Signing::Right => {
            assert!(
                verified.is_err(),
                "a delivery signed wrong was accepted: {:?}",
                d.headers
            )
        }
        None => {}
    }
    if verified.is_ok() && !body.is_empty() {
        // The same headers over a body one byte different: the signature no longer holds.
        let mut tampered = body.to_vec();
        let i = body.len() / 2;
        tampered[i] ^= 1;
        if spec.kind != ReceiverKind::Gitlab || d.headers.contains_key("webhook-signature") {
            assert!(
                verify(&spec, &d.headers, &tampered, NOW_S).is_err(),
                "a changed body kept its signature"
            );
        }
    }
    match parse_payload(spec.kind, &d.headers, body) {
        Ok((event, payload)) => {
            assert!(
                event.chars().count() <= 100,
                "event name of {} characters",
                event.len()
            );
            if let Payload::Push { urls, .. } = &payload {
                assert!(
                    !urls.is_empty(),
                    "a push without a repository URL was accepted"
                );
            }
            verified.is_ok()
        }
        Err(refusal) => {
            assert!(!refusal.reason.is_empty());
            false
        }
    }
}
