//! Sealed values: how a secret sits in the replicated state.
//!
//! A member that receives a secret (an input declared `secret: true`, a variable put with
//! `--secret`) encrypts it with the cluster's secrets key before proposing it, and the
//! replicated state holds only the token this module parses:
//!
//! ```text
//! [moor-sealed:v1:<key id>:<fingerprint>:<payload>]
//! ```
//!
//! - `key id`: which key of the members' key file sealed it (`[A-Za-z0-9_-]`, 1–32 chars);
//! - `fingerprint`: 32 lowercase hex digits, a keyed hash of the plaintext, equal for equal
//!   plaintexts (so an update that passes the same secret again changes no digest) and kept
//!   unchanged when a value is re-sealed under a new key;
//! - `payload`: base64url (no padding) of nonce + ciphertext of the value's JSON encoding.
//!
//! Tokens flow through rendering like any string (whole, or inside a longer string) and
//! are opened only by the executor when it calls a site. This module is pure text: it finds
//! tokens, and it gives [`for_digest`], the form a token takes inside a desired digest (its
//! fingerprint only), so a digest does not change when the ciphertext does. Encryption and
//! the key file live in the node.
// Runs inside replicated apply (digests): a panic here would fire on every member at once.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use std::borrow::Cow;

/// How every token starts.
pub const PREFIX: &str = "[moor-sealed:v1:";
/// How every token ends.
pub const SUFFIX: char = ']';
/// Length of a fingerprint in hex digits.
pub const FINGERPRINT_HEX: usize = 32;
/// Longest key id.
pub const MAX_KEY_ID: usize = 32;

/// One token found in a string, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub key_id: &'a str,
    pub fingerprint: &'a str,
    pub payload: &'a str,
    /// Byte range of the whole token (brackets included) in the searched string.
    pub start: usize,
    pub end: usize,
}

/// Whether `id` may name a key.
pub fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The token text for its three parts (callers pass parts they made valid).
pub fn format(key_id: &str, fingerprint: &str, payload: &str) -> String {
    format!("{PREFIX}{key_id}:{fingerprint}:{payload}{SUFFIX}")
}

/// Every well-formed token in `text`, in order. Text that starts like a token but is not
/// one is ordinary text.
pub fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text.get(from..).and_then(|rest| rest.find(PREFIX)) {
        let start = from + offset;
        match parse_at(text, start) {
            Some(token) => {
                from = token.end;
                found.push(token);
            }
            None => from = start + PREFIX.len(),
        }
    }
    found
}

/// The token `text` is, when it is exactly one token and nothing else.
pub fn whole(text: &str) -> Option<Token<'_>> {
    parse_at(text, 0).filter(|t| t.end == text.len())
}

/// Whether `text` holds at least one token.
pub fn contains(text: &str) -> bool {
    text.contains(PREFIX) && !tokens(text).is_empty()
}

/// Whether a token sits anywhere in `value` (any string, at any depth).
pub fn in_value(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => contains(text),
        Value::Array(items) => items.iter().any(in_value),
        Value::Object(map) => map.values().any(in_value),
        _ => false,
    }
}

/// `text` with each token replaced by `[moor-sealed:<fingerprint>]`: what a digest hashes,
/// so re-sealing (new nonce, new key) leaves digests as they were.
pub fn for_digest(text: &str) -> Cow<'_, str> {
    if !text.contains(PREFIX) {
        return Cow::Borrowed(text);
    }
    let found = tokens(text);
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for token in found {
        out.push_str(text.get(at..token.start).unwrap_or_default());
        out.push_str("[moor-sealed:");
        out.push_str(token.fingerprint);
        out.push(SUFFIX);
        at = token.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    Cow::Owned(out)
}

fn parse_at(text: &str, start: usize) -> Option<Token<'_>> {
    let rest = text.get(start..)?.strip_prefix(PREFIX)?;
    let close = rest.find(SUFFIX)?;
    let body = rest.get(..close)?;
    let mut parts = body.splitn(3, ':');
    let key_id = parts.next()?;
    let fingerprint = parts.next()?;
    let payload = parts.next()?;
    let hex = |s: &str| {
        s.len() == FINGERPRINT_HEX
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let base64url = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !valid_key_id(key_id) || !hex(fingerprint) || !base64url(payload) {
        return None;
    }
    let body_start = start + PREFIX.len();
    Some(Token {
        key_id,
        fingerprint,
        payload,
        start,
        end: body_start + close + SUFFIX.len_utf8(),
    })
}

#[cfg(test)]
#[path = "tests/sealed_unit.rs"]
mod tests;
