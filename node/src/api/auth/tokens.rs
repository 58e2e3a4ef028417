//! Token text: `moor_<12 hex id>_<43 base64url characters of secret>`, 256 random bits from
//! rand's thread generator (ChaCha, seeded by the operating system). Only the member that creates a token ever sees the
//! text; the replicated state keeps its SHA-256.

use base64::Engine;
use rand::RngCore;

/// A new token's id and text.
pub fn generate() -> (String, String) {
    let mut id = [0u8; 6];
    rand::rng().fill_bytes(&mut id);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    generate_with_id(&id)
}

/// A new token with a given id (12 lowercase hex characters) and a fresh secret.
pub fn generate_with_id(id: &str) -> (String, String) {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    (id.to_string(), format!("moor_{id}_{secret}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let (id, text) = generate();
        assert_eq!(moor_domain::auth::token::token_id(&text), Some(id.as_str()));
        let (id2, text2) = generate();
        assert_ne!(id, id2);
        assert_ne!(text, text2);
    }
}
