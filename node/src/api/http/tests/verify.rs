//! Unit tests of `verify.rs`: every way a delivery is refused, and the formats accepted.

use super::*;
use tonic::codegen::http::{HeaderMap, HeaderValue};

const SECRET: &str = "It's a Secret to Everybody";

fn spec(kind: ReceiverKind, secret: &str) -> ReceiverSpec {
    ReceiverSpec {
        name: "r".into(),
        kind,
        secret: secret.into(),
        max_body_bytes: 0,
        rate_per_minute: 0,
        tolerance_s: 300,
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
#[test]
fn github_signature_matches_the_documented_example() {
    let body = b"Hello, World!";
    let want = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(hmac_hex(SECRET.as_bytes(), &[body]), want);
    let h = headers(&[
        ("x-hub-signature-256", &format!("sha256={want}")),
        ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ]);
    let id = verify(&spec(ReceiverKind::Github, SECRET), &h, body, 0).unwrap();
    assert_eq!(id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
}

#[test]
fn github_refusals_say_what_is_wrong() {
    let body = b"{\"a\":1}";
    let s = spec(ReceiverKind::Github, SECRET);
    let good = format!("sha256={}", hmac_hex(SECRET.as_bytes(), &[body]));
    let cases: Vec<(HeaderMap, &[u8], &str)> = vec![
        (
            headers(&[("x-github-delivery", "d")]),
            body,
            "missing X-Hub-Signature-256",
        ),
        (
            headers(&[
                ("x-hub-signature-256", "sha1=00"),
                ("x-github-delivery", "d"),
            ]),
            body,
            "sha256=",
        ),
        (
            headers(&[
                ("x-hub-signature-256", "sha256=zz"),
                ("x-github-delivery", "d"),
            ]),
            body,
            "not a hex digest",
        ),
        (
            headers(&[("x-hub-signature-256", &good), ("x-github-delivery", "d")]),
            b"{\"a\":2}",
            "does not match the body",
        ),
        (
            headers(&[("x-hub-signature-256", &good)]),
            body,
            "no delivery id",
        ),
    ];
    for (h, b, want) in cases {
        let r = verify(&s, &h, b, 0).unwrap_err();
        assert!(r.reason.contains(want), "{want}: {}", r.reason);
    }
    let other = spec(ReceiverKind::Github, "another secret entirely");
    let h = headers(&[("x-hub-signature-256", &good), ("x-github-delivery", "d")]);
    assert_eq!(verify(&other, &h, body, 0).unwrap_err().status, 401);
}

#[test]
fn gitlab_token_is_compared_and_the_uuid_is_the_id() {
    let s = spec(ReceiverKind::Gitlab, SECRET);
    let h = headers(&[("x-gitlab-token", SECRET), ("x-gitlab-event-uuid", "u-1")]);
    assert_eq!(verify(&s, &h, b"{}", 0).unwrap(), "u-1");
    let h = headers(&[
        ("x-gitlab-token", SECRET),
        ("idempotency-key", "k-1"),
        ("x-gitlab-event-uuid", "u-1"),
    ]);
    assert_eq!(verify(&s, &h, b"{}", 0).unwrap(), "k-1");
    let h = headers(&[("x-gitlab-token", "wrong"), ("x-gitlab-event-uuid", "u-1")]);
    assert!(verify(&s, &h, b"{}", 0)
        .unwrap_err()
        .reason
        .contains("does not match"));
    let h = headers(&[("x-gitlab-event-uuid", "u-1")]);
    assert!(verify(&s, &h, b"{}", 0)
        .unwrap_err()
        .reason
        .contains("missing X-Gitlab-Token"));
}

fn signed(key: &[u8], id: &str, ts: u64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn standard_webhooks_signatures_timestamps_and_rotation() {
    let raw_key = b"0123456789abcdef0123456789abcdef";
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(raw_key)
    );
    let s = spec(ReceiverKind::Standard, &secret);
    let body = br#"{"type":"ping"}"#;
    let now = 1_700_000_000;
    let sig = signed(raw_key, "msg_1", now, body);
    let ok = |sig: &str, ts: u64| {
        headers(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &ts.to_string()),
            ("webhook-signature", sig),
        ])
    };
    assert_eq!(verify(&s, &ok(&sig, now), body, now + 10).unwrap(), "msg_1");
    // Two signatures during a key rotation: any one matching is enough.
    let both = format!("v1,AAAA {sig}");
    assert!(verify(&s, &ok(&both, now), body, now).is_ok());
    // Stale or future timestamps, tampered bodies, ids or timestamps are refused.
    let stale = verify(&s, &ok(&sig, now), body, now + 301).unwrap_err();
    assert!(
        stale.reason.contains("beyond the receiver's tolerance"),
        "{}",
        stale.reason
    );
    assert!(verify(&s, &ok(&sig, now), body, now - 301).is_err());
    assert!(verify(&s, &ok(&sig, now), b"{\"type\":\"push\"}", now).is_err());
    let moved = signed(raw_key, "msg_1", now + 1, body);
    assert!(verify(&s, &ok(&moved, now), body, now).is_err());
    // A plain (non-whsec_) secret keys the HMAC with its own bytes; GitLab's signed format
    // is the same.
    let plain = spec(ReceiverKind::Gitlab, SECRET);
    let sig = signed(SECRET.as_bytes(), "msg_2", now, body);
    let h = headers(&[
        ("webhook-id", "msg_2"),
        ("webhook-timestamp", &now.to_string()),
        ("webhook-signature", &sig),
    ]);
    assert_eq!(verify(&plain, &h, body, now).unwrap(), "msg_2");
}

#[test]
fn long_ids_are_refused() {
    let s = spec(ReceiverKind::Gitlab, SECRET);
    let long = "x".repeat(MAX_ID_BYTES + 1);
    let h = headers(&[("x-gitlab-token", SECRET), ("x-gitlab-event-uuid", &long)]);
    assert_eq!(verify(&s, &h, b"{}", 0).unwrap_err().status, 400);
}
