//! The arguments of `moorctl blueprint`.

use std::path::PathBuf;

use clap::Subcommand;

use super::common::ReadArgs;
use super::values::{parse_name, parse_name_rev, parse_path, NameRev};

#[derive(Debug, Subcommand)]
pub enum BlueprintCommand {
    /// List blueprints with their latest revision
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Print the source of a blueprint revision (the latest without @REV)
    Show {
        /// NAME or NAME@REV, e.g. webshop@3
        #[arg(value_name = "NAME[@REV]", value_parser = parse_name_rev)]
        blueprint: NameRev,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// List the revisions of a blueprint
    Revisions {
        /// Blueprint name
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Check blueprint files without applying them: a member's parser lists every problem
    /// (`moorctl apply` shows only the first few); exit code 1 when any file has problems
    Validate {
        /// Blueprint YAML files; `-` reads standard input
        #[arg(value_name = "FILE", required = true, value_parser = parse_path)]
        files: Vec<PathBuf>,
    },
}
