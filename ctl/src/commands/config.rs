//! `moorctl config`: view, list, pick, create, update and delete contexts in moorctl's
//! config file. Needs no member; the file is written atomically with mode 0600.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::cli::{ConfigCommand, ConnArgs, OutputFormat, SetContextArgs};
use crate::client::Transport;
use crate::settings::{absolute, config_path, resolve, ConfigFile, Context, ProcessEnv};
use crate::views::config::{ConfigView, ContextRow, ContextsView, EffectiveView};
use crate::views::message::MessageView;
use crate::views::show;

pub(super) fn run(command: ConfigCommand, conn: &ConnArgs, format: OutputFormat) -> Result<()> {
    let path = config_path(conn.config.as_deref(), &ProcessEnv)?;
    let loaded = ConfigFile::load(&path)?;
    let exists = loaded.is_some();
    let mut file = loaded.unwrap_or_default();
    let message = match command {
        ConfigCommand::View { effective: false } => {
            let path = path.display().to_string();
            return show(&ConfigView { path, exists, file }, format);
        }
        ConfigCommand::View { effective: true } => return show(&effective(conn)?, format),
        ConfigCommand::GetContexts => return show(&contexts(&file), format),
        ConfigCommand::UseContext { name } => {
            if file.context(&name).is_none() {
                bail!(
                    "there is no context {name} in {} (contexts: {}); `moorctl config \
                     set-context {name} --endpoints ...` creates it",
                    path.display(),
                    file.names()
                );
            }
            file.current_context = Some(name.clone());
            format!("switched to context {name}")
        }
        ConfigCommand::SetContext(args) => set_context(&mut file, args, conn),
        ConfigCommand::DeleteContext { name } => {
            let before = file.contexts.len();
            file.contexts.retain(|c| c.name != name);
            if file.contexts.len() == before {
                bail!(
                    "there is no context {name} in {} (contexts: {})",
                    path.display(),
                    file.names()
                );
            }
            if file.current_context.as_deref() == Some(&name) {
                file.current_context = None;
                format!(
                    "context {name} deleted; it was the current one, so there is none now \
                     (`moorctl config use-context NAME`)"
                )
            } else {
                format!("context {name} deleted")
            }
        }
    };
    file.save(&path)?;
    show(&MessageView { message }, format)
}

/// `config set-context`: creates or updates the context with what the command line gives.
fn set_context(file: &mut ConfigFile, args: SetContextArgs, conn: &ConnArgs) -> String {
    let created = file.context(&args.name).is_none();
    if created {
        file.contexts.push(Context {
            name: args.name.clone(),
            ..Default::default()
        });
    }
    let ctx = file
        .contexts
        .iter_mut()
        .find(|c| c.name == args.name)
        .expect("created above");
    let path = |flag: &str, p: &Option<PathBuf>| {
        let p = p.as_deref().filter(|_| conn.given(flag))?;
        warn_if_missing(p);
        Some(absolute(p))
    };
    if let Some(e) = conn.endpoints.as_ref().filter(|_| conn.given("endpoints")) {
        ctx.endpoints = e.clone();
    }
    let ca = path("ca_file", &conn.ca_file);
    let cert = path("cert_file", &conn.cert_file);
    let key = path("key_file", &conn.key_file);
    let tls_given = ca.is_some() || cert.is_some() || args.server_name.is_some();
    ctx.ca_file = ca.or(ctx.ca_file.take());
    ctx.cert_file = cert.or(ctx.cert_file.take());
    ctx.key_file = key.or(ctx.key_file.take());
    ctx.token_file = path("token_file", &conn.token_file).or(ctx.token_file.take());
    ctx.server_name = args.server_name.or(ctx.server_name.take());
    if conn.given("insecure_plaintext") {
        ctx.insecure_plaintext = true;
    } else if tls_given {
        // Giving TLS settings asks for TLS.
        ctx.insecure_plaintext = false;
    }
    let verb = if created { "created" } else { "updated" };
    if file.current_context.is_none() {
        file.current_context = Some(args.name.clone());
        format!("context {} {verb}; it is the current context", args.name)
    } else if file.current_context.as_deref() == Some(&args.name) {
        format!("context {} {verb} (the current context)", args.name)
    } else {
        format!(
            "context {} {verb}; use it with `moorctl config use-context {}` or --context {}",
            args.name, args.name, args.name
        )
    }
}

fn warn_if_missing(p: &Path) {
    if !p.exists() {
        eprintln!(
            "moorctl: warning: {} does not exist (yet); the context records it anyway",
            p.display()
        );
    }
}

/// `config get-contexts`.
fn contexts(file: &ConfigFile) -> ContextsView {
    let contexts = file
        .contexts
        .iter()
        .map(|c| {
            let mut credentials = Vec::new();
            if let Some(t) = &c.token_file {
                credentials.push(format!("token file {}", t.display()));
            }
            if let Some(cert) = &c.cert_file {
                credentials.push(format!("certificate {}", cert.display()));
            }
            ContextRow {
                current: file.current_context.as_deref() == Some(&c.name),
                name: c.name.clone(),
                endpoints: c.endpoints.clone(),
                transport: if c.insecure_plaintext {
                    "plaintext"
                } else {
                    "tls"
                },
                credentials,
            }
        })
        .collect();
    ContextsView { contexts }
}

/// `config view --effective`: the settings resolved as a command would resolve them.
fn effective(conn: &ConnArgs) -> Result<EffectiveView> {
    let s = resolve(conn, &ProcessEnv)?;
    let shown = |p: &Path| Some(p.display().to_string());
    let (transport, ca_file, cert_file, server_name) = match &s.security.transport {
        Transport::Plaintext => ("plaintext", None, None, None),
        Transport::Tls(t) => (
            "tls",
            shown(&t.ca_file),
            t.cert_file.as_deref().and_then(shown),
            t.server_name.clone(),
        ),
    };
    Ok(EffectiveView {
        config_file: s.config_file.display().to_string(),
        context: s.context,
        endpoints: s.endpoints,
        endpoints_from: s.endpoints_from,
        transport,
        ca_file,
        cert_file,
        server_name,
        token_from: s.token_from,
    })
}
