//! `moorctl cluster bootstrap`: forms a cluster out of members that start at the same time
//! (a compose file, a StatefulSet, three systemd hosts), with no race over who initialises.
//!
//! Every member is given the same list of initial voters. Bootstrap asks every listed member
//! for its status and then:
//!
//! - if any reachable member already belongs to a cluster, it initialises nothing (a member
//!   whose data was wiped must rejoin the cluster that exists, not start a new one) and only
//!   reports, or waits;
//! - otherwise, once *every* listed member answers (and so is known to have no state), it
//!   sends `ClusterInit` with the *same* list to each of them, taking "already initialised"
//!   as success. Waiting for all of them is what makes "no member has state" a fact rather
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{bail, Result};
use moor_proto::api::ClusterStatusResponse;
use tokio::time::Instant;
use tonic::Code;

use crate::cli::{MemberSpec, OutputFormat};
use crate::client::{Client, RpcError, Security};
use crate::views::cluster::{BootstrapMember, BootstrapView};
use crate::views::show;

/// Deadline of one status or init call to one member; the whole command ends by
/// `--timeout-ms`.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// How often members are asked again while they start or elect.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// What one member said to one status request.
#[derive(Debug, Clone)]
pub enum Probe {
    /// It answered.
    Status(ClusterStatusResponse),
    /// It could not be asked (not listening yet, name not resolvable, ...).
    Unreachable(String),
}

/// What to do after one round of status requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A reachable member already belongs to a cluster: initialise nothing. `differs` holds
    /// the voters that member knows when they are not the list given.
    Formed {
        via: u64,
        differs: Option<Vec<(u64, String)>>,
    },
    /// Every listed member answered and none belongs to a cluster: initialise them all.
    Initialise(Vec<u64>),
    /// No member answered that it belongs to a cluster, but these did not answer: wait.
    Waiting(Vec<u64>),
}

/// Decides from one round of probes (pure, so it is tested without members).
pub fn decide(wanted: &BTreeMap<u64, String>, probes: &BTreeMap<u64, Probe>) -> Decision {
    let formed = probes.iter().find_map(|(id, p)| match p {
        Probe::Status(s) if !s.members.is_empty() => Some((*id, s)),
        _ => None,
    });
    if let Some((via, s)) = formed {
        let voters: BTreeMap<u64, String> = s
            .members
            .iter()
            .filter(|m| m.voter)
            .map(|m| (m.id, m.addr.clone()))
            .collect();
        let differs = (voters != *wanted).then(|| voters.into_iter().collect());
        return Decision::Formed { via, differs };
    }
    let silent: Vec<u64> = wanted
        .keys()
        .filter(|id| !matches!(probes.get(id), Some(Probe::Status(_))))
        .copied()
        .collect();
    if silent.is_empty() {
        Decision::Initialise(wanted.keys().copied().collect())
    } else {
        Decision::Waiting(silent)
    }
}

/// Whether the listed members have formed: every one answers, all name the same leader in the
/// same term, the leader says it leads, and it has every listed member as a voter. `Err` says
/// what is still missing, for progress and timeout messages.
pub fn formed(
    wanted: &BTreeMap<u64, String>,
    probes: &BTreeMap<u64, Probe>,
) -> Result<u64, String> {
    let mut seen = Vec::new();
    for (id, p) in probes {
        match p {
            Probe::Unreachable(e) => return Err(format!("member {id} does not answer: {e}")),
            Probe::Status(s) => seen.push((*id, s)),
        }
    }
    let (_, first) = seen.first().ok_or("no member listed")?;
    let Some(leader) = first.leader_id else {
        return Err(format!("member {} knows no leader yet", first.id));
    };
    for (id, s) in &seen {
        if s.leader_id != Some(leader) || s.term != first.term {
            return Err(format!(
                "members disagree: member {} follows {:?} in term {}, member {id} follows {:?} in term {}",
                first.id, first.leader_id, first.term, s.leader_id, s.term
            ));
        }
    }
    let Some((_, ls)) = seen.iter().find(|(id, _)| *id == leader) else {
        return Err(format!(
            "the leader {leader} is not one of the listed members"
        ));
    };
    if ls.state != "Leader" {
        return Err(format!(
            "member {leader} is named leader but is {}",
            ls.state
        ));
    }
    let voters: BTreeSet<u64> = ls
        .members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.id)
        .collect();
    if let Some(missing) = wanted.keys().find(|id| !voters.contains(id)) {
        return Err(format!(
            "member {missing} is not a voter of leader {leader}'s cluster"
        ));
    }
    Ok(leader)
}

async fn probe(addr: &str, security: &Security) -> Probe {
    let mut c = Client::new(&[addr.to_string()], ATTEMPT_TIMEOUT, security.clone());
    match c.cluster_status().await {
        Ok(s) => Probe::Status(s),
        Err(e) => Probe::Unreachable(one_line(&e)),
    }
}

/// Probes every listed member at once, so one that hangs does not delay the others.
async fn probe_all(wanted: &BTreeMap<u64, String>, security: &Security) -> BTreeMap<u64, Probe> {
    let mut set = tokio::task::JoinSet::new();
    for (id, addr) in wanted {
        let (id, addr, security) = (*id, addr.clone(), security.clone());
        set.spawn(async move { (id, probe(&addr, &security).await) });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        let (id, p) = joined.expect("a status probe panicked");
        out.insert(id, p);
    }
    out
}

fn one_line(e: &RpcError) -> String {
    e.to_string().replace('\n', " ")
}

/// What this run did at each listed member, by id.
type Outcomes = BTreeMap<u64, String>;

/// `moorctl cluster bootstrap --member ID=ADDR ... [--wait]` within `timeout`.
pub(super) async fn run(
    members: &[MemberSpec],
    wait: bool,
    timeout: Duration,
    security: &Security,
    format: OutputFormat,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let wanted: BTreeMap<u64, String> = members.iter().map(|m| (m.id, m.addr.clone())).collect();
    let mut outcome: Outcomes = wanted
        .keys()
        .map(|id| (*id, "not reached".to_string()))
        .collect();
    initialise(&wanted, &mut outcome, deadline, timeout, security).await?;
    let (leader, term) =
        wait_formed(&wanted, &mut outcome, wait, deadline, timeout, security).await?;
    let view = BootstrapView {
        members: outcome
            .into_iter()
            .map(|(id, outcome)| BootstrapMember {
                id,
                addr: wanted[&id].clone(),
                outcome,
            })
            .collect(),
        leader_id: leader,
        term,
    };
    show(&view, format)
}

/// Phase 1: initialise the members, unless a cluster exists already.
async fn initialise(
    wanted: &BTreeMap<u64, String>,
    outcome: &mut Outcomes,
    deadline: Instant,
    timeout: Duration,
    security: &Security,
) -> Result<()> {
    loop {
        let probes = probe_all(wanted, security).await;
        match decide(wanted, &probes) {
            Decision::Formed { via, differs } => {
                if let Some(voters) = differs {
                    eprintln!(
                        "moorctl: note: the cluster already exists (member {via} knows it) and its \
                         voters {voters:?} differ from the --member list; nothing was initialised. \
                         Change membership with `moorctl cluster add/promote/remove`."
                    );
                }
                for (id, p) in &probes {
                    if let Probe::Status(s) = p {
                        if !s.members.is_empty() && outcome[id] == "not reached" {
                            outcome.insert(*id, "already initialised".into());
                        }
                    }
                }
                return Ok(());
            }
            Decision::Initialise(ids) => {
                if init_all(wanted, &ids, outcome, security).await? {
                    return Ok(());
                }
            }
            Decision::Waiting(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(not_initialised(wanted, &probes, timeout));
        }
        // Polls members that are still starting; bounded by the deadline.
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Sends `ClusterInit` with the whole list to each of `ids`; true when one of them took it
/// (or had taken it before).
async fn init_all(
    wanted: &BTreeMap<u64, String>,
    ids: &[u64],
    outcome: &mut Outcomes,
    security: &Security,
) -> Result<bool> {
    let init_msg: HashMap<u64, String> = wanted.clone().into_iter().collect();
    let mut accepted = false;
    for &id in ids {
        let addr = &wanted[&id];
        let mut c = Client::new(
            std::slice::from_ref(addr),
            ATTEMPT_TIMEOUT,
            security.clone(),
        );
        match c.cluster_init(init_msg.clone()).await {
            Ok(_) => {
                outcome.insert(id, "initialised".into());
                accepted = true;
            }
            Err(e) if e.code() == Some(Code::FailedPrecondition) => {
                outcome.insert(id, "already initialised".into());
                accepted = true;
            }
            // Not applied, or unknown: the next round's status tells.
            Err(e @ (RpcError::Unavailable { .. } | RpcError::OutcomeUnknown { .. })) => {
                eprintln!(
                    "moorctl: member {id} at {addr}: {}; asking again",
                    one_line(&e)
                );
            }
            Err(e) => bail!(
                "member {id} at {addr} refused to initialise: {}; check that the \
                 member listening at {addr} was started with id {id}",
                one_line(&e)
            ),
        }
    }
    Ok(accepted)
}

/// The error when the deadline passed before the members could be initialised.
fn not_initialised(
    wanted: &BTreeMap<u64, String>,
    probes: &BTreeMap<u64, Probe>,
    timeout: Duration,
) -> anyhow::Error {
    let detail: Vec<String> = probes
        .iter()
        .map(|(id, p)| match p {
            Probe::Unreachable(e) => format!("member {id} at {}: {e}", wanted[id]),
            Probe::Status(s) => format!("member {id}: {} in term {}", s.state, s.term),
        })
        .collect();
    anyhow::anyhow!(
        "the members were not initialised within {} ms: bootstrap initialises only \
         when every listed member answers and none has state. Start moord on every \
         listed address (same ids), check that this host resolves and reaches them, \
         or give a larger --timeout-ms:\n    {}",
        timeout.as_millis(),
        detail.join("\n    ")
    )
}

/// Phase 2: with `wait`, waits until every listed member follows one leader; without, reports
/// what one round finds. Returns the leader and its term, when formed.
async fn wait_formed(
    wanted: &BTreeMap<u64, String>,
    outcome: &mut Outcomes,
    wait: bool,
    deadline: Instant,
    timeout: Duration,
    security: &Security,
) -> Result<(Option<u64>, Option<u64>)> {
    loop {
        let probes = probe_all(wanted, security).await;
        let verdict = formed(wanted, &probes);
        record_joined(&probes, outcome);
        match verdict {
            Ok(l) => {
                let term = match probes.get(&l) {
                    Some(Probe::Status(s)) => Some(s.term),
                    _ => None,
                };
                return Ok((Some(l), term));
            }
            Err(_) if !wait => return Ok((None, None)),
            Err(why) if Instant::now() >= deadline => bail!(
                "the cluster did not form within {} ms: {why}; check the members' logs \
                 (can they reach each other at the listed addresses?), or give a larger \
                 --timeout-ms",
                timeout.as_millis()
            ),
            Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

/// Members that answered since: `waiting` (no cluster state yet) or `joined` (replicated
/// to).
fn record_joined(probes: &BTreeMap<u64, Probe>, outcome: &mut Outcomes) {
    for (id, p) in probes {
        if let Probe::Status(s) = p {
            if outcome[id] == "not reached" {
                let o = if s.members.is_empty() {
                    "waiting"
                } else {
                    "joined"
                };
                outcome.insert(*id, o.into());
            } else if outcome[id] == "waiting" && !s.members.is_empty() {
                outcome.insert(*id, "joined".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moor_proto::api::Member;

    fn wanted() -> BTreeMap<u64, String> {
        (1..=3).map(|i| (i, format!("m{i}:7401"))).collect()
    }

    fn status(id: u64, leader: Option<u64>, term: u64, voters: &[u64]) -> Probe {
        Probe::Status(ClusterStatusResponse {
            id,
            state: if leader == Some(id) {
                "Leader"
            } else {
                "Follower"
            }
            .into(),
            leader_id: leader,
            term,
            members: voters
                .iter()
                .map(|v| Member {
                    id: *v,
                    addr: format!("m{v}:7401"),
                    voter: true,
                    matched_index: None,
                    lag: None,
                })
                .collect(),
            ..Default::default()
        })
    }

    fn down() -> Probe {
        Probe::Unreachable("connection refused".into())
    }

    #[test]
    fn pristine_members_are_initialised_only_once_all_of_them_answer() {
        let probes = BTreeMap::from([
            (1, status(1, None, 0, &[])),
            (2, down()),
            (3, status(3, None, 0, &[])),
        ]);
        // Member 2 might hold the cluster's data: initialising 1 and 3 could start a second
        // history, so nothing happens until it answers.
        assert_eq!(decide(&wanted(), &probes), Decision::Waiting(vec![2]));
        let probes = BTreeMap::from([(1, down()), (2, down()), (3, down())]);
        assert_eq!(decide(&wanted(), &probes), Decision::Waiting(vec![1, 2, 3]));
        let probes: BTreeMap<u64, Probe> = (1..=3).map(|i| (i, status(i, None, 0, &[]))).collect();
        assert_eq!(
            decide(&wanted(), &probes),
            Decision::Initialise(vec![1, 2, 3])
        );
    }

    #[test]
    fn an_existing_cluster_is_never_initialised_again() {
        // Member 2 was wiped (pristine) but 1 belongs to the cluster: nothing is initialised.
        let probes = BTreeMap::from([
            (1, status(1, Some(1), 3, &[1, 2, 3])),
            (2, status(2, None, 0, &[])),
            (3, down()),
        ]);
        assert_eq!(
            decide(&wanted(), &probes),
            Decision::Formed {
                via: 1,
                differs: None
            }
        );
        // The cluster grew since: reported, still not initialised.
        let probes = BTreeMap::from([(1, status(1, Some(1), 3, &[1, 2, 3, 4]))]);
        assert!(matches!(
            decide(&wanted(), &probes),
            Decision::Formed { via: 1, differs: Some(v) } if v.len() == 4
        ));
    }

    #[test]
    fn formed_needs_one_leader_everyone_follows_with_every_member_voting() {
        let all = |l, t| {
            BTreeMap::from([
                (1, status(1, l, t, &[1, 2, 3])),
                (2, status(2, l, t, &[1, 2, 3])),
                (3, status(3, l, t, &[1, 2, 3])),
            ])
        };
        assert_eq!(formed(&wanted(), &all(Some(2), 1)), Ok(2));
        assert!(formed(&wanted(), &all(None, 1)).is_err());
        let mut split = all(Some(2), 1);
        split.insert(3, status(3, Some(3), 2, &[1, 2, 3]));
        assert!(formed(&wanted(), &split).unwrap_err().contains("disagree"));
        let mut lagging = all(Some(2), 1);
        lagging.insert(1, down());
        assert!(formed(&wanted(), &lagging)
            .unwrap_err()
            .contains("does not answer"));
        let partial = BTreeMap::from([
            (1, status(1, Some(1), 1, &[1, 2])),
            (2, status(2, Some(1), 1, &[1, 2])),
            (3, status(3, Some(1), 1, &[1, 2])),
        ]);
        assert!(formed(&wanted(), &partial)
            .unwrap_err()
            .contains("member 3 is not a voter"));
    }
}
