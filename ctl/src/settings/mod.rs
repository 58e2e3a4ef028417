//! The settings a command runs with, resolved once from, in this order:
//!
//! 1. the flags, then their environment variables (clap does this part);
//! 2. the context: `--context` / `MOORCTL_CONTEXT`, else the config file's
//!    `current_context` (`file.rs`; where the file is: `paths.rs`);
//! 3. the defaults: endpoint `127.0.0.1:7401`, TLS, no token.
//!
//! The token comes from `--token-file` / `MOOR_TOKEN_FILE`, else `MOOR_TOKEN`, else the
//! context's `token_file`. TLS is the default: plaintext only with `--insecure-plaintext`
//! (or a context's `insecure_plaintext`, unless a TLS flag is given), and TLS needs the CA
//! that signs the members' certificates (`--ca-file` or the context's `ca_file`).
//! A client certificate and its key come as a pair, from the flags or from the context.
//!
//! Every error here ends moorctl with exit code 2 before anything is sent, naming the file
//! or value, where it was named, and what to do.
//!
//! Why a folder: the file, its paths, the private files moorctl writes, and reading the
//! credentials are each a job; this file only decides which setting wins.

mod credentials;
mod file;
mod paths;
mod private_file;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use crate::cli::{ConnArgs, DEFAULT_ENDPOINT};
use crate::client::{Security, Token, Transport};
use crate::exit::{Exit, Failure};
use credentials::{Named, Origin};

pub use file::{ConfigFile, Context};
pub use paths::{absolute, config_path, Env, ProcessEnv};
pub use private_file::{readable_by_others, PrivateFile};

/// What a command runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file consulted (it may not exist).
    pub config_file: PathBuf,
    /// The context used, if any.
    pub context: Option<String>,
    pub endpoints: Vec<String>,
    /// Where the endpoints came from.
    pub endpoints_from: String,
    pub security: Security,
    /// Where the token came from (never the token).
    pub token_from: Option<String>,
}

/// [`Settings::config_file`] when neither HOME nor XDG_CONFIG_HOME is set.
const NO_HOME: &str = "(none: neither HOME nor XDG_CONFIG_HOME is set)";

/// [`Settings::endpoints_from`] when neither a flag, its variable nor a context gave them.
const DEFAULTED: &str = "default";

impl Settings {
    /// True when the endpoints are the last-resort default, given by nobody.
    pub fn endpoints_defaulted(&self) -> bool {
        self.endpoints_from == DEFAULTED
    }
}

/// Resolves the settings of `conn` with the environment `env`. Errors are usage errors.
pub fn resolve(conn: &ConnArgs, env: &dyn Env) -> Result<Settings> {
    resolve_inner(conn, env).map_err(|e| Failure::new(Exit::Usage, format!("{e:#}")).into())
}

fn resolve_inner(conn: &ConnArgs, env: &dyn Env) -> Result<Settings> {
    let (config_file, file) = match config_path(conn.config.as_deref(), env) {
        Ok(path) => {
            let file = ConfigFile::load(&path)?.unwrap_or_default();
            (path, file)
        }
        // No home (a bare service environment): no file, unless a context is asked for.
        Err(_) if conn.context.is_none() => (PathBuf::from(NO_HOME), ConfigFile::default()),
        Err(e) => return Err(e),
    };
    let ctx = select(conn.context.as_deref(), &file, &config_file)?;
    let (endpoints, endpoints_from) = match (&conn.endpoints, ctx) {
        (Some(e), _) => (e.clone(), "--endpoints".to_string()),
        (None, Some(c)) if !c.endpoints.is_empty() => {
            (c.endpoints.clone(), format!("context {}", c.name))
        }
        _ => (vec![DEFAULT_ENDPOINT.to_string()], DEFAULTED.to_string()),
    };
    let at = |p: &Path| paths::in_file(p, &config_file, env);
    let transport = transport(conn, ctx, &at)?;
    let (token, token_from) = token(conn, ctx, env, &at)?;
    if token.is_some() && matches!(transport, Transport::Plaintext) {
        if let Some(e) = endpoints.iter().find(|e| !loopback(e)) {
            eprintln!(
                "moorctl: warning: sending the token without TLS to {e}: anyone on the \
                 network path can read it"
            );
        }
    }
    Ok(Settings {
        config_file,
        context: ctx.map(|c| c.name.clone()),
        endpoints,
        endpoints_from,
        security: Security { transport, token },
        token_from,
    })
}

/// The context to use: named by `--context`, else the file's current one, else none.
fn select<'a>(
    flag: Option<&str>,
    file: &'a ConfigFile,
    path: &Path,
) -> Result<Option<&'a Context>> {
    let shown = path.display();
    let (name, from_flag) = match (flag, &file.current_context) {
        (Some(n), _) => (n, true),
        (None, Some(n)) => (n.as_str(), false),
        (None, None) => return Ok(None),
    };
    match file.context(name) {
        Some(c) => Ok(Some(c)),
        None if from_flag => bail!(
            "--context {name}: there is no such context in {shown} (contexts: {}); \
             `moorctl config set-context {name} --endpoints ...` creates it",
            file.names()
        ),
        None => bail!(
            "{shown}: the current context {name} does not exist (contexts: {}); pick one \
             with `moorctl config use-context NAME`",
            file.names()
        ),
    }
}

/// TLS or plaintext, and TLS's files.
fn transport(
    conn: &ConnArgs,
    ctx: Option<&Context>,
    at: &dyn Fn(&Path) -> PathBuf,
) -> Result<Transport> {
    let ctx_plain = ctx.is_some_and(|c| c.insecure_plaintext) && !conn.asks_for_tls();
    if conn.insecure_plaintext || ctx_plain {
        return Ok(Transport::Plaintext);
    }
    let from_ctx = |key: &'static str, p: &Option<PathBuf>| {
        let c = ctx?;
        p.as_ref().map(|p| Named {
            path: at(p),
            origin: Origin::Context(c.name.clone(), key),
        })
    };
    let flag = |f: &'static str, p: &Option<PathBuf>| {
        p.as_ref().map(|p| Named {
            path: p.clone(),
            origin: Origin::Flag(f),
        })
    };
    let ca = flag("--ca-file", &conn.ca_file)
        .or_else(|| from_ctx("ca_file", &ctx?.ca_file))
        .ok_or_else(|| {
            anyhow!(
                "TLS needs the CA certificate that signs the members' certificates: give \
                 --ca-file FILE (MOOR_CA_FILE), or pick a context that has one (`moorctl \
                 config use-context NAME`); for a member started without TLS, on a trusted \
                 network only, --insecure-plaintext"
            )
        })?;
    // The flags give the pair (clap requires both), else the context does.
    let pair = match (
        flag("--cert-file", &conn.cert_file),
        flag("--key-file", &conn.key_file),
    ) {
        (Some(c), Some(k)) => Some((c, k)),
        _ => match ctx {
            Some(c) => match (
                from_ctx("cert_file", &c.cert_file),
                from_ctx("key_file", &c.key_file),
            ) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => bail!(
                    "context {} has one of cert_file and key_file but not the other; give \
                     both with `moorctl config set-context {} --cert-file FILE --key-file FILE`",
                    c.name,
                    c.name
                ),
            },
            None => None,
        },
    };
    let server_name = conn
        .tls_server_name
        .clone()
        .or_else(|| ctx.and_then(|c| c.server_name.clone()));
    let tls = credentials::tls(&ca, pair.as_ref().map(|(c, k)| (c, k)), server_name)?;
    Ok(Transport::Tls(Box::new(tls)))
}

/// The token and where it came from.
fn token(
    conn: &ConnArgs,
    ctx: Option<&Context>,
    env: &dyn Env,
    at: &dyn Fn(&Path) -> PathBuf,
) -> Result<(Option<Token>, Option<String>)> {
    let file = if let Some(p) = &conn.token_file {
        Named {
            path: p.clone(),
            origin: Origin::Flag("--token-file"),
        }
    } else if let Some(text) = env.var("MOOR_TOKEN") {
        let t = Token::new(&text).map_err(|e| anyhow!("MOOR_TOKEN: {e}"))?;
        return Ok((Some(t), Some("MOOR_TOKEN".into())));
    } else if let Some((c, p)) = ctx.and_then(|c| c.token_file.as_ref().map(|p| (c, p))) {
        Named {
            path: at(p),
            origin: Origin::Context(c.name.clone(), "token_file"),
        }
    } else {
        return Ok((None, None));
    };
    let token = credentials::token_from_file(&file)?;
    let from = format!("{} {}", file.origin.describe(), file.path.display());
    Ok((Some(token), Some(from)))
}

/// True for an endpoint on this machine (`127.x`, `[::1]`, `localhost`).
fn loopback(endpoint: &str) -> bool {
    let host = endpoint.rsplit_once(':').map_or(endpoint, |(h, _)| h);
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}
