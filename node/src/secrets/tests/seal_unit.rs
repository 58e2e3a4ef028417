//! Unit tests of `seal.rs`.

use super::*;
use crate::secrets::keys::Keyring;
use serde_json::json;

const K1: &str = "k-one AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const K2: &str = "k-two AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

fn ring(lines: &[&str]) -> Keyring {
    Keyring::parse(&lines.join("\n")).unwrap()
}

#[test]
fn values_of_every_type_seal_and_open_back() {
    let r = ring(&[K1]);
    for value in [
        json!("hunter2"),
        json!(5432),
        json!(true),
        json!(["a", 1]),
        json!({"k": "v"}),
    ] {
        let token = seal(&r, &value).unwrap();
        assert!(!token.contains("hunter2"));
        assert!(moor_domain::sealed::whole(&token).is_some(), "{token}");
        assert_eq!(open_str(&r, &token).unwrap(), value);
    }
}

#[test]
fn equal_plaintexts_share_a_fingerprint_but_not_a_ciphertext() {
    let r = ring(&[K1]);
    let a = seal(&r, &json!("same")).unwrap();
    let b = seal(&r, &json!("same")).unwrap();
    let c = seal(&r, &json!("other")).unwrap();
    assert_ne!(a, b, "a fresh nonce each time");
    assert_eq!(
        moor_domain::sealed::for_digest(&a),
        moor_domain::sealed::for_digest(&b)
    );
    assert_ne!(
        moor_domain::sealed::for_digest(&a),
        moor_domain::sealed::for_digest(&c)
    );
}

#[test]
fn tokens_inside_text_open_the_way_rendering_joins_values() {
    let r = ring(&[K1]);
    let pw = seal(&r, &json!("s3cret")).unwrap();
    let port = seal(&r, &json!(5432)).unwrap();
    let props =
        json!({ "dsn": format!("password={pw} port={port}"), "list": [pw.clone()], "n": 1 });
    let opened = open_value(&r, &props).unwrap();
    assert_eq!(
        opened,
        json!({ "dsn": "password=s3cret port=5432", "list": ["s3cret"], "n": 1 })
    );
    assert!(holds_sealed(&props));
    assert!(!holds_sealed(&opened));
}

#[test]
fn an_unknown_key_or_a_tampered_token_is_named_and_shows_no_value() {
    let r1 = ring(&[K1]);
    let token = seal(&r1, &json!("s3cret")).unwrap();
    let other = ring(&[K2]);
    let err = open_str(&other, &token).unwrap_err();
    assert!(err.to_string().contains("key k-one"), "{err}");
    assert!(err.to_string().contains("k-two"), "{err}");
    // Flip one payload character.
    let t = moor_domain::sealed::whole(&token).unwrap();
    let mut payload: Vec<char> = t.payload.chars().collect();
    payload[20] = if payload[20] == 'A' { 'B' } else { 'A' };
    let payload: String = payload.into_iter().collect();
    let tampered = moor_domain::sealed::format(t.key_id, t.fingerprint, &payload);
    let err = open_str(&r1, &tampered).unwrap_err();
    assert!(matches!(err, OpenError::Damaged { .. }), "{err}");
    // A payload moved under another fingerprint does not open either (associated data).
    let moved = moor_domain::sealed::format(t.key_id, &"0".repeat(32), t.payload);
    assert!(open_str(&r1, &moved).is_err());
    assert!(!format!("{err:?}").contains("s3cret"));
}

#[test]
fn resealing_moves_a_value_to_the_new_key_and_keeps_its_fingerprint() {
    let old = ring(&[K1]);
    let token = seal(&old, &json!("s3cret")).unwrap();
    let rotated = ring(&[K2, K1]);
    let t = moor_domain::sealed::whole(&token).unwrap();
    let new = reseal(&rotated, &t).unwrap().expect("moved to k-two");
    let n = moor_domain::sealed::whole(&new).unwrap();
    assert_eq!(n.key_id, "k-two");
    assert_eq!(n.fingerprint, t.fingerprint);
    assert_eq!(open_str(&ring(&[K2]), &new).unwrap(), json!("s3cret"));
    assert_eq!(
        reseal(&rotated, &n).unwrap(),
        None,
        "already under the sealing key"
    );
}

#[test]
fn key_files_are_checked_line_by_line() {
    assert!(Keyring::parse("# nothing\n")
        .unwrap_err()
        .contains("no key"));
    assert!(Keyring::parse("k1").unwrap_err().contains("line 1"));
    assert!(Keyring::parse("k:1 AAAA").unwrap_err().contains("key id"));
    assert!(Keyring::parse("k1 AAAA").unwrap_err().contains("bytes"));
    let dup = format!("{K1}\n{K1}");
    assert!(Keyring::parse(&dup).unwrap_err().contains("line 2"));
    assert_eq!(ring(&[K2, K1]).sealing().id, "k-two");
}
