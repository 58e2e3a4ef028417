//! The arguments of `moorctl rollout`.

use clap::{Args, Subcommand};
use moor_proto::names::RolloutActionKind;

use super::common::{InputArgs, ReadArgs, DEFAULT_WATCH_TIMEOUT_S, MAX_WATCH_TIMEOUT_S};
use super::names::{rollout_action_help, target_filters, wire_names_with_help, TargetFilter};
use super::values::{parse_label, parse_name, parse_name_rev, parse_rollout_id, NameRev};

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Start a rollout over a group; prints its id
    Start(Box<RolloutStartArgs>),
    /// List rollouts
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show a rollout: counts per wave, failures grouped by error, and (with --targets)
    /// its targets
    Show {
        #[arg(value_parser = parse_rollout_id)]
        id: String,
        /// Also list targets: all of them, or those in one state
        #[arg(long, value_name = "STATE", value_parser = target_filters())]
        targets: Option<TargetFilter>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Pause: running targets finish, no new one starts
    Pause {
        #[arg(value_parser = parse_rollout_id)]
        id: String,
    },
    /// Resume a paused or failed rollout: failed targets are retried (from their failed
    /// steps) and targets not yet run continue
    Resume {
        #[arg(value_parser = parse_rollout_id)]
        id: String,
        #[command(flatten)]
        watch: RolloutWatchArgs,
    },
    /// Cancel: queued targets are skipped, running ones stop dispatching new steps
    Cancel {
        #[arg(value_parser = parse_rollout_id)]
        id: String,
    },
    /// Start the next wave of a rollout that waits for approval
    Approve {
        #[arg(value_parser = parse_rollout_id)]
        id: String,
        #[command(flatten)]
        watch: RolloutWatchArgs,
    },
    /// Revert the targets a paused or ended rollout changed successfully (an install is
    /// uninstalled, an update rolled back); starts a new rollout
    Rollback {
        #[arg(value_parser = parse_rollout_id)]
        id: String,
        #[command(flatten)]
        watch: RolloutWatchArgs,
    },
    /// Change how many targets of a rollout run at once, while it runs
    Parallel {
        #[arg(value_parser = parse_rollout_id)]
        id: String,
        #[arg(value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_parallel: u32,
    },
    /// Set the cap on targets running over all rollouts together
    Limits {
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_parallel_total: u32,
    },
    /// Follow a rollout live: a bar per wave, counts, rate, ETA and failures by error (exit
    /// code 0 when it succeeded or waits for approval, 7 when it failed, paused or was
    /// cancelled)
    Watch {
        #[arg(value_parser = parse_rollout_id)]
        id: String,
        /// Stop watching after this many seconds (the rollout goes on)
        #[arg(
            long,
            default_value_t = DEFAULT_WATCH_TIMEOUT_S,
            value_name = "S",
            value_parser = clap::value_parser!(u64).range(1..=MAX_WATCH_TIMEOUT_S)
        )]
        watch_timeout_s: u64,
    },
}

/// `--watch` for rollout commands.
#[derive(Debug, Args, Clone, Copy)]
pub struct RolloutWatchArgs {
    /// Then follow the rollout like `moorctl rollout watch`
    #[arg(long)]
    pub watch: bool,
    /// With --watch: stop watching after this many seconds (the rollout goes on)
    #[arg(
        long,
        requires = "watch",
        default_value_t = DEFAULT_WATCH_TIMEOUT_S,
        value_name = "S",
        value_parser = clap::value_parser!(u64).range(1..=MAX_WATCH_TIMEOUT_S)
    )]
    pub watch_timeout_s: u64,
}

impl RolloutWatchArgs {
    /// The watch time limit in seconds when `--watch` was given.
    pub fn limit(&self) -> Option<u64> {
        self.watch.then_some(self.watch_timeout_s)
    }
}

/// `rollout start --group G --action A ...`.
#[derive(Debug, Args)]
pub struct RolloutStartArgs {
    /// The group to roll out to
    #[arg(long, value_parser = parse_name)]
    pub group: String,
    /// What to do to each target
    #[arg(
        long,
        value_parser = wire_names_with_help::<RolloutActionKind>(rollout_action_help)
    )]
    pub action: RolloutActionKind,
    /// install: the blueprint, NAME or NAME@REVISION (default: the latest revision)
    #[arg(long, value_name = "NAME[@REV]", value_parser = parse_name_rev)]
    pub blueprint: Option<NameRev>,
    /// update: the revision to move to (default: the latest)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub revision: Option<u64>,
    /// install: inputs of the new environments; update: new inputs (none: keep each one's)
    #[command(flatten)]
    pub inputs: InputArgs,
    /// install: name of each new environment; {site} and {blueprint} are replaced
    #[arg(long, value_name = "TEMPLATE", default_value = "{blueprint}-{site}")]
    pub env_name: String,
    /// install: a label of the new environments (repeat)
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// How it runs: parallelism, waves, approval, failure budget, retries
    #[command(flatten)]
    pub plan: RolloutPlanArgs,
    #[command(flatten)]
    pub watch: RolloutWatchArgs,
}

/// How a rollout runs: its parallelism, waves, approvals, failure budget and step retries.
/// The flags `rollout start` and `trigger create` share: a trigger's rollouts run as the
/// same flags would make `rollout start` run one.
#[derive(Debug, Args)]
pub struct RolloutPlanArgs {
    /// How many targets run at once
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: u32,
    /// Cumulative wave boundaries, e.g. 1,10%,100% (canary first); default: one wave
    #[arg(long, value_name = "SPEC", default_value = "")]
    pub waves: String,
    /// Wait for `moorctl rollout approve` between waves
    #[arg(long)]
    pub approval: bool,
    /// Pause once more than N targets failed
    #[arg(long, value_name = "N")]
    pub max_failed: Option<u32>,
    /// Pause once more than P percent of the targets failed
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub max_failed_percent: Option<u32>,
    /// Attempts per step before it fails (default: the server's)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: Option<u32>,
    /// A step with no answer after this long counts as a failed attempt (default: the
    /// server's); an unreachable site costs each target at most attempts × this
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub step_timeout_ms: Option<u64>,
}
