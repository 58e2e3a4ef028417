//! The pure decisions of `cluster bootstrap`, tested without members: from one round of
//! status answers (one per endpoint), whether to initialise, with which voter list, or to
//! wait; and whether the cluster has formed.

use std::collections::{BTreeMap, BTreeSet};

use moor_proto::api::ClusterStatusResponse;

/// What one endpoint said to one status request.
// A handful of probes per round (one per endpoint): their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Probe {
    /// It answered.
    Status(ClusterStatusResponse),
    /// It could not be asked (not listening yet, name not resolvable, ...).
    Unreachable(String),
}

/// One round of probes, by endpoint (a member's client address).
pub type Probes = BTreeMap<String, Probe>;

/// The voters asked for: id → the peer address given with `--member ID=ADDR`, if any.
pub type Wanted = BTreeMap<u64, Option<String>>;

/// What to do after one round of status requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A reachable member already belongs to a cluster: initialise nothing. `differs` holds
    /// the voters that member knows when they are not the ones asked for.
    Formed {
        via: u64,
        differs: Option<Vec<(u64, String)>>,
    },
    /// Every endpoint answered, each is a listed member, none belongs to a cluster:
    /// initialise each (`targets`: id → endpoint) with `voters` (id → peer address).
    Initialise {
        voters: BTreeMap<u64, String>,
        targets: BTreeMap<u64, String>,
    },
    /// These endpoints did not answer: wait.
    Waiting(Vec<String>),
    /// The endpoints and the list do not match; waiting will not fix it.
    Misconfigured(String),
}

/// Decides from one round of probes.
pub fn decide(wanted: &Wanted, probes: &Probes) -> Decision {
    let answered = || {
        probes.iter().filter_map(|(e, p)| match p {
            Probe::Status(s) => Some((e, s)),
            Probe::Unreachable(_) => None,
        })
    };
    if let Some((_, s)) = answered().find(|(_, s)| !s.members.is_empty()) {
        let voters: BTreeMap<u64, String> = s
            .members
            .iter()
            .filter(|m| m.voter)
            .map(|m| (m.id, m.addr.clone()))
            .collect();
        let same_ids = voters.keys().eq(wanted.keys());
        let same_addrs = wanted
            .iter()
            .all(|(id, a)| a.as_ref().is_none_or(|a| voters.get(id) == Some(a)));
        let differs = (!same_ids || !same_addrs).then(|| voters.into_iter().collect());
        return Decision::Formed { via: s.id, differs };
    }
    let listed = || {
        let ids: Vec<String> = wanted.keys().map(u64::to_string).collect();
        ids.join(",")
    };
    let mut by_id: BTreeMap<u64, (&String, &ClusterStatusResponse)> = BTreeMap::new();
    for (endpoint, s) in answered() {
        if let Some((other, _)) = by_id.insert(s.id, (endpoint, s)) {
            return Decision::Misconfigured(format!(
                "endpoints {other} and {endpoint} are both member {}: give each member's \
                 client address once in --endpoints",
                s.id
            ));
        }
        if !wanted.contains_key(&s.id) {
            return Decision::Misconfigured(format!(
                "endpoint {endpoint} is member {}, which is not in the --member list ({}); \
                 --endpoints must be the listed members' client addresses",
                s.id,
                listed()
            ));
        }
    }
    let silent: Vec<String> = probes
        .iter()
        .filter(|(_, p)| matches!(p, Probe::Unreachable(_)))
        .map(|(e, _)| e.clone())
        .collect();
    if !silent.is_empty() {
        return Decision::Waiting(silent);
    }
    if let Some(missing) = wanted.keys().find(|id| !by_id.contains_key(id)) {
        return Decision::Misconfigured(format!(
            "member {missing} is in the --member list but none of --endpoints is member \
             {missing}: add its client address to --endpoints"
        ));
    }
    let mut voters = BTreeMap::new();
    for (id, given) in wanted {
        let (endpoint, s) = by_id[id];
        let addr = match given {
            Some(a) => a.clone(),
            None if !s.peer_addr.is_empty() => s.peer_addr.clone(),
            None => {
                return Decision::Misconfigured(format!(
                    "member {id} at {endpoint} does not report its peer address (a moord \
                     older than this moorctl?); give it with --member {id}=PEER_HOST:PORT"
                ))
            }
        };
        voters.insert(*id, addr);
    }
    let mut addrs: Vec<&String> = voters.values().collect();
    addrs.sort_unstable();
    if let Some(w) = addrs.windows(2).find(|w| w[0] == w[1]) {
        return Decision::Misconfigured(format!(
            "two members have the peer address {}; each member needs its own (check the \
             members' advertised peer addresses, or give them with --member ID=ADDR)",
            w[0]
        ));
    }
    let targets = by_id
        .iter()
        .map(|(id, (e, _))| (*id, (*e).clone()))
        .collect();
    Decision::Initialise { voters, targets }
}

/// Whether the listed members have formed: every endpoint answers, all name the same leader
/// in the same term, the leader says it leads, and it has every listed member as a voter.
/// `Err` says what is still missing, for progress and timeout messages.
pub fn formed(wanted: &Wanted, probes: &Probes) -> Result<u64, String> {
    let mut seen = Vec::new();
    for (endpoint, p) in probes {
        match p {
            Probe::Unreachable(e) => return Err(format!("{endpoint} does not answer: {e}")),
            Probe::Status(s) => seen.push(s),
        }
    }
    let first = seen.first().ok_or("no endpoint given")?;
    let Some(leader) = first.leader_id else {
        return Err(format!("member {} knows no leader yet", first.id));
    };
    for s in &seen {
        if s.leader_id != Some(leader) || s.term != first.term {
            return Err(format!(
                "members disagree: member {} follows {:?} in term {}, member {} follows {:?} \
                 in term {}",
                first.id, first.leader_id, first.term, s.id, s.leader_id, s.term
            ));
        }
    }
    let Some(ls) = seen.iter().find(|s| s.id == leader) else {
        return Err(format!("the leader {leader} is not one of --endpoints"));
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

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
