//! The arguments of `moorctl apply`.

use std::path::PathBuf;

use clap::Args;

use super::values::parse_path;

/// `apply -f FILE...`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A blueprint (top-level `name`, `resources`, ...) or a sites file (top-level `sites:`
    /// list) in YAML; `-` reads standard input; repeat to apply several, in the order given
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        required = true,
        value_parser = parse_path
    )]
    pub files: Vec<PathBuf>,
}
