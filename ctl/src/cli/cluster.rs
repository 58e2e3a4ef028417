//! The arguments of `moorctl cluster`.

use clap::Subcommand;

use super::values::{parse_member, parse_member_addr, MemberSpec};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Initialise a new cluster (once, on a fresh member); sent to the first endpoint only
    Init {
        /// An initial voter, as ID=HOST:PORT (repeat for each); none: the member receiving the
        /// request forms a cluster alone
        #[arg(long = "member", value_name = "ID=HOST:PORT", value_parser = parse_member)]
        members: Vec<MemberSpec>,
    },
    /// Form a cluster from members that start at the same time: once every listed member
    /// answers and none has state, initialise them with the same voter list; nothing if a
    /// cluster exists
    /// (safe to run again and from several places at once; see deploy/README.md). Talks to
    /// the listed addresses, not --endpoints; the whole command ends by --timeout-ms
    Bootstrap {
        /// An initial voter, as ID=HOST:PORT (repeat, or comma-separate); every member and
        /// every bootstrap run must be given the same list
        #[arg(
            long = "member",
            env = "MOOR_INITIAL_MEMBERS",
            value_name = "ID=HOST:PORT",
            value_delimiter = ',',
            required = true,
            value_parser = parse_member
        )]
        members: Vec<MemberSpec>,
        /// Return only once every listed member follows one leader that has them all as voters
        #[arg(long)]
        wait: bool,
    },
    /// Show the state of the member answering and the members it knows
    Status,
    /// Add a member as a learner (it replicates but does not vote until promoted)
    Add {
        /// Member id of the new member
        id: u64,
        /// Address the new member serves peers and clients on, as host:port
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
}
