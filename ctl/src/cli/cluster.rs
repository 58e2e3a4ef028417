//! The arguments of `moorctl cluster`.
//!
//! Members listen twice: on a client address (moorctl, `--endpoints`) and on a peer
//! address (Raft between members). Membership records peer addresses, so every address
//! given here, `--member ID=ADDR` and `cluster add ID ADDR`, is a peer address.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::snapshot::SnapshotCommand;
use super::values::{
    parse_member, parse_member_addr, parse_path, parse_voter, MemberSpec, VoterSpec,
};

/// Where `cluster init` and `cluster bootstrap` write the admin token by default.
pub const DEFAULT_ADMIN_TOKEN_FILE: &str = "./moor-admin.token";

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Initialise a new cluster (once, on a fresh member); sent to the first endpoint only.
    /// The admin token it returns is written to --admin-token-out, never printed
    Init {
        /// An initial voter, as ID=PEER_HOST:PORT, its peer address (repeat for each);
        /// none: the member receiving the request forms a cluster alone
        #[arg(long = "member", value_name = "ID=PEER_HOST:PORT", value_parser = parse_member)]
        members: Vec<MemberSpec>,
        #[command(flatten)]
        admin_token: AdminTokenArgs,
    },
    /// Form a cluster from members that start at the same time: once every listed member
    /// answers and none has state, initialise them with the same voter list; nothing if a
    /// cluster exists (safe to run again and from several places at once; see
    /// deploy/README.md). Asks each of --endpoints (one client address per member) for its
    /// id and peer address (without --endpoints, MOOR_ENDPOINTS or a context: the --member
    /// addresses, for members serving clients and peers on one address); the whole command
    /// ends by --timeout-ms
    Bootstrap {
        /// An initial voter, as ID (its peer address is the one the member reports) or
        /// ID=PEER_HOST:PORT (repeat, or comma-separate); every bootstrap run must be given
        /// the same ids and the same --endpoints
        #[arg(
            long = "member",
            env = "MOOR_INITIAL_MEMBERS",
            value_name = "ID[=PEER_HOST:PORT]",
            value_delimiter = ',',
            required = true,
            value_parser = parse_voter
        )]
        members: Vec<VoterSpec>,
        /// Return only once every listed member follows one leader that has them all as voters
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        admin_token: AdminTokenArgs,
    },
    /// Show the state of the member answering and the members it knows
    Status,
    /// Add a member as a learner (it replicates but does not vote until promoted)
    Add {
        /// Member id of the new member
        id: u64,
        /// The new member's peer address (Raft), as host:port; clients reach it on its
        /// client address
        #[arg(value_parser = parse_member_addr)]
        addr: String,
        /// Return only once the learner has caught up with the leader's log (may need a
        /// larger --timeout-ms)
        #[arg(long)]
        wait: bool,
    },
    /// Promote a learner to a voter
    Promote {
        /// Member id of the learner
        id: u64,
    },
    /// Remove a member (voter or learner) from the cluster
    Remove {
        /// Member id to remove
        id: u64,
    },
    /// After a rolling upgrade (every member on the new release): raise the cluster's
    /// feature level, which turns on what the new release adds. Refused while any member
    /// runs an older release or does not answer the leader; afterwards members of older
    /// releases can no longer join (deploy/README.md, "Upgrade")
    UpgradeFinalize {
        /// The level to reach; default: the highest every member supports
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        level: Option<u32>,
    },
    /// Backups: save one from a member, inspect one (restore with `moord restore`)
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

/// Where the admin token a new cluster returns is written.
#[derive(Debug, Clone, Args)]
pub struct AdminTokenArgs {
    /// File the new cluster's admin token is written to (mode 0600); it is printed nowhere
    #[arg(
        long,
        value_name = "FILE",
        default_value = DEFAULT_ADMIN_TOKEN_FILE,
        value_parser = parse_path
    )]
    pub admin_token_out: PathBuf,
    /// Replace --admin-token-out if it exists
    #[arg(long)]
    pub force: bool,
}
