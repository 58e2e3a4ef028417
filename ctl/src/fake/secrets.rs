//! A fake member's secrets at rest: the token its sealed variables hold, what `PutSecret`
//! received, and the answers of `SecretsStatus` / `ResealSecrets` at three points of a key
//! rotation ([`SecretsScript`]).

use std::sync::{Arc, Mutex};

use moor_proto::api::{ResealSecretsResponse, SealedCount, SecretsStatusResponse};
use tonic::Status;

/// The value of every `secret/...` variable of a fake member: a token sealed with `k-new`.
pub const FAKE_SEALED: &str =
    "[moor-sealed:v1:k-new:0123456789abcdef0123456789abcdef:c2VhbGVkLXBheWxvYWQ]";

/// The log index a fake member's `PutSecret` answers, and the `mod_index` of its `secret/...`
/// variables (so reading one back finds that write).
pub const FAKE_SECRET_INDEX: u64 = 8;

/// `(key, value)` of each `PutSecret` a fake member received.
pub type SecretPuts = Arc<Mutex<Vec<(String, String)>>>;

/// Where a fake member's key rotation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretsScript {
    /// Keys `k-new` (sealing) and `k-old`; an environment input and a running step still
    /// under `k-old`; reseal moves some but not the running step's.
    Rotating,
    /// Everything under `k-new`, `k-old` still in the file; reseal has nothing to move.
    Resealed,
    /// `k-old` removed from the file while a variable is still under it; reseal cannot
    /// open it.
    KeyMissing,
}

fn count(key_id: &str, known: bool) -> SealedCount {
    SealedCount {
        key_id: key_id.into(),
        known,
        ..Default::default()
    }
}

/// `SecretsStatus` at `script`.
pub fn status(script: SecretsScript) -> SecretsStatusResponse {
    let new = SealedCount {
        variables: 2,
        environment_inputs: 5,
        ..count("k-new", true)
    };
    let (keys, old) = match script {
        SecretsScript::Rotating => (
            vec!["k-new", "k-old"],
            Some(SealedCount {
                environment_inputs: 1,
                running_steps: 1,
                ..count("k-old", true)
            }),
        ),
        SecretsScript::Resealed => (vec!["k-new", "k-old"], None),
        SecretsScript::KeyMissing => (
            vec!["k-new"],
            Some(SealedCount {
                variables: 1,
                ..count("k-old", false)
            }),
        ),
    };
    SecretsStatusResponse {
        key_file: "/etc/moor/secrets.keys".into(),
        keys: keys.into_iter().map(String::from).collect(),
        sealed: std::iter::once(new).chain(old).collect(),
        clear_secret_inputs: 0,
        read_index: 9,
    }
}

/// `ResealSecrets` at `script`.
pub fn reseal(script: SecretsScript) -> Result<ResealSecretsResponse, Status> {
    let remaining = match script {
        SecretsScript::Rotating => vec![
            "1 value(s) under key k-old in steps of running executions: they keep it until they end".into(),
        ],
        SecretsScript::Resealed => Vec::new(),
        SecretsScript::KeyMissing => {
            return Err(Status::failed_precondition(
                "variable db/old is sealed with key k-old, which is not in the key file \
                 /etc/moor/secrets.keys: put it back to open the value",
            ))
        }
    };
    let moved = u64::from(script == SecretsScript::Rotating);
    Ok(ResealSecretsResponse {
        sealing_key: "k-new".into(),
        variables: moved,
        environment_values: 3 * moved,
        remaining,
    })
}
