//! `moorctl`, the Moor command line, as a library: the binary is a thin `main` over [`run`],
//! and the pieces (argument parsing, the failover client, output views, exit codes) can be
//! tested, and reused by tools, without a process.
//!
//! moorctl talks to members over the client gRPC APIs only (`moor_proto::api`,
//! `moor_proto::workflow`, `moor_proto::rollout`, `moor_proto::auth` and
//! `moor_proto::hooks`), over TLS unless told otherwise, with the credentials of the context
//! in use; it never links member internals. The names of states and kinds come from
//! `moor_proto::names`, the same list the server uses.
//!
//! The folders, by role, and what each uses (`A → B`: A imports B; nothing imports back):
//!
//! ```text
//! commands → cli, client, views, live, exit, settings
//! settings → cli, client, exit
//! live     → views, cli (the output format)
//! views    → cli (the output format)
//! exit     → client (to map its errors to codes)
//! cli      → exit (the exit codes in --help)
//! client   → nothing of moorctl
//! ```
//!
//! - [`cli`]: the argument types and the checks made before anything is sent.
//! - [`client`]: the failover client: one generic call helper and the retry rules.
//! - [`commands`]: what each command does, the watches, and which answers end with which
//!   exit code.
//! - [`views`]: every result as a table, JSON or YAML.
//! - [`live`]: the watch displays.
//! - [`settings`]: flags, environment, context and defaults resolved into the endpoints,
//!   the transport and the token; moorctl's config file.
//! - [`exit`]: the exit codes, and the mapping from errors (the client's among them).

pub mod cli;
pub mod client;
pub mod commands;
pub mod exit;
pub mod live;
pub mod settings;
pub mod views;

#[cfg(test)]
mod fake;

use std::fmt::Write as _;

/// Runs a parsed command line to completion on a single-threaded runtime (moorctl makes one
/// request at a time; more threads would only cost start-up time).
pub fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(commands::run(cli))
}

/// The text printed on standard error for an error that ends moorctl: the error, then each
/// cause on its own line, then what to do when it is a refusal by access control.
pub fn report(err: &anyhow::Error) -> String {
    let mut out = format!("moorctl: error: {err}\n");
    for cause in err.chain().skip(1) {
        let _ = writeln!(out, "  caused by: {cause}");
    }
    if let Some(hint) = commands::access_hint(err) {
        let _ = writeln!(out, "  hint: {hint}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_shows_the_whole_chain() {
        let err = anyhow::anyhow!("connection refused")
            .context("no member could serve the request")
            .context("cannot put \"k\"");
        assert_eq!(
            report(&err),
            "moorctl: error: cannot put \"k\"\n  \
             caused by: no member could serve the request\n  \
             caused by: connection refused\n"
        );
    }
}
