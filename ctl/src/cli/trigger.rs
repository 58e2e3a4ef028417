//! The arguments of `moorctl trigger`: start a rollout whenever a Git source makes a new
//! revision of a blueprint.

use clap::{Args, Subcommand};
use moor_proto::names::{RolloutActionKind, TriggerPolicy};

use super::common::ReadArgs;
use super::names::{trigger_policy_help, wire_names, wire_names_with_help};
use super::rollout::RolloutPlanArgs;
use super::values::parse_name;

#[derive(Debug, Subcommand)]
pub enum TriggerCommand {
    /// Create or replace a trigger: each new revision of BLUEPRINT that SOURCE makes starts
    /// an update rollout of GROUP to it, e.g. `moorctl trigger create shop-eu --source shop
    /// --blueprint webshop --group eu --waves 1,10%,100% --max-failed-percent 5`
    Create(Box<TriggerCreateArgs>),
    /// List triggers with their running rollout and queued revision, e.g. `moorctl trigger
    /// list`
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show a trigger: what it watches, the rollout it starts, its policy and its latest
    /// firings, e.g. `moorctl trigger show shop-eu`
    Show {
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Delete a trigger (a rollout it started goes on), e.g. `moorctl trigger delete
    /// shop-eu`
    Delete {
        #[arg(value_parser = parse_name)]
        name: String,
    },
}

/// `trigger create NAME --source S --blueprint B --group G [rollout flags] [--policy P]`.
#[derive(Debug, Args)]
pub struct TriggerCreateArgs {
    /// Trigger name
    #[arg(value_parser = parse_name)]
    pub name: String,
    /// The Git source whose new revisions fire it (`moorctl source list`)
    #[arg(long, value_parser = parse_name)]
    pub source: String,
    /// The blueprint whose new revisions fire it
    #[arg(long, value_parser = parse_name)]
    pub blueprint: String,
    /// The group of environments each rollout updates
    #[arg(long, value_parser = parse_name)]
    pub group: String,
    /// What each rollout does: a trigger moves its group to the new revision, so update
    /// is the only action it takes
    #[arg(
        long,
        default_value = "update",
        hide_possible_values = true,
        value_parser = wire_names::<RolloutActionKind>()
    )]
    pub action: RolloutActionKind,
    /// How each rollout runs, as for `moorctl rollout start`
    #[command(flatten)]
    pub plan: RolloutPlanArgs,
    /// What a new revision does while the trigger's rollout still runs
    #[arg(
        long,
        default_value = "queue",
        value_parser = wire_names_with_help::<TriggerPolicy>(trigger_policy_help)
    )]
    pub policy: TriggerPolicy,
}
