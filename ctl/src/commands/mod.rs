//! What each command does: turns parsed arguments into client calls and the answers into
//! views, follows what `--watch` asks to follow, and decides which answers end moorctl with
//! a non-zero exit code.
//!
//! Errors get context here, naming the operation and its subject, because this is the edge
//! where an operator reads them: `cannot put "app/x"` followed by the reason from the client,
//! and, where moorctl knows it, what to do next (`hints.rs`).
//!
//! Why a folder: one file per command group (`cluster.rs`, `var.rs` (with `var/secret.rs`,
//! `var put --secret`), `apply.rs`, `env.rs`, `exec.rs`, `rollout.rs`, `receiver.rs`,
//! `source.rs`, `trigger.rs`, `secrets.rs`, ...), plus the two
//! watches (`exec_watch.rs` follows an execution's stream across member failures,
//! `rollout_watch.rs` polls a rollout) and what several commands read or send (`files.rs`,
//! `documents.rs`, `env_group_files.rs`, `inputs.rs`, `drift.rs`, `rollout_request.rs`: the
//! rollout of `rollout start` and `trigger create`); `validate.rs` is `blueprint validate`;
//! `config.rs` edits the config file and needs no member; `admin_token.rs` saves the token
//! a new cluster returns; `snapshot.rs` saves and inspects backups, written through
//! `backup_file.rs`.
//! This is the top layer: it uses `cli`, `client`, `settings`, `views` and `live`, and none
//! of them uses it.

mod admin_token;
mod apply;
mod audit;
mod auth;
mod backup_file;
mod blueprint;
mod bootstrap;
mod cluster;
mod config;
mod documents;
mod drift;
mod env;
mod env_group_files;
mod exec;
mod exec_watch;
mod files;
mod group;
mod hints;
mod inputs;
mod receiver;
mod rollout;
mod rollout_request;
mod rollout_watch;
mod secrets;
mod site;
mod snapshot;
mod source;
mod trigger;
mod validate;
mod var;

use std::time::Duration;

use anyhow::Result;

use crate::cli::{Cli, ClusterCommand, Command, SnapshotCommand};
use crate::client::Client;
use crate::settings::{resolve, ProcessEnv};

pub use hints::access_hint;

/// Runs the parsed command line: `config` on the config file alone, `cluster snapshot
/// inspect` on the backup file alone; anything else with the settings resolved from flags,
/// environment, context and defaults.
pub async fn run(cli: Cli) -> Result<()> {
    let format = cli.output;
    if let Command::Config(c) = cli.command {
        return config::run(c, &cli.conn, format);
    }
    if let Command::Cluster(ClusterCommand::Snapshot(SnapshotCommand::Inspect { file })) =
        &cli.command
    {
        return snapshot::inspect(file, format);
    }
    let settings = resolve(&cli.conn, &ProcessEnv)?;
    let timeout = Duration::from_millis(cli.timeout_ms);
    let mut client = Client::new(&settings.endpoints, timeout, settings.security.clone());
    let client = &mut client;
    match cli.command {
        Command::Config(_) => unreachable!("handled above"),
        Command::Cluster(c) => cluster::run(c, client, format, &settings).await,
        Command::Auth(a) => auth::run(a, client, format).await,
        Command::Audit(a) => audit::run(a, client, format).await,
        Command::Var(v) => var::run(v, client, format).await,
        Command::Apply(a) => apply::run(a, client, format).await,
        Command::Blueprint(b) => blueprint::run(b, client, format).await,
        Command::Site(s) => site::run(s, client, format).await,
        Command::Env(e) => env::run(e, client, format).await,
        Command::Exec(e) => exec::run(e, client, format).await,
        Command::Group(g) => group::run(g, client, format).await,
        Command::Rollout(r) => rollout::run(r, client, format).await,
        Command::Receiver(r) => receiver::run(r, client, format).await,
        Command::Source(s) => source::run(s, client, format).await,
        Command::Trigger(t) => trigger::run(t, client, format).await,
        Command::Secrets(s) => secrets::run(s, client, format).await,
    }
}
