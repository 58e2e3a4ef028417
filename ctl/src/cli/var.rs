//! The arguments of `moorctl var`.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};

use super::values::parse_key;

#[derive(Debug, Subcommand)]
pub enum VarCommand {
    /// Set KEY to a value, given inline or read from a file; with --secret, stored sealed
    /// with the cluster's secrets key
    Put(PutArgs),
    /// Print the value of KEY (exit code 3 when it does not exist)
    Get {
        /// The variable's key (non-empty UTF-8)
        #[arg(value_parser = parse_key)]
        key: String,
        /// Answer from the member's local state, possibly behind the leader, instead of a
        /// linearizable read through the leader
        #[arg(long)]
        stale: bool,
    },
    /// Delete KEY (deleting a missing key is not an error)
    #[command(visible_alias = "delete")]
    Del {
        /// The variable's key (non-empty UTF-8)
        #[arg(value_parser = parse_key)]
        key: String,
    },
    /// Compare-and-swap: change KEY only if it currently holds the expected value (exit code 4
    /// when it does not)
    Cas(CasArgs),
    /// List keys under PREFIX in key order, paging through the whole range
    #[command(visible_alias = "ls")]
    List {
        /// Key prefix; none lists every key
        #[arg(default_value = "")]
        prefix: String,
        /// Stop after this many keys
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
        /// Answer from the member's local state, possibly behind the leader
        #[arg(long)]
        stale: bool,
    },
}

/// `var put KEY (VALUE | --from-file PATH) [--secret]`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["value", "from_file"])))]
pub struct PutArgs {
    /// The variable's key (non-empty UTF-8)
    #[arg(value_parser = parse_key)]
    pub key: String,
    /// The value, as UTF-8 text; with --secret, `-` reads standard input (an inline secret
    /// lands in the shell history: prefer --from-file or `-`)
    pub value: Option<String>,
    /// Read the value (any bytes) from a file instead; `-` reads standard input
    #[arg(long, value_name = "PATH")]
    pub from_file: Option<PathBuf>,
    /// Store the value sealed with the cluster's secrets key (UTF-8 text; from a file or
    /// standard input, one trailing newline is dropped): every read then gives only a
    /// token, and the value is opened only when a step that uses it is sent to its site
    #[arg(long)]
    pub secret: bool,
}

impl PutArgs {
    /// Where the secret of `var put --secret` comes from (`None` without `--secret`).
    pub fn secret_source(&self) -> Option<SecretSource> {
        if !self.secret {
            return None;
        }
        Some(match (&self.value, &self.from_file) {
            (Some(v), _) if v == "-" => SecretSource::Stdin,
            (Some(v), _) => SecretSource::Inline(v.clone()),
            (None, Some(p)) if p.as_os_str() == "-" => SecretSource::Stdin,
            (None, Some(p)) => SecretSource::File(p.clone()),
            // clap's "source" group requires one of the two.
            (None, None) => unreachable!("var put without a value"),
        })
    }
}

/// Where the secret of `var put --secret` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Given on the command line: it lands in the shell history (moorctl warns).
    Inline(String),
    /// `--from-file PATH`.
    File(PathBuf),
    /// `-` (as VALUE or as `--from-file`): standard input.
    Stdin,
}

/// `var cas KEY (--expected V | --absent) (--new V | --delete)`.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("expectation").required(true).args(["expected", "absent"])),
    group(ArgGroup::new("replacement").required(true).args(["new", "delete"]))
)]
pub struct CasArgs {
    /// The variable's key (non-empty UTF-8)
    #[arg(value_parser = parse_key)]
    pub key: String,
    /// Swap only if KEY currently holds this value
    #[arg(long, value_name = "VALUE")]
    pub expected: Option<String>,
    /// Swap only if KEY does not exist
    #[arg(long)]
    pub absent: bool,
    /// The value to store when the comparison holds
    #[arg(long, value_name = "VALUE")]
    pub new: Option<String>,
    /// Delete KEY when the comparison holds
    #[arg(long)]
    pub delete: bool,
}

impl CasArgs {
    /// The value KEY must hold for the swap to happen; `None`: KEY must be absent.
    pub fn expected_bytes(&self) -> Option<Vec<u8>> {
        self.expected.as_ref().map(|v| v.as_bytes().to_vec())
    }

    /// The value to store; `None`: delete KEY.
    pub fn new_bytes(&self) -> Option<Vec<u8>> {
        self.new.as_ref().map(|v| v.as_bytes().to_vec())
    }
}
