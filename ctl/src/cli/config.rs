//! The arguments of `moorctl config`: contexts in moorctl's config file.

use clap::{Args, Subcommand};

use super::values::{parse_context_name, parse_server_name};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the config file (token files as paths, never their contents)
    View {
        /// Print instead the settings this command line resolves to: flags, environment,
        /// context and defaults (the token's source, never the token)
        #[arg(long)]
        effective: bool,
    },
    /// List the contexts; `*` marks the current one
    GetContexts,
    /// Make NAME the current context
    UseContext {
        #[arg(value_parser = parse_context_name)]
        name: String,
    },
    /// Create or update a context with what this command line gives: --endpoints,
    /// --ca-file, --cert-file, --key-file, --token-file, --server-name,
    /// --insecure-plaintext (flags only; the environment is not recorded). Paths are
    /// stored absolute; the file is written atomically, mode 0600
    SetContext(SetContextArgs),
    /// Delete a context
    DeleteContext {
        #[arg(value_parser = parse_context_name)]
        name: String,
    },
}

/// `config set-context NAME [--server-name NAME]` (and the global flags it records).
#[derive(Debug, Args)]
pub struct SetContextArgs {
    #[arg(value_parser = parse_context_name)]
    pub name: String,
    /// The name to check the members' certificates against, instead of each endpoint's
    /// host
    #[arg(long, value_name = "NAME", value_parser = parse_server_name)]
    pub server_name: Option<String>,
}
