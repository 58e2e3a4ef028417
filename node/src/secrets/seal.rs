//! Sealing a secret value into a token, and opening tokens back into values.
//!
//! A token ([`moor_domain::sealed`]) holds the AES-256-GCM encryption of the value's JSON
//! (so a sealed number opens as a number), a fresh random nonce each time, with the key id
//! and the fingerprint as associated data (neither can be swapped onto another payload).
//! The fingerprint is an HMAC of the JSON under a key derived from the sealing key.

use base64::Engine as _;
use ring::aead::{Aad, Nonce, NONCE_LEN};
use ring::hmac;
use ring::rand::{SecureRandom as _, SystemRandom};
use serde_json::Value;

use moor_domain::sealed;

use super::keys::{Key, Keyring};

/// Why a token could not be opened (never holds the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(
        "a secret is sealed with key {key_id}, which the secrets key file no longer holds: \
         put that key back into the file on every member (keys: {known})"
    )]
    UnknownKey { key_id: String, known: String },
    #[error(
        "a secret sealed with key {key_id} does not open (damaged, or the key under that id \
         changed): re-submit the value"
    )]
    Damaged { key_id: String },
}

/// The token for `value` under the sealing key.
pub fn seal(ring: &Keyring, value: &Value) -> Result<String, String> {
    seal_with(ring.sealing(), value, None)
}

/// Seals with `key`; `fingerprint` keeps a re-sealed value's fingerprint (and so every
/// digest that includes it) unchanged.
pub(crate) fn seal_with(
    key: &Key,
    value: &Value,
    fingerprint: Option<&str>,
) -> Result<String, String> {
    let json = value.to_string();
    let fingerprint = match fingerprint {
        Some(fp) => fp.to_string(),
        None => fingerprint_of(key, json.as_bytes()),
    };
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| "the system's random source failed".to_string())?;
    let mut sealed_bytes = json.into_bytes();
    key.aead
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(&key.id, &fingerprint)),
            &mut sealed_bytes,
        )
        .map_err(|_| "sealing failed".to_string())?;
    let mut payload = nonce.to_vec();
    payload.extend_from_slice(&sealed_bytes);
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
    Ok(sealed::format(&key.id, &fingerprint, &text))
}

fn fingerprint_of(key: &Key, json: &[u8]) -> String {
    let tag = hmac::sign(&key.fingerprint, json);
    tag.as_ref()
        .iter()
        .take(sealed::FINGERPRINT_HEX / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn aad(key_id: &str, fingerprint: &str) -> Vec<u8> {
    format!("moor-sealed:v1:{key_id}:{fingerprint}").into_bytes()
}

/// The value a token holds.
pub fn open_token(ring: &Keyring, token: &sealed::Token<'_>) -> Result<Value, OpenError> {
    let key = ring
        .get(token.key_id)
        .ok_or_else(|| OpenError::UnknownKey {
            key_id: token.key_id.to_string(),
            known: ring.ids().join(", "),
        })?;
    let damaged = || OpenError::Damaged {
        key_id: token.key_id.to_string(),
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.payload)
        .map_err(|_| damaged())?;
    if bytes.len() < NONCE_LEN {
        return Err(damaged());
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| damaged())?;
    let mut buffer = ciphertext.to_vec();
    let plain = key
        .aead
        .open_in_place(
            nonce,
            Aad::from(aad(token.key_id, token.fingerprint)),
            &mut buffer,
        )
        .map_err(|_| damaged())?;
    serde_json::from_slice(plain).map_err(|_| damaged())
}

/// `text` with every token opened: a string that is one token becomes the sealed value
/// (any JSON type); tokens inside longer text become the value's text (a string as is,
/// anything else as JSON), the way rendering joins values into text.
pub fn open_str(ring: &Keyring, text: &str) -> Result<Value, OpenError> {
    let found = sealed::tokens(text);
    if found.is_empty() {
        return Ok(Value::String(text.to_string()));
    }
    if let [only] = found.as_slice() {
        if only.start == 0 && only.end == text.len() {
            return open_token(ring, only);
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for token in &found {
        out.push_str(text.get(at..token.start).unwrap_or_default());
        match open_token(ring, token)? {
            Value::String(s) => out.push_str(&s),
            other => out.push_str(&other.to_string()),
        }
        at = token.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    Ok(Value::String(out))
}

/// `value` with every token in it opened (see [`open_str`]).
pub fn open_value(ring: &Keyring, value: &Value) -> Result<Value, OpenError> {
    Ok(match value {
        Value::String(text) if text.contains(sealed::PREFIX) => open_str(ring, text)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| open_value(ring, i))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), open_value(ring, v)?)))
                .collect::<Result<_, OpenError>>()?,
        ),
        other => other.clone(),
    })
}

/// `properties` with their sealed secrets opened with the member's keys, for a call to a
/// site; an error (never holding a value) says what the operator must fix.
pub fn open_properties(
    keys: Option<&super::SecretKeys>,
    properties: &Value,
) -> Result<Value, String> {
    if !holds_sealed(properties) {
        return Ok(properties.clone());
    }
    let Some(keys) = keys else {
        return Err(
            "this step holds a sealed secret, but this member has no secrets key \
                    file: set secrets.key_file (the file the other members use)"
                .into(),
        );
    };
    open_value(&keys.current(), properties).map_err(|e| e.to_string())
}

/// Whether a sealed token sits anywhere in `value` (the domain's one definition).
pub use moor_domain::sealed::in_value as holds_sealed;

/// `token` sealed again under the current sealing key, its fingerprint kept (so no digest
/// changes). `None` when it already is under the sealing key.
pub fn reseal(ring: &Keyring, token: &sealed::Token<'_>) -> Result<Option<String>, OpenError> {
    if token.key_id == ring.sealing().id {
        return Ok(None);
    }
    let value = open_token(ring, token)?;
    seal_with(ring.sealing(), &value, Some(token.fingerprint))
        .map(Some)
        .map_err(|_| OpenError::Damaged {
            key_id: token.key_id.to_string(),
        })
}

#[cfg(test)]
#[path = "tests/seal_unit.rs"]
mod tests;
