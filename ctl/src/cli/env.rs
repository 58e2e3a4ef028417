//! The arguments of `moorctl env`.

use clap::{Args, Subcommand};
use moor_proto::names::EnvStatus;

use super::common::{InputArgs, ReadArgs, WatchArgs};
use super::drift::{DriftArgs, SetDriftArgs};
use super::names::wire_names;
use super::values::{parse_label, parse_name, parse_name_rev, NameRev};

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Create an environment and start installing it; prints the install execution's id
    Create(EnvCreateArgs),
    /// List environments, optionally only those on a site or with a status
    #[command(visible_alias = "ls")]
    List {
        /// Only environments on this site
        #[arg(long, value_name = "SITE", value_parser = parse_name)]
        site: Option<String>,
        /// Only environments with this status
        #[arg(long, value_name = "STATUS", value_parser = wire_names::<EnvStatus>())]
        status: Option<EnvStatus>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show an environment: its desired state, status, resources (applied and observed)
    /// and drift policy
    Show {
        /// Environment name
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Set or clear an environment's own drift policy; prints the policy in force after
    Drift(SetDriftArgs),
    /// Compare an environment with what its site holds now, resource by resource and field
    /// by field
    #[command(after_help = DIFF_EXIT_HELP)]
    Diff {
        /// Environment name
        #[arg(value_parser = parse_name)]
        name: String,
    },
}

/// The exit codes of `env diff`, after its `--help`.
pub const DIFF_EXIT_HELP: &str = "\
Exit codes, like diff(1) but with 9, since 1 is moorctl's error:
  0  every resource is in sync
  9  some resource differs: drifted, missing at the site, or unexpected there
  other codes as in `moorctl --help` (e.g. 3: no such environment)";

/// `env create NAME --site S --blueprint B[@REV] ...`.
#[derive(Debug, Args)]
pub struct EnvCreateArgs {
    /// Name of the new environment (lower-case letters, digits and dashes)
    #[arg(value_parser = parse_name)]
    pub name: String,
    /// The site to place it on
    #[arg(long, value_name = "SITE", value_parser = parse_name)]
    pub site: String,
    /// The blueprint, at its latest revision or at @REV
    #[arg(long, value_name = "NAME[@REV]", value_parser = parse_name_rev)]
    pub blueprint: NameRev,
    #[command(flatten)]
    pub inputs: InputArgs,
    /// A label of the environment, for selecting it in groups (repeat for more)
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    #[command(flatten)]
    pub drift: DriftArgs,
    #[command(flatten)]
    pub watch: WatchArgs,
}
