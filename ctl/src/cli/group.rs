//! The arguments of `moorctl group`.

use clap::{Args, Subcommand};
use moor_proto::names::GroupKind;

use super::common::ReadArgs;
use super::drift::DriftArgs;
use super::names::{group_kind_help, wire_names_with_help};
use super::values::{parse_label, parse_name};

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create or replace a group: a label selector (or a list of names) over sites or
    /// environments
    Put(GroupPutArgs),
    /// List groups and how many sites or environments each selects now
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show a group
    Show {
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Delete a group (rollouts already started keep their targets)
    Delete {
        #[arg(value_parser = parse_name)]
        name: String,
    },
}

/// `group put NAME --of sites|environments [--label K=V]... [--name N]... [drift flags]`.
#[derive(Debug, Args)]
pub struct GroupPutArgs {
    #[arg(value_parser = parse_name)]
    pub name: String,
    /// What the group selects
    #[arg(long, value_parser = wire_names_with_help::<GroupKind>(group_kind_help))]
    pub of: GroupKind,
    /// Select only what has this label (repeat: all must match). Sites also match
    /// `region=R`, environments `site=S`
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Select only these names (repeat); each must exist when a rollout starts
    #[arg(long = "name", value_name = "NAME", value_parser = parse_name)]
    pub names: Vec<String>,
    /// The drift policy of the environments the group selects (an environment's own policy
    /// wins; among groups, the first by name); none given: the group has none
    #[command(flatten)]
    pub drift: DriftArgs,
}
