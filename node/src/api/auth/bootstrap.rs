//! The bootstrap admin token: created with the cluster (by `cluster init`, or at the first
//! start of a `--dev` / `bootstrap_single` member), returned once to whoever initialised it
//! and written to `<data_dir>/admin.token` with mode 0600. Without it nobody could create
//! the first token, since every call needs one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use moor_domain::auth::token::{token_hash, TokenRecord};
use moor_domain::auth::{AuthCommand, AuthResult};
use moor_domain::command::{Command, CommandResult};

use super::tokens;
use crate::errors::ApiError;
use crate::exec::executor::now_ms;
use crate::raft::member::Member;

/// The file the bootstrap admin token is written to.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.token")
}

/// The bootstrap token's id. Fixed, so that when `cluster bootstrap` initialises every
/// member at once, the first creation commits and the others are refused as duplicates:
/// a cluster has exactly one bootstrap token.
pub const BOOTSTRAP_TOKEN_ID: &str = "000000000000";

/// Creates the bootstrap admin token (never expires), writes it to `<data_dir>/admin.token`
/// (0600) and returns it; None when another member already created it. Retries while the
/// new cluster elects its first leader.
pub async fn create_admin_token(
    member: &Member,
    data_dir: &Path,
) -> Result<Option<String>, ApiError> {
    let (_, text) = tokens::generate_with_id(BOOTSTRAP_TOKEN_ID);
    let record = TokenRecord {
        id: BOOTSTRAP_TOKEN_ID.to_string(),
        hash: token_hash(&text),
        role: "admin".into(),
        groups: Vec::new(),
        blueprints: Vec::new(),
        description: "bootstrap admin token (created with the cluster)".into(),
        created_by: "bootstrap".into(),
        created_at_ms: now_ms(),
        expires_at_ms: 0,
        revoked_at_ms: None,
    };
    let command = Command::Auth(AuthCommand::CreateToken { record });
    let mut attempts = 0;
    let result = loop {
        match member.write(command.clone()).await {
            Ok((_, r)) => break r,
            // A cluster that was just initialised may not have a leader yet.
            Err(
                ApiError::NoLeader { .. }
                | ApiError::NotLeader { .. }
                | ApiError::Unavailable { .. },
            ) if attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    };
    match result {
        CommandResult::Auth(AuthResult::Token(_)) => {}
        // Another member of the same bootstrap created it first.
        CommandResult::Auth(AuthResult::Refused(reason)) if reason.contains("exists already") => {
            tracing::info!("the bootstrap admin token was created by another member");
            return Ok(None);
        }
        other => {
            return Err(ApiError::Internal(format!(
                "the bootstrap admin token was not stored: {other:?}"
            )))
        }
    }
    let path = token_path(data_dir);
    moor_tls::dev::write_private(&path, format!("{text}\n").as_bytes())
        .map_err(|e| ApiError::Internal(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), "bootstrap admin token written (mode 0600)");
    Ok(Some(text))
}
