//! The arguments of `moorctl site`.

use clap::Subcommand;

use super::common::ReadArgs;
use super::values::{parse_label, parse_name};

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// List sites, optionally only those in a region or with given labels
    #[command(visible_alias = "ls")]
    List {
        /// Only sites in this region
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// Only sites with this label (repeat: all must match)
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show one site
    Show {
        /// Site name
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
}
