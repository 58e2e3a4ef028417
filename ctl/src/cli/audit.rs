//! The arguments of `moorctl audit`.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::duration::parse_duration;

/// Most entries a member returns per page.
pub const MAX_AUDIT_PAGE: u32 = 1000;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries (who called what, when, from where, and the outcome), oldest
    /// first
    #[command(visible_alias = "ls")]
    List(AuditListArgs),
}

/// `audit list [--since D] [--who S] [--what S] [--limit N] [--all-pages]`.
#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only entries from this long ago on: a number and a unit, s, m, h or d (e.g. 1h)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only entries whose identity contains this text (e.g. token:t7, cert:)
    #[arg(long, value_name = "TEXT")]
    pub who: Option<String>,
    /// Only entries whose operation contains this text (e.g. rollout.)
    #[arg(long, value_name = "TEXT")]
    pub what: Option<String>,
    /// Entries per page
    #[arg(
        long,
        default_value_t = 100,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_AUDIT_PAGE))
    )]
    pub limit: u32,
    /// Every page, not only the first
    #[arg(long)]
    pub all_pages: bool,
}
