//! The arguments of `moorctl exec`.

use clap::{Args, Subcommand};
use moor_proto::names::{ExecKind, ExecState};

use super::common::{InputArgs, ReadArgs, WatchArgs, DEFAULT_WATCH_TIMEOUT_S, MAX_WATCH_TIMEOUT_S};
use super::names::{exec_kind_help, wire_names, wire_names_with_help};
use super::values::{parse_id, parse_name};

#[derive(Debug, Subcommand)]
pub enum ExecCommand {
    /// Start an execution on an environment; prints its id
    Start(ExecStartArgs),
    /// List executions, newest last
    #[command(visible_alias = "ls")]
    List {
        /// Only executions of this environment
        #[arg(long, value_name = "ENV", value_parser = parse_name)]
        env: Option<String>,
        /// Only executions in this state (`interrupted`: those a restore from a backup
        /// stopped, waiting for `moorctl exec resume ID`)
        #[arg(long, value_name = "STATE", value_parser = wire_names::<ExecState>())]
        state: Option<ExecState>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show an execution and its steps
    Show {
        /// Execution id, e.g. x12
        #[arg(value_parser = parse_id)]
        id: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// An execution's history from its checkpoints: every attempt of every step in the order
    /// they were dispatched, with the fence token (the dispatching leader's term), the
    /// outcome and the term of the leader that recorded it (kept from cluster feature level
    /// 2 on)
    Timeline {
        /// Execution id, e.g. x12
        #[arg(value_parser = parse_id)]
        id: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Resume a failed execution (retries its failed steps only) or an interrupted one (one
    /// that was running when the backup its cluster was restored from was taken: its
    /// unfinished steps are sent again, under the same idempotency keys)
    Resume {
        /// Execution id
        #[arg(value_parser = parse_id)]
        id: String,
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Cancel a queued, running or interrupted execution (steps already dispatched finish)
    Cancel {
        /// Execution id
        #[arg(value_parser = parse_id)]
        id: String,
    },
    /// Roll an environment back to its previous revision
    Rollback {
        /// Environment name
        #[arg(value_parser = parse_name)]
        env: String,
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Follow an execution until it ends (exit code 0 when it succeeded, 7 when it failed,
    /// was cancelled or is interrupted and waits to be resumed); moves to another member
    /// when the one streaming goes away
    Watch {
        /// Execution id
        #[arg(value_parser = parse_id)]
        id: String,
        /// Stop watching after this many seconds (the execution goes on)
        #[arg(
            long,
            default_value_t = DEFAULT_WATCH_TIMEOUT_S,
            value_name = "S",
            value_parser = clap::value_parser!(u64).range(1..=MAX_WATCH_TIMEOUT_S)
        )]
        watch_timeout_s: u64,
    },
}

/// `exec start ENV --kind K ...`.
#[derive(Debug, Args)]
pub struct ExecStartArgs {
    /// Environment name
    #[arg(value_parser = parse_name)]
    pub env: String,
    /// What the execution does
    #[arg(long, value_parser = wire_names_with_help::<ExecKind>(exec_kind_help))]
    pub kind: ExecKind,
    /// install / update: the blueprint revision to go to (default: the latest)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub revision: Option<u64>,
    /// update only: new inputs (none given: keep the current ones)
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub watch: WatchArgs,
}
