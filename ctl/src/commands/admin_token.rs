//! The admin token a new cluster returns (`cluster init`, `cluster bootstrap`): written to a
//! file only its owner may read, never printed; what is printed is where it is and the
//! command that makes a context use it.
//!
//! The file is reserved before the cluster is asked to initialise: an existing file (without
//! `--force`) or a directory moorctl cannot write in stops the command while nothing has
//! happened yet, so the token is never lost to a failed write. (The member also keeps it in
//! its data dir, `admin.token`.)

use anyhow::{Context as _, Result};

use crate::cli::AdminTokenArgs;
use crate::client::Transport;
use crate::settings::{absolute, PrivateFile, Settings};
use crate::views::formation::AdminTokenView;

/// Reserves `--admin-token-out`.
pub(super) fn reserve(args: &AdminTokenArgs) -> Result<PrivateFile> {
    PrivateFile::reserve(&args.admin_token_out, args.force, "--force").context(
        "--admin-token-out: refusing to initialise the cluster, its admin token could not be saved",
    )
}

/// Saves `token` (empty: the members run without authentication) to the reserved `file`,
/// and says what to do next with the `settings` in use.
pub(super) fn save(file: PrivateFile, token: &str, settings: &Settings) -> Result<AdminTokenView> {
    if token.is_empty() {
        return Ok(AdminTokenView {
            file: None,
            next: "no admin token: the members run without authentication (moord's auth \
                   settings); anyone who reaches their client address may do anything"
                .into(),
        });
    }
    let path = absolute(file.path());
    let shown = path.display().to_string();
    file.commit(format!("{token}\n").as_bytes())
        .with_context(|| format!("the cluster was initialised, but its admin token could not be written to {shown}; the member that initialised keeps a copy in its data dir (admin.token)"))?;
    Ok(AdminTokenView {
        next: format!("use it: {}", set_context_command(settings, &shown)),
        file: Some(shown),
    })
}

/// What to say when this run initialised nothing, so it got no token.
pub(super) fn none_issued() -> AdminTokenView {
    AdminTokenView {
        file: None,
        next: "no admin token from this run: the cluster existed already (the member that \
               initialised it keeps its admin token in its data dir, admin.token)"
            .into(),
    }
}

/// `moorctl config set-context NAME ... --token-file FILE && moorctl config use-context
/// NAME`, with the endpoints and TLS settings in use.
fn set_context_command(settings: &Settings, token_file: &str) -> String {
    let name = settings.context.clone().unwrap_or_else(|| "moor".into());
    let mut cmd = format!(
        "moorctl config set-context {name} --endpoints {}",
        quote(&settings.endpoints.join(","))
    );
    match &settings.security.transport {
        Transport::Tls(tls) => {
            cmd.push_str(&format!(
                " --ca-file {}",
                quote(&absolute(&tls.ca_file).display().to_string())
            ));
            if let Some(n) = &tls.server_name {
                cmd.push_str(&format!(" --server-name {}", quote(n)));
            }
        }
        Transport::Plaintext => cmd.push_str(" --insecure-plaintext"),
    }
    cmd.push_str(&format!(
        " --token-file {} && moorctl config use-context {name}",
        quote(token_file)
    ));
    cmd
}

/// `s` as one shell word.
fn quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:,@[]=+".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Security;

    #[test]
    fn the_next_step_uses_the_settings_in_use() {
        let settings = Settings {
            config_file: "/x".into(),
            context: None,
            endpoints: vec!["a:1".into(), "b:1".into()],
            endpoints_from: "--endpoints".into(),
            security: Security::plaintext(),
            token_from: None,
        };
        assert_eq!(
            set_context_command(&settings, "/tmp/my dir/moor-admin.token"),
            "moorctl config set-context moor --endpoints a:1,b:1 --insecure-plaintext \
             --token-file '/tmp/my dir/moor-admin.token' && moorctl config use-context moor"
        );
    }
}
