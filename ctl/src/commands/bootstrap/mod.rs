//! `moorctl cluster bootstrap`: forms a cluster out of members that start at the same time
//! (a compose file, a StatefulSet, three systemd hosts), with no race over who initialises.
//!
//! Every bootstrap run is given the same members: their ids (`--member`, with their peer
//! addresses or not) and their client addresses (`--endpoints`). Bootstrap asks each
//! endpoint for its status (which names the member's id and the peer address it
//! advertises) and then:
//!
//! - if any reachable member already belongs to a cluster, it initialises nothing (a member
//!   whose data was wiped must rejoin the cluster that exists, not start a new one) and only
//!   reports, or waits;
//! - otherwise, once *every* listed member answers (and so is known to have no state), it
//!   sends `ClusterInit` with the *same* list (each member's id and peer address: the one
//!   given, else the one it reports) to each of them, taking "already initialised" as
//!   success. Waiting for all of them is what makes "no member has state" a fact rather
//!   than a guess: a member that does not answer may hold the cluster's data, and
//!   initialising wiped members beside it would start a second history.
//!
//! Why sending it to several members is safe: openraft 0.9's `Raft::initialize` appends the
//! membership entry at log id (term 0, index 0) on a pristine member and refuses on any member
//! that has a log or has voted. Identical entries on several members are one log; the Raft
//! vote elects a single leader (openraft's "cluster formation" notes: "with the same
//! membership, it is safe"). What is not safe is two *different* lists, so the list comes from
//! one place (one env var or config map shared by all members and the bootstrap job).
//!
//! So the command can run before the members listen, after they formed the cluster, twice at
//! the same time, or again on every `docker-compose up`: it retries until its deadline and is
//! idempotent. With `--wait` it returns only when every listed member follows one leader that
//! has every listed member as a voter.

mod decide;
mod run;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::time::Instant;
use tonic::Code;

pub use decide::{decide, formed, Decision, Probe, Probes, Wanted};

use crate::cli::{AdminTokenArgs, OutputFormat, VoterSpec};
use crate::client::{Client, RpcError, Security};
use crate::settings::Settings;
use crate::views::formation::{BootstrapMember, BootstrapView};
use crate::views::show;
use run::Run;

/// Deadline of one status or init call to one member; the whole command ends by
/// `--timeout-ms`.
pub(super) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// How often members are asked again while they start or elect.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// True for a refusal by access control: every later round would get the same.
pub(super) fn denied(e: &RpcError) -> bool {
    matches!(
        e.code(),
        Some(Code::Unauthenticated | Code::PermissionDenied)
    )
}

/// Asks `endpoint` for its status; a refusal by access control ends bootstrap.
async fn probe(endpoint: &str, security: &Security) -> Result<Probe> {
    let mut c = Client::new(&[endpoint.to_string()], ATTEMPT_TIMEOUT, security.clone());
    match c.cluster_status().await {
        Ok(s) => Ok(Probe::Status(s)),
        Err(e) if denied(&e) => {
            Err(e).with_context(|| format!("{endpoint} refused to say its status"))
        }
        Err(e) => Ok(Probe::Unreachable(one_line(&e))),
    }
}

/// Probes every endpoint at once, so one that hangs does not delay the others.
pub(super) async fn probe_all(endpoints: &[String], security: &Security) -> Result<Probes> {
    let mut set = tokio::task::JoinSet::new();
    for endpoint in endpoints {
        let (endpoint, security) = (endpoint.clone(), security.clone());
        set.spawn(async move {
            let p = probe(&endpoint, &security).await;
            (endpoint, p)
        });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        let (endpoint, p) = joined.expect("a status probe panicked");
        out.insert(endpoint, p?);
    }
    Ok(out)
}

pub(super) fn one_line(e: &RpcError) -> String {
    e.to_string().replace('\n', " ")
}

/// What this run knows of, and did at, each endpoint.
pub(super) type Rows = BTreeMap<String, BootstrapMember>;

/// The endpoints to ask: the settings' (`--endpoints`, `MOOR_ENDPOINTS`, the context); when
/// none gave any and every `--member` has an address, those addresses, as before members
/// had two listeners (a member that serves clients and peers on one address).
fn endpoints(members: &[VoterSpec], settings: &Settings) -> Vec<String> {
    let given: Option<Vec<String>> = members.iter().map(|m| m.peer_addr.clone()).collect();
    match given {
        Some(addrs) if settings.endpoints_defaulted() && !addrs.is_empty() => addrs,
        _ => settings.endpoints.clone(),
    }
}

/// `moorctl cluster bootstrap --member ID[=ADDR] ... [--wait]` over the client's endpoints,
/// within its timeout.
pub(super) async fn run(
    members: &[VoterSpec],
    wait: bool,
    out: &AdminTokenArgs,
    client: &Client,
    settings: &Settings,
    format: OutputFormat,
) -> Result<()> {
    let timeout = client.timeout();
    let deadline = Instant::now() + timeout;
    let wanted: Wanted = members
        .iter()
        .map(|m| (m.id, m.peer_addr.clone()))
        .collect();
    let endpoints = endpoints(members, settings);
    let mut run = Run {
        wanted,
        endpoints: endpoints.clone(),
        security: client.security().clone(),
        rows: endpoints
            .iter()
            .map(|e| {
                let row = BootstrapMember {
                    endpoint: e.clone(),
                    id: None,
                    peer_addr: None,
                    outcome: "not reached".into(),
                };
                (e.clone(), row)
            })
            .collect(),
        deadline,
        timeout,
    };
    let admin_token = run.initialise(out, settings).await?;
    let (leader_id, term) = run.wait_formed(wait).await?;
    let view = BootstrapView {
        members: run.rows.into_values().collect(),
        leader_id,
        term,
        admin_token,
    };
    show(&view, format)
}
