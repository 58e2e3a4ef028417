//! Sealed values: a secret a member stored sealed with the cluster's secrets key is, in every
//! read, the token `[moor-sealed:v1:<key id>:<fingerprint>:<payload>]`. Tables show it as
//! `<sealed with key KEY-ID>`: the payload means nothing to a person and is long. Machine
//! formats keep the token (it is the stored value) and name the key beside it.
//!
//! moorctl links no server code, so the token's shape is read here: the same rules as the
//! members' (`domain/src/sealed.rs`), for a whole value only. A value that merely looks like
//! a token is ordinary text.

/// How every token starts.
const PREFIX: &str = "[moor-sealed:v1:";
/// How every token ends.
const SUFFIX: char = ']';
/// Length of a fingerprint in hex digits.
const FINGERPRINT_HEX: usize = 32;
/// Longest key id.
const MAX_KEY_ID: usize = 32;

/// The id of the key that sealed `value`, when the whole value is one well-formed token.
pub fn sealed_key_id(value: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(value).ok()?;
    let inner = text.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let mut parts = inner.splitn(3, ':');
    let (key_id, fingerprint, payload) = (parts.next()?, parts.next()?, parts.next()?);
    let key_ok =
        !key_id.is_empty() && key_id.len() <= MAX_KEY_ID && key_id.bytes().all(base64url_or_id);
    let fingerprint_ok = fingerprint.len() == FINGERPRINT_HEX
        && fingerprint
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let payload_ok = !payload.is_empty() && payload.bytes().all(base64url_or_id);
    (key_ok && fingerprint_ok && payload_ok).then_some(key_id)
}

/// What a table shows for a value sealed with `key_id`.
pub fn sealed_cell(key_id: &str) -> String {
    format!("<sealed with key {key_id}>")
}

/// A byte of a key id, or of base64url without padding: `[A-Za-z0-9_-]`.
fn base64url_or_id(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A well-formed token sealed with `key_id`.
    pub(crate) fn token(key_id: &str) -> String {
        format!("[moor-sealed:v1:{key_id}:0123456789abcdef0123456789abcdef:bm9uY2UtY2lwaGVy]")
    }

    #[test]
    fn whole_tokens_name_their_key() {
        assert_eq!(sealed_key_id(token("k-new").as_bytes()), Some("k-new"));
        assert_eq!(sealed_key_id(token("K_2").as_bytes()), Some("K_2"));
        assert_eq!(sealed_cell("k-new"), "<sealed with key k-new>");
    }

    #[test]
    fn look_alikes_are_ordinary_values() {
        let good = token("k1");
        let not_tokens = [
            format!("x{good}"),
            format!("{good} "),
            good.replace("0123456789abcdef0123456789abcdef", "0123"),
            good.replace(
                "0123456789abcdef0123456789abcdef",
                "0123456789ABCDEF0123456789ABCDEF",
            ),
            good.replace("bm9uY2UtY2lwaGVy", ""),
            good.replace("bm9uY2UtY2lwaGVy", "a+b/c="),
            good.replace(":k1:", "::"),
            good.replace(":k1:", &format!(":{}:", "k".repeat(33))),
            good.replace("v1", "v2"),
            "[moor-sealed:v1:k1]".to_string(),
        ];
        for v in not_tokens {
            assert_eq!(sealed_key_id(v.as_bytes()), None, "{v}");
        }
        assert_eq!(sealed_key_id(&[0xff, 0xfe]), None);
    }
}
