//! `moorctl`, the Moor command line, as a library: the binary is a thin `main` over [`run`],
//! and the pieces (argument parsing, the failover client, output views, exit codes) can be
//! tested, and reused by tools, without a process.
//!
//! moorctl talks to members over the client gRPC APIs only (`moor_proto::api`,
//! `moor_proto::workflow` and `moor_proto::rollout`); it never links member internals.

pub mod cli;
pub mod client;
pub mod commands;
pub mod exit;
pub mod live;
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
/// cause on its own line.
pub fn report(err: &anyhow::Error) -> String {
    let mut out = format!("moorctl: error: {err}\n");
    for cause in err.chain().skip(1) {
        let _ = writeln!(out, "  caused by: {cause}");
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
