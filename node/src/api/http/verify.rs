//! Is a webhook delivery authentic? Checked on the raw body before anything parses it, with
//! constant-time comparisons (`hmac`'s `verify_slice`, `subtle` for tokens), so neither a
//! forged body nor timing tells an attacker anything but "refused".
//!
//! - GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body with the secret.
//! - GitLab: `X-Gitlab-Token` equal to the secret; or the signed format (`webhook-id`,
//!   `webhook-timestamp`, `webhook-signature`), checked as Standard Webhooks.
//! - Standard Webhooks: `webhook-signature: v1,<base64>` (several, space-separated, during a
//!   key rotation) over `{webhook-id}.{webhook-timestamp}.{body}`, the key being the secret
//!   after `whsec_` base64-decoded, or the secret's bytes; the timestamp within the
//!   receiver's tolerance of this member's clock, so a captured delivery cannot be replayed
//!   later (a replay within the window carries the same id and is deduplicated).
//!
//! Each check also yields the delivery's id, the key of exactly-once.

use base64::Engine;
use hmac::{Hmac, Mac};
use moor_domain::hooks::receiver::{ReceiverKind, ReceiverSpec};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tonic::codegen::http::HeaderMap;

use super::Refusal;

/// Longest delivery id accepted.
pub const MAX_ID_BYTES: usize = 200;

type HmacSha256 = Hmac<Sha256>;

/// Checks `body` against `receiver`'s secret; the delivery id on success.
pub fn verify(
    receiver: &ReceiverSpec,
    headers: &HeaderMap,
    body: &[u8],
    now_s: u64,
) -> Result<String, Refusal> {
    match receiver.kind {
        ReceiverKind::Github => github(receiver, headers, body),
        ReceiverKind::Gitlab => {
            if headers.contains_key("webhook-signature") {
                standard(receiver, headers, body, now_s)
            } else {
                gitlab_token(receiver, headers)
            }
        }
        ReceiverKind::Standard => standard(receiver, headers, body, now_s),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn delivery_id(headers: &HeaderMap, names: &[&str]) -> Result<String, Refusal> {
    let id = names
        .iter()
        .find_map(|n| header(headers, n).filter(|v| !v.is_empty()))
        .ok_or_else(|| {
            Refusal::bad_request(format!(
                "no delivery id: the request has none of the headers {}; it is needed to record the delivery exactly once",
                names.join(", ")
            ))
        })?;
    if id.len() > MAX_ID_BYTES {
        return Err(Refusal::bad_request(format!(
            "the delivery id is {} bytes; at most {MAX_ID_BYTES} are accepted",
            id.len()
        )));
    }
    Ok(id.to_string())
}

fn github(receiver: &ReceiverSpec, headers: &HeaderMap, body: &[u8]) -> Result<String, Refusal> {
    let Some(sig) = header(headers, "x-hub-signature-256") else {
        return Err(Refusal::unauthorized(
            "missing X-Hub-Signature-256: set the webhook's secret in GitHub to the receiver's secret",
        ));
    };
    let hex = sig
        .strip_prefix("sha256=")
        .ok_or_else(|| Refusal::unauthorized("X-Hub-Signature-256 must be sha256=<hex digest>"))?;
    let expected = decode_hex(hex)
        .ok_or_else(|| Refusal::unauthorized("X-Hub-Signature-256 is not a hex digest"))?;
    let mut mac = HmacSha256::new_from_slice(receiver.secret.as_bytes())
        .map_err(|_| Refusal::internal("the receiver's secret cannot key an HMAC"))?;
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| {
        Refusal::unauthorized(
            "the signature does not match the body: the secrets differ, or the body was changed on the way",
        )
    })?;
    delivery_id(headers, &["x-github-delivery"])
}

fn gitlab_token(receiver: &ReceiverSpec, headers: &HeaderMap) -> Result<String, Refusal> {
    let Some(token) = header(headers, "x-gitlab-token") else {
        return Err(Refusal::unauthorized(
            "missing X-Gitlab-Token (or a webhook-signature): set the webhook's secret token in GitLab to the receiver's secret",
        ));
    };
    if !bool::from(token.as_bytes().ct_eq(receiver.secret.as_bytes())) {
        return Err(Refusal::unauthorized(
            "X-Gitlab-Token does not match the receiver's secret",
        ));
    }
    delivery_id(
        headers,
        &[
            "idempotency-key",
            "x-gitlab-event-uuid",
            "x-gitlab-webhook-uuid",
        ],
    )
}

fn standard(
    receiver: &ReceiverSpec,
    headers: &HeaderMap,
    body: &[u8],
    now_s: u64,
) -> Result<String, Refusal> {
    let id = delivery_id(headers, &["webhook-id"])?;
    let Some(ts_text) = header(headers, "webhook-timestamp") else {
        return Err(Refusal::unauthorized("missing webhook-timestamp"));
    };
    let ts: u64 = ts_text.parse().map_err(|_| {
        Refusal::unauthorized("webhook-timestamp must be whole seconds since the Unix epoch")
    })?;
    let skew = now_s.abs_diff(ts);
    if skew > receiver.tolerance_s() {
        return Err(Refusal::unauthorized(format!(
            "webhook-timestamp is {skew} s from this member's clock, beyond the receiver's tolerance of {} s: check the sender's clock, or this is a replayed delivery",
            receiver.tolerance_s()
        )));
    }
    let Some(signatures) = header(headers, "webhook-signature") else {
        return Err(Refusal::unauthorized("missing webhook-signature"));
    };
    let key = signing_key(&receiver.secret);
    let mut mac = HmacSha256::new_from_slice(&key)
        .map_err(|_| Refusal::internal("the receiver's secret cannot key an HMAC"))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts_text.as_bytes());
    mac.update(b".");
    mac.update(body);
    let engine = base64::engine::general_purpose::STANDARD;
    let any = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| engine.decode(b64).ok())
        .any(|sig| mac.clone().verify_slice(&sig).is_ok());
    if !any {
        return Err(Refusal::unauthorized(
            "no v1 signature in webhook-signature matches: the signing keys differ, or the body, id or timestamp was changed on the way",
        ));
    }
    Ok(id)
}

/// A Standard Webhooks key: `whsec_<base64>` decoded, else the secret's own bytes.
fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
#[path = "tests/verify.rs"]
mod tests;
