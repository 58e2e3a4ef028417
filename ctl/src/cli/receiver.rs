//! The arguments of `moorctl receiver`: where CI systems deliver webhooks.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use moor_proto::names::ReceiverKind;

use super::common::ReadArgs;
use super::duration::parse_duration;
use super::names::{receiver_kind_help, wire_names_with_help};
use super::values::{parse_name, parse_path};

/// Most deliveries `receiver deliveries --limit` asks for.
const MAX_DELIVERIES: u32 = 1000;

#[derive(Debug, Subcommand)]
pub enum ReceiverCommand {
    /// Create or replace a webhook receiver; prints the URL to configure in the CI system,
    /// e.g. `moorctl receiver create ci --type github --secret-file ci.secret`
    Create(ReceiverCreateArgs),
    /// List receivers, e.g. `moorctl receiver list -o json`
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show a receiver: type, URL path, limits, secret fingerprint, deliveries recorded,
    /// e.g. `moorctl receiver show ci`
    Show {
        #[arg(value_parser = parse_name)]
        name: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Delete a receiver: deliveries to its URL are refused from then on, e.g. `moorctl
    /// receiver delete ci`
    Delete {
        #[arg(value_parser = parse_name)]
        name: String,
    },
    /// List the latest deliveries a receiver recorded, oldest first, with what each
    /// triggered, e.g. `moorctl receiver deliveries ci --limit 20`
    Deliveries {
        #[arg(value_parser = parse_name)]
        name: String,
        /// How many of the latest deliveries (default: the member's, 50)
        #[arg(
            long,
            value_name = "N",
            value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DELIVERIES))
        )]
        limit: Option<u32>,
        #[command(flatten)]
        read: ReadArgs,
    },
}

/// `receiver create NAME --type T --secret-file F [limits]`.
#[derive(Debug, Args)]
pub struct ReceiverCreateArgs {
    /// Receiver name: the URL path is /hooks/NAME
    #[arg(value_parser = parse_name)]
    pub name: String,
    /// The CI system's webhook format, which says how a delivery is authenticated
    #[arg(
        long = "type",
        value_name = "TYPE",
        value_parser = wire_names_with_help::<ReceiverKind>(receiver_kind_help)
    )]
    pub kind: ReceiverKind,
    /// A file holding the shared secret (trailing newline and blanks are dropped); keep it
    /// mode 0600. The secret is never printed, and no read returns it
    #[arg(long, value_name = "FILE", value_parser = parse_path)]
    pub secret_file: PathBuf,
    /// Largest body accepted, in bytes (default: the member's, 1 MiB)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_body_bytes: Option<u64>,
    /// Deliveries accepted per minute per member, more are answered 429 (default: the
    /// member's, 120)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_per_minute: Option<u32>,
    /// Signed formats: how old a delivery's timestamp may be, e.g. 5m (default: the
    /// member's, 5m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timestamp_tolerance: Option<Duration>,
}
