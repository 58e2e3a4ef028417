// Test code only (the parent declares it under `#[cfg(test)]` too).
#![cfg(test)]

use super::*;

const FP: &str = "0123456789abcdef0123456789abcdef";

fn token(key: &str, payload: &str) -> String {
    format(key, FP, payload)
}

#[test]
fn a_whole_token_is_found_with_its_parts() {
    let t = token("k1", "AbC-_9");
    let found = whole(&t).expect("a token");
    assert_eq!(found.key_id, "k1");
    assert_eq!(found.fingerprint, FP);
    assert_eq!(found.payload, "AbC-_9");
    assert_eq!((found.start, found.end), (0, t.len()));
    assert!(whole(&format!("x{t}")).is_none(), "text before: not whole");
    assert!(whole(&format!("{t}x")).is_none(), "text after: not whole");
}

#[test]
fn tokens_inside_longer_text_are_found_in_order() {
    let a = token("k1", "aaaa");
    let b = token("k2", "bbbb");
    let text = format!("user=admin password={a};backup={b}.");
    let found = tokens(&text);
    assert_eq!(found.len(), 2);
    assert_eq!(&text[found[0].start..found[0].end], a);
    assert_eq!(found[1].key_id, "k2");
    assert!(contains(&text));
}

#[test]
fn malformed_tokens_are_plain_text() {
    for text in [
        "[moor-sealed:v1:k1:0123:abc]", // short fingerprint
        "[moor-sealed:v1:k1:0123456789ABCDEF0123456789ABCDEF:abc]", // upper-case hex
        "[moor-sealed:v1::0123456789abcdef0123456789abcdef:abc]", // no key id
        "[moor-sealed:v1:k1:0123456789abcdef0123456789abcdef:]", // no payload
        "[moor-sealed:v1:k1:0123456789abcdef0123456789abcdef:a+b]", // not base64url
        "[moor-sealed:v1:k1:0123456789abcdef0123456789abcdef:abc", // not closed
        "[moor-sealed:v2:k1:0123456789abcdef0123456789abcdef:abc]", // unknown version
    ] {
        assert!(tokens(text).is_empty(), "{text}");
        assert!(!contains(text), "{text}");
        assert_eq!(for_digest(text), text, "{text}");
    }
}

#[test]
fn a_digest_sees_the_fingerprint_only() {
    let first = format!("pw={}!", token("k1", "nonce1cipher"));
    let resealed = format!("pw={}!", token("k2", "othernoncecipher"));
    assert_eq!(for_digest(&first), for_digest(&resealed));
    assert_eq!(for_digest(&first), format!("pw=[moor-sealed:{FP}]!"));
    let other = format!("pw={}!", format("k1", &"f".repeat(32), "nonce1cipher"));
    assert_ne!(for_digest(&first), for_digest(&other), "another plaintext");
    assert!(matches!(for_digest("no secret here"), Cow::Borrowed(_)));
}

#[test]
fn key_ids_are_short_and_plain() {
    assert!(valid_key_id("2026-11-k1_a"));
    assert!(!valid_key_id(""));
    assert!(!valid_key_id("a:b"));
    assert!(!valid_key_id(&"k".repeat(33)));
}
