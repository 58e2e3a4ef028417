//! API tokens as the replicated state knows them: the text format, its hash, the stored
//! record, and the principal a command names.
//!
//! A token reads `moor_<id>_<secret>`: the 12-hex-character id is public (logs and the
//! audit trail name it), the secret never leaves the client and the member that generated
//! it. The state keeps only `sha256(token text)`, so a snapshot, a log entry or a backup
//! holds nothing that authenticates. No type here holds a token's text, so no `Debug` or
//! error can print a secret.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
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

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What every token starts with: lets secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "moor_";
/// Length of a token id: 12 lowercase hex characters (48 random bits, public).
pub const TOKEN_ID_LEN: usize = 12;
/// Shortest secret: 43 base64url characters are 256 random bits.
pub const MIN_SECRET_LEN: usize = 43;
/// Longest secret accepted: bounds the work an unauthenticated caller can ask for.
pub const MAX_SECRET_LEN: usize = 128;

/// `hex(sha256(token))`: what the state stores for a token, computed by the member that
/// generated it and by every member that checks one.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The id of a well-formed token, or `None` (see [`parse_token`] for why).
pub fn token_id(token: &str) -> Option<&str> {
    parse_token(token).ok()
}

/// The id of `token`, or which rule of the format it breaks. The reason never quotes the
/// input: it may be a real token pasted wrong.
///
/// The id has a fixed width, so the split is by position: base64url secrets may hold `_`
/// and `-` themselves.
pub fn parse_token(token: &str) -> Result<&str, &'static str> {
    if token.is_empty() {
        return Err("the token is empty");
    }
    let rest = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or("it does not start with `moor_`")?;
    let id = rest
        .get(..TOKEN_ID_LEN)
        .filter(|id| is_token_id(id))
        .ok_or("the id after `moor_` is not 12 lowercase hex characters")?;
    let secret = rest
        .get(TOKEN_ID_LEN..)
        .and_then(|s| s.strip_prefix('_'))
        .ok_or("the id is not followed by `_` and the secret")?;
    if secret.len() < MIN_SECRET_LEN || secret.len() > MAX_SECRET_LEN {
        return Err("the secret is not 43 to 128 characters long");
    }
    if !secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("the secret holds a character outside base64url (A-Z a-z 0-9 - _)");
    }
    Ok(id)
}

/// True for a valid token id: exactly 12 lowercase hex characters.
pub fn is_token_id(id: &str) -> bool {
    id.len() == TOKEN_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// True for a stored hash: 64 lowercase hex characters.
pub(super) fn is_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One token as the cluster stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The public id (`0123456789ab`).
    pub id: String,
    /// [`token_hash`] of the whole token text.
    pub hash: String,
    /// A built-in or custom role.
    pub role: String,
    /// Deployer scope: patterns of the groups it may start rollouts on.
    pub groups: Vec<String>,
    /// Deployer scope: patterns of the blueprints it may start rollouts, executions and
    /// environments of.
    pub blueprints: Vec<String>,
    /// Who or what uses it (free text, shown by `auth token list`).
    pub description: String,
    /// `token:<id>` or `cert:<subject>` of the creator.
    pub created_by: String,
    pub created_at_ms: u64,
    /// 0: never expires.
    pub expires_at_ms: u64,
    /// When it was revoked (the first revocation; a second changes nothing).
    pub revoked_at_ms: Option<u64>,
}

impl TokenRecord {
    /// True once `now_ms` has reached the expiry time (never, for 0).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms != 0 && now_ms >= self.expires_at_ms
    }
}

/// Who sent a request, as the member that received it established it; carried in audited
/// commands so that apply can check the identity again at the entry's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Principal {
    /// An API token, by its public id (the member checked the secret).
    Token { id: String },
    /// A client certificate verified by TLS at the member: its CN is the subject, its
    /// Organization names the role (as Kubernetes does).
    Cert { subject: String, role: String },
}

impl Principal {
    /// `token:<id>` or `cert:<subject>`: how identities appear in the audit log.
    pub fn who(&self) -> String {
        match self {
            Principal::Token { id } => format!("token:{id}"),
            Principal::Cert { subject, .. } => format!("cert:{subject}"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A well-formed token for tests: id + a 43-character secret derived from `seed`.
    pub(crate) fn token(id: &str, seed: char) -> String {
        format!("moor_{id}_{}", seed.to_string().repeat(MIN_SECRET_LEN))
    }

    #[test]
    fn hash_is_sha256_hex_of_the_whole_text() {
        // sha256("abc"), the FIPS 180-2 test vector.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_hash(&token_hash("moor_x")));
    }

    #[test]
    fn well_formed_tokens_parse_to_their_id() {
        let t = token("0123456789ab", 'Q');
        assert_eq!(token_id(&t), Some("0123456789ab"));
        // base64url secrets may hold `_` and `-`: the id's width decides the split.
        let t = format!("moor_0123456789ab__-{}", "a".repeat(41));
        assert_eq!(token_id(&t), Some("0123456789ab"));
    }

    #[test]
    fn malformed_tokens_are_refused_with_the_rule_they_break() {
        let secret = "s".repeat(43);
        let cases = [
            (String::new(), "empty"),
            (format!("0123456789ab_{secret}"), "moor_"),
            (format!("Moor_0123456789ab_{secret}"), "moor_"),
            (format!("moor_0123456789a_{secret}"), "12 lowercase hex"),
            (format!("moor_0123456789AB_{secret}"), "12 lowercase hex"),
            (format!("moor_0123456789xz_{secret}"), "12 lowercase hex"),
            (format!("moor__0123456789ab_{secret}"), "12 lowercase hex"),
            (format!("moor_0123_56789ab_{secret}"), "12 lowercase hex"),
            (format!("moor_0123456789abc_{secret}"), "followed by `_`"),
            ("moor_0123456789ab".to_string(), "followed by `_`"),
            ("moor_0123456789ab_short".to_string(), "43 to 128"),
            (
                format!("moor_0123456789ab_{}", "s".repeat(129)),
                "43 to 128",
            ),
            (
                format!("moor_0123456789ab_{}=", "s".repeat(43)),
                "base64url",
            ),
            (
                format!("moor_0123456789ab_{}é", "s".repeat(42)),
                "base64url",
            ),
            ("moor_é".to_string(), "12 lowercase hex"),
        ];
        for (text, want) in cases {
            let err = parse_token(&text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains(&secret));
            assert_eq!(token_id(&text), None);
        }
    }

    #[test]
    fn expiry_zero_is_never() {
        let mut r = TokenRecord {
            id: "0123456789ab".into(),
            hash: token_hash("x"),
            role: "viewer".into(),
            groups: vec![],
            blueprints: vec![],
            description: String::new(),
            created_by: "cert:admin".into(),
            created_at_ms: 1,
            expires_at_ms: 0,
            revoked_at_ms: None,
        };
        assert!(!r.is_expired(u64::MAX));
        r.expires_at_ms = 10;
        assert!(!r.is_expired(9));
        assert!(r.is_expired(10));
        let who = Principal::Token { id: r.id.clone() }.who();
        assert_eq!(who, "token:0123456789ab");
    }
}
