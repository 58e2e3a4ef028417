//! The command line of `moorctl`: flags, commands and the checks that can be made before any
//! request is sent.
//!
//! Everything a user can get wrong without talking to a member (an endpoint without a port, a
//! `--member` that is not `ID=ADDR`, two compare-and-swap expectations, a `NAME@REV` without a
//! revision, an `--input` that is not `KEY=VALUE`) is rejected here, as a clap usage error
//! (exit code 2) that names the bad value and shows the expected form. The rest of moorctl can
//! then take its input as valid.
//!
//! Why a folder: the argument types are most of moorctl's surface, and one file per command
//! group (`cluster.rs` and its `snapshot.rs`, `var.rs`, `env.rs`, `exec.rs`, `rollout.rs`,
//! `receiver.rs`, `source.rs`, `trigger.rs`, ...) keeps each next to its help text. The pieces they share
//! are the flag groups (`common.rs`, and `rollout.rs`'s `RolloutPlanArgs`, which `trigger
//! create` takes too), the parsers of single values (`values.rs`, `duration.rs`), the flags
//! whose values are wire names (`names.rs`) and the checks that span several arguments
//! (`checks.rs`).
//! This folder is the bottom layer: it imports nothing of moorctl but the exit-code help.

mod apply;
mod audit;
mod auth;
mod blueprint;
mod checks;
mod cluster;
mod common;
mod config;
mod connection;
mod drift;
mod duration;
mod env;
mod exec;
mod group;
mod names;
mod receiver;
mod rollout;
mod secrets;
mod site;
mod snapshot;
mod source;
mod trigger;
mod values;
mod var;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

pub use apply::ApplyArgs;
pub use audit::{AuditCommand, AuditListArgs, MAX_AUDIT_PAGE};
pub use auth::{AuthCommand, RoleCommand, TokenCommand, TokenCreateArgs};
pub use blueprint::BlueprintCommand;
pub use cluster::{AdminTokenArgs, ClusterCommand, DEFAULT_ADMIN_TOKEN_FILE};
pub use common::{InputArgs, ReadArgs, WatchArgs, DEFAULT_WATCH_TIMEOUT_S, MAX_WATCH_TIMEOUT_S};
pub use config::{ConfigCommand, SetContextArgs};
pub use connection::ConnArgs;
pub use drift::{
    parse_check_every, DriftArgs, DriftPolicy, OnDrift, SetDriftArgs, DEFAULT_CHECK_EVERY,
    DEFAULT_MAX_HEALS_PER_HOUR,
};
pub use duration::{parse_duration, Ttl};
pub use env::{EnvCommand, EnvCreateArgs, DIFF_EXIT_HELP};
pub use exec::{ExecCommand, ExecStartArgs};
pub use group::{GroupCommand, GroupPutArgs};
pub use names::{parse_wire_name, TargetFilter};
pub use receiver::{ReceiverCommand, ReceiverCreateArgs};
pub use rollout::{RolloutCommand, RolloutPlanArgs, RolloutStartArgs, RolloutWatchArgs};
pub use secrets::{SecretsCommand, SECRETS_EXIT_HELP};
pub use site::SiteCommand;
pub use snapshot::SnapshotCommand;
pub use source::{parse_source_url, SourceAddArgs, SourceCommand};
pub use trigger::{TriggerCommand, TriggerCreateArgs};
pub use values::{
    parse_context_name, parse_endpoint, parse_name_rev, MemberSpec, NameRev, VoterSpec,
};
pub use var::{CasArgs, PutArgs, SecretSource, VarCommand};

use crate::exit::EXIT_CODES_HELP;

/// Default member to talk to: a `moord` started with its defaults on this machine.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:7401";

/// `moorctl`: drive a Moor control plane.
#[derive(Debug, Parser)]
#[command(
    name = "moorctl",
    version,
    about = "Drive a Moor control plane: blueprints, sites, environments, executions, groups, \
             rollouts, CI webhooks, Git sources and triggers, cluster membership, variables and \
             secrets",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub conn: ConnArgs,

    /// Output format
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Deadline for the whole request, retries and failover included, in milliseconds
    #[arg(
        long,
        global = true,
        default_value_t = 10_000,
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(1..=86_400_000)
    )]
    pub timeout_ms: u64,

    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people
    Table,
    /// Pretty-printed JSON for programs
    Json,
    /// YAML for programs and people
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the members of the Raft group
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Read and write variables: the replicated key/value namespace
    #[command(subcommand)]
    Var(VarCommand),
    /// Create blueprint revisions and create or update sites from YAML files
    Apply(ApplyArgs),
    /// Read blueprints and their revisions
    #[command(subcommand)]
    Blueprint(BlueprintCommand),
    /// Read sites (create and change them with `moorctl apply -f sites.yaml`)
    #[command(subcommand)]
    Site(SiteCommand),
    /// Create and read environments: a blueprint revision with inputs, placed on a site
    #[command(subcommand, visible_alias = "environment")]
    Env(EnvCommand),
    /// Start, follow, resume, cancel and read executions (workflow runs on one environment)
    #[command(subcommand, visible_alias = "execution")]
    Exec(ExecCommand),
    /// Define groups: label selectors over sites or environments, for rollouts
    #[command(subcommand)]
    Group(GroupCommand),
    /// Run one change over a group in waves, with a parallelism cap and a failure budget;
    /// pause, resume, cancel, approve, roll back, watch
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Webhook receivers: where CI systems deliver signed webhooks (POST /hooks/NAME on any
    /// member's client address), and the deliveries they recorded
    #[command(subcommand)]
    Receiver(ReceiverCommand),
    /// Git sources: branches whose blueprint files become blueprint revisions when they
    /// change (on a webhook, on a poll interval or on `source sync`)
    #[command(subcommand)]
    Source(SourceCommand),
    /// Triggers: start an update rollout of a group whenever a source makes a new revision
    /// of a blueprint
    #[command(subcommand)]
    Trigger(TriggerCommand),
    /// Secrets at rest: where stored secrets are sealed, and moving them to the sealing key
    /// after a key rotation (admin)
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Tokens, roles and who the credentials in use are
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Read the audit log: every call, who made it and its outcome
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Contexts: named endpoints and credentials in moorctl's config file, like kubeconfig
    #[command(subcommand)]
    Config(ConfigCommand),
}

impl Cli {
    /// Parses the process arguments; on a usage error prints it and exits with code 2 (0 for
    /// `--help` and `--version`), as clap does.
    pub fn parse_validated() -> Cli {
        match Cli::from_matches(Cli::command().try_get_matches()) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        }
    }

    /// Parses `args` (the first one is the program name) and applies the checks that span
    /// several arguments.
    pub fn try_parse_validated<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Cli::from_matches(Cli::command().try_get_matches_from(args))
    }

    /// The command line from clap's matches, noting which connection flags came from the
    /// command line itself (see [`ConnArgs::given`]).
    fn from_matches(matches: Result<ArgMatches, clap::Error>) -> Result<Cli, clap::Error> {
        let matches = matches?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.conn.note_command_line(&matches);
        cli.validated()
    }
}

#[cfg(test)]
mod tests;
