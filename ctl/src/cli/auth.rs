//! The arguments of `moorctl auth`: tokens, roles, and who the credentials are.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::duration::{parse_ttl, Ttl};
use super::values::{parse_path, parse_pattern, parse_token_id};

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Create, list and revoke bearer tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Define custom roles: which operations on which names
    #[command(subcommand)]
    Role(RoleCommand),
    /// Show who the credentials in use are, their role and every operation they may call
    Whoami,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token: printed once on standard output (or written to --out), never
    /// stored by the cluster (it keeps a hash)
    Create(TokenCreateArgs),
    /// List tokens (ids, roles, expiry; never the tokens themselves)
    #[command(visible_alias = "ls")]
    List {
        /// Revoked tokens too
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token: requests carrying it are refused from then on
    Revoke {
        /// The token's id, as `auth token list` shows it
        #[arg(value_parser = parse_token_id)]
        id: String,
    },
}

/// `auth token create --role R [--group P]... [--blueprint P]... [--ttl D] [--out FILE]`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Built-in role (admin, operator, deployer, viewer) or a custom role's name
    #[arg(long, value_parser = parse_pattern)]
    pub role: String,
    /// A name pattern of the groups a deployer may start rollouts on (repeat)
    #[arg(long = "group", value_name = "PATTERN", value_parser = parse_pattern)]
    pub groups: Vec<String>,
    /// A name pattern of the blueprints a deployer may deploy (repeat)
    #[arg(long = "blueprint", value_name = "PATTERN", value_parser = parse_pattern)]
    pub blueprints: Vec<String>,
    /// Lifetime: a number and a unit, s, m, h or d (30m, 12h, 30d), or `never`
    #[arg(long, default_value = "720h", value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: Ttl,
    /// Who or what uses the token, shown by `auth token list`
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Write the token to FILE (mode 0600) and print only its id
    #[arg(long, value_name = "FILE", value_parser = parse_path)]
    pub out: Option<PathBuf>,
    /// With --out: replace FILE if it exists
    #[arg(long, requires = "out")]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create or replace a custom role
    Put {
        /// The role's name
        #[arg(value_parser = parse_pattern)]
        name: String,
        /// An operation the role allows (e.g. rollout.start), or a prefix pattern such as
        /// rollout.* (repeat)
        #[arg(long = "op", value_name = "OP", required = true, value_parser = parse_pattern)]
        operations: Vec<String>,
        /// A name pattern of the objects the role may act on (repeat; none: any)
        #[arg(long = "name", value_name = "PATTERN", value_parser = parse_pattern)]
        names: Vec<String>,
    },
    /// List roles, built-in ones included
    #[command(visible_alias = "ls")]
    List,
    /// Delete a custom role
    Delete {
        #[arg(value_parser = parse_pattern)]
        name: String,
    },
}
