//! The admin token a new cluster returns (`cluster init`, `cluster bootstrap`): written to a
//! file only its owner may read, never printed; what is printed is where it is and the
//! command that makes a context use it.
//!
//! The file is reserved before the cluster is asked to initialise, so an existing file
//! (without `--force`) stops the command while nothing has happened yet. A directory
//! moorctl cannot write in does not: members without authentication return no token at
//! all (a bootstrap job in a read-only container must still work), and the member that
//! initialised keeps the token in its data dir (`admin.token`) anyway; moorctl warns
//! before initialising and says where the token is afterwards.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use crate::cli::AdminTokenArgs;
use crate::client::Transport;
use crate::settings::{absolute, PrivateFile, Settings};
use crate::views::formation::AdminTokenView;

/// Where the admin token goes: the reserved file, or why there is none.
pub(super) struct TokenOut {
    file: Option<PrivateFile>,
    path: PathBuf,
    why_not: String,
}

/// Reserves `--admin-token-out`; fails only when it exists (without `--force`).
pub(super) fn reserve(args: &AdminTokenArgs) -> Result<TokenOut> {
    let path = absolute(&args.admin_token_out);
    match PrivateFile::reserve(&args.admin_token_out, args.force, "--force") {
        Ok(file) => Ok(TokenOut {
            file: Some(file),
            path,
            why_not: String::new(),
        }),
        Err(e) if args.admin_token_out.symlink_metadata().is_ok() && !args.force => {
            Err(e).context("--admin-token-out: nothing was initialised")
        }
        Err(e) => {
            let why_not = format!("{e:#}");
            eprintln!(
                "moorctl: warning: --admin-token-out {}: {why_not}; if the cluster returns an \
                 admin token, only the member that initialised keeps it (admin.token in its \
                 data dir)",
                path.display()
            );
            Ok(TokenOut {
                file: None,
                path,
                why_not,
            })
        }
    }
}

/// Saves `token` (empty: the members run without authentication) to the reserved file,
/// and says what to do next with the `settings` in use.
pub(super) fn save(out: TokenOut, token: &str, settings: &Settings) -> Result<AdminTokenView> {
    if token.is_empty() {
        return Ok(AdminTokenView {
            file: None,
            next: "no admin token: the members run without authentication (moord's auth \
                   settings); anyone who reaches their client address may do anything"
                .into(),
        });
    }
    let shown = out.path.display().to_string();
    let Some(file) = out.file else {
        eprintln!("moorctl: warning: the admin token was not written to {shown}");
        return Ok(AdminTokenView {
            file: None,
            next: format!(
                "the admin token could not be written to {shown} ({}); the member that \
                 initialised keeps it in its data dir (admin.token)",
                out.why_not
            ),
        });
    };
    if let Err(e) = file.commit(format!("{token}\n").as_bytes()) {
        bail!(
            "the cluster was initialised, but its admin token could not be written to \
             {shown}: {e:#}; the member that initialised keeps it in its data dir \
             (admin.token)"
        );
    }
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
