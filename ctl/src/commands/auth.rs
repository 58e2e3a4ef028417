//! `moorctl auth`: create, list and revoke tokens, define roles, and say who the
//! credentials in use are.
//!
//! A created token is printed once, alone on standard output (so `$(moorctl auth token
//! create ...)` is the token), or written to `--out` (mode 0600) with only its id printed.
//! The file is reserved before the token is created, so a token is never created that
//! cannot be saved.

use anyhow::{Context as _, Result};
use moor_proto::auth as pb;

use super::hints::CallContext;
use crate::cli::{AuthCommand, OutputFormat, RoleCommand, TokenCommand, TokenCreateArgs};
use crate::client::{Client, TokenSpec};
use crate::settings::{absolute, PrivateFile};
use crate::views::auth::{
    RoleListView, RoleView, TokenCreatedView, TokenListView, TokenView, WhoAmIView,
};
use crate::views::message::MessageView;
use crate::views::show;
use crate::views::time::utc;

pub(super) async fn run(
    command: AuthCommand,
    client: &mut Client,
    format: OutputFormat,
) -> Result<()> {
    match command {
        AuthCommand::Token(TokenCommand::Create(a)) => create(a, client, format).await,
        AuthCommand::Token(TokenCommand::List { all }) => {
            let r = client
                .list_tokens(all)
                .await
                .or_say(|| "cannot list tokens".into())?;
            let tokens = r.tokens.iter().map(TokenView::from).collect();
            show(&TokenListView { tokens }, format)
        }
        AuthCommand::Token(TokenCommand::Revoke { id }) => {
            let r = client
                .revoke_token(id.clone())
                .await
                .or_say(|| format!("cannot revoke token {id}"))?;
            let message = match r.info {
                Some(i) if i.revoked_at_ms > 0 => {
                    format!("token {id} revoked at {}", utc(i.revoked_at_ms))
                }
                _ => format!("token {id} revoked"),
            };
            show(&MessageView { message }, format)
        }
        AuthCommand::Whoami => {
            let r = client
                .whoami()
                .await
                .or_say(|| "cannot ask who these credentials are".into())?;
            show(&WhoAmIView::from(&r), format)
        }
        AuthCommand::Role(r) => role(r, client, format).await,
    }
}

/// `auth token create`.
async fn create(a: TokenCreateArgs, client: &mut Client, format: OutputFormat) -> Result<()> {
    let file = match &a.out {
        Some(out) => Some(
            PrivateFile::reserve(out, a.force, "--force")
                .context("--out: no token was created, it could not be saved")?,
        ),
        None => None,
    };
    let spec = TokenSpec {
        role: a.role.clone(),
        groups: a.groups,
        blueprints: a.blueprints,
        ttl_seconds: a.ttl.seconds(),
        description: a.description.unwrap_or_default(),
    };
    let r = client
        .create_token(spec)
        .await
        .or_say(|| format!("cannot create a token with role {}", a.role))?;
    let info = TokenView::from(&r.info.unwrap_or_default());
    let Some(file) = file else {
        eprintln!(
            "moorctl: token {} created (role {}, expires {}); it is shown only this once",
            info.id,
            info.role,
            if info.expires_ms == 0 {
                "never".into()
            } else {
                utc(info.expires_ms)
            }
        );
        let view = TokenCreatedView {
            token: Some(r.token),
            file: None,
            info,
        };
        return show(&view, format);
    };
    let shown = absolute(file.path()).display().to_string();
    file.commit(format!("{}\n", r.token).as_bytes())
        .with_context(|| {
            format!(
                "token {} was created but could not be written to {shown}; revoke it with \
             `moorctl auth token revoke {}`",
                info.id, info.id
            )
        })?;
    let view = TokenCreatedView {
        token: None,
        file: Some(shown),
        info,
    };
    show(&view, format)
}

/// `auth role put / list / delete`.
async fn role(command: RoleCommand, client: &mut Client, format: OutputFormat) -> Result<()> {
    match command {
        RoleCommand::Put {
            name,
            operations,
            names,
        } => {
            let role = pb::Role {
                name: name.clone(),
                operations,
                names,
                builtin: false,
            };
            let r = client
                .put_role(role)
                .await
                .or_say(|| format!("cannot put role {name}"))?;
            show(&RoleView::from(&r), format)
        }
        RoleCommand::List => {
            let r = client
                .list_roles()
                .await
                .or_say(|| "cannot list roles".into())?;
            let roles = r.roles.iter().map(RoleView::from).collect();
            show(&RoleListView { roles }, format)
        }
        RoleCommand::Delete { name } => {
            client
                .delete_role(name.clone())
                .await
                .or_say(|| format!("cannot delete role {name}"))?;
            let message = format!("role {name} deleted");
            show(&MessageView { message }, format)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::fake::{cli_for, count, serve, Mode, FAKE_TOKEN};

    #[tokio::test]
    async fn a_token_created_with_out_is_written_0600_and_not_printed() {
        let m = serve(Mode::Ok, None).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ci.token");
        let out_s = out.to_str().unwrap();
        let args = [
            "auth", "token", "create", "--role", "viewer", "--out", out_s,
        ];
        crate::commands::run(cli_for(&m.addr, &args)).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("{FAKE_TOKEN}\n")
        );
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Again: the file exists, nothing is created without --force.
        let err = crate::commands::run(cli_for(&m.addr, &args))
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("without --force"), "{err:#}");
        assert_eq!(count(&m.calls), 1);
        let mut forced = args.to_vec();
        forced.push("--force");
        crate::commands::run(cli_for(&m.addr, &forced))
            .await
            .unwrap();
        assert_eq!(count(&m.calls), 2);
    }

    #[tokio::test]
    async fn a_refused_create_is_not_retried_elsewhere() {
        let denied = serve(Mode::PermissionDenied, None).await;
        let ok = serve(Mode::Ok, None).await;
        let endpoints = format!("{},{}", denied.addr, ok.addr);
        let args = ["auth", "token", "create", "--role", "admin"];
        let err = crate::commands::run(cli_for(&endpoints, &args))
            .await
            .unwrap_err();
        assert_eq!(crate::exit::Exit::of_error(&err), crate::exit::Exit::Denied);
        let report = crate::report(&err);
        assert!(report.contains("may not call kv.put"), "{report}");
        assert!(
            report.contains("hint: these credentials may not"),
            "{report}"
        );
        assert_eq!((count(&denied.calls), count(&ok.calls)), (1, 0));
    }
}
