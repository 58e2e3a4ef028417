//! Nemeses: the faults a run injects, each reported as installed, skipped (with the reason) or
//! indeterminate (installing or removing it failed part way), with its start and end on the
//! history's clock.
//!
//! A nemesis is injected with [`inject`], held for a while by the schedule, and removed with
//! [`Active::heal`]. [`heal_all`] is the final cleanup: resume what is paused, remove every
//! network rule, restart every killed member still in the configuration.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::history::{FaultStatus, History, NemesisEvent};
use crate::netns::Peer;

/// How long a leader lookup may take before a leader-targeted fault picks a random member.
const LEADER_LOOKUP: Duration = Duration::from_secs(5);
/// Deadline of one membership change.
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(10);

/// The faults a run can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[clap(rename_all = "kebab-case")]
pub enum NemesisKind {
    /// No fault: a baseline run.
    None,
    /// SIGKILL the leader, restart it after the hold.
    KillLeader,
    /// SIGKILL a random member, restart it after the hold.
    KillRandom,
    /// SIGKILL every member at once, restart them all after the hold.
    KillAll,
    /// SIGSTOP the leader for longer than the election timeout, then SIGCONT (a zombie leader).
    PauseLeader,
    /// The leader (and, with 5 members, one follower) cut off from the majority.
    PartitionLeaderMinority,
    /// The leader with a majority, the rest cut off.
    PartitionLeaderMajority,
    /// Two halves that only a bridge member sees both of.
    PartitionBridge,
    /// The leader's packets never reach the others; theirs still reach it.
    PartitionOneWay,
    /// The clients cut off from the leader (both ways); members still talk to each other.
    PartitionClients,
    /// Add, remove or replace a member, half the time while a follower is killed.
    Membership,
    /// SIGTERM a random member and start it again at once.
    Restart,
    /// One of the above, chosen per fault by the seed.
    Mixed,
}

impl NemesisKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{self:?}"))
    }

    /// The family a profile counts this under (kill, pause, partition, membership, ...).
    pub fn family(self) -> &'static str {
        use NemesisKind::*;
        match self {
            None => "none",
            KillLeader | KillRandom | KillAll => "kill",
            PauseLeader => "pause",
            PartitionLeaderMinority
            | PartitionLeaderMajority
            | PartitionBridge
            | PartitionOneWay
            | PartitionClients => "partition",
            Membership => "membership",
            Restart => "restart",
            Mixed => "mixed",
        }
    }

    /// The concrete kinds `Mixed` chooses from.
    pub const CONCRETE: [NemesisKind; 11] = [
        NemesisKind::KillLeader,
        NemesisKind::KillRandom,
        NemesisKind::KillAll,
        NemesisKind::PauseLeader,
        NemesisKind::PartitionLeaderMinority,
        NemesisKind::PartitionLeaderMajority,
        NemesisKind::PartitionBridge,
        NemesisKind::PartitionOneWay,
        NemesisKind::PartitionClients,
        NemesisKind::Membership,
        NemesisKind::Restart,
    ];
}

/// What must be undone when the fault's hold is over.
#[derive(Debug, Clone)]
enum Undo {
    Nothing,
    Restart(Vec<u64>),
    Resume(Vec<u64>),
    HealNetwork,
}

/// A fault in place (or a record of one that could not be put in place).
#[derive(Debug)]
pub struct Active {
    pub event: NemesisEvent,
    undo: Undo,
}

impl Active {
    fn new(h: &History, name: String, status: FaultStatus, detail: String, undo: Undo) -> Active {
        let start_ns = h.now_ns();
        Active {
            event: NemesisEvent {
                name,
                detail,
                status,
                start_ns,
                end_ns: None,
            },
            undo,
        }
    }

    /// Whether the fault is (possibly) in place and the schedule should hold it.
    pub fn needs_hold(&self) -> bool {
        self.event.status != FaultStatus::Skipped
    }

    /// Removes the fault and closes its window. A failure to remove it makes it
    /// indeterminate (the final [`heal_all`] tries again).
    pub async fn heal<B: Backend>(mut self, b: &mut B, h: &History) -> NemesisEvent {
        let result = match &self.undo {
            Undo::Nothing => Ok(()),
            Undo::Restart(ids) => {
                let mut r = Ok(());
                for id in ids {
                    if b.members().contains(id) && !b.running().contains(id) {
                        if let Err(e) = b.restart(*id) {
                            r = Err(e);
                        }
                    }
                }
                r
            }
            Undo::Resume(ids) => {
                let mut r = Ok(());
                for id in ids {
                    if b.paused().contains(id) {
                        if let Err(e) = b.resume(*id) {
                            r = Err(e);
                        }
                    }
                }
                r
            }
            Undo::HealNetwork => b.heal_network(),
        };
        if let Err(e) = result {
            self.event.status = FaultStatus::Indeterminate;
            self.event.detail.push_str(&format!("; heal failed: {e:#}"));
        }
        self.event.end_ns = Some(h.now_ns());
        self.event
    }
}

async fn leader_or_random<B: Backend>(b: &B, rng: &mut StdRng) -> (u64, String) {
    match b.leader(LEADER_LOOKUP).await {
        Ok(l) => (l, format!("leader {l}")),
        Err(_) => {
            let ids = live(b);
            let id = *ids.choose(rng).unwrap_or(&1);
            (
                id,
                format!("no agreed leader within {LEADER_LOOKUP:?}; picked member {id}"),
            )
        }
    }
}

/// Running, unpaused members of the configuration.
fn live<B: Backend>(b: &B) -> Vec<u64> {
    let running = b.running();
    let paused = b.paused();
    b.members()
        .into_iter()
        .filter(|id| running.contains(id) && !paused.contains(id))
        .collect()
}

/// Injects one fault of `kind` (for `Mixed`, one chosen by `rng`).
pub async fn inject<B: Backend>(
    kind: NemesisKind,
    b: &mut B,
    rng: &mut StdRng,
    h: &History,
) -> Active {
    let kind = if kind == NemesisKind::Mixed {
        *NemesisKind::CONCRETE.choose(rng).expect("non-empty")
    } else {
        kind
    };
    let name = kind.name();
    use FaultStatus::*;
    use NemesisKind::*;
    match kind {
        None | Mixed => Active::new(h, name, Skipped, "no fault requested".into(), Undo::Nothing),
        KillLeader | KillRandom => {
            let (victim, why) = if kind == KillLeader {
                leader_or_random(b, rng).await
            } else {
                let ids = live(b);
                let id = *ids.choose(rng).unwrap_or(&1);
                (id, format!("random member {id}"))
            };
            match b.kill(victim) {
                Ok(()) => Active::new(
                    h,
                    name,
                    Installed,
                    format!("SIGKILL member {victim} ({why})"),
                    Undo::Restart(vec![victim]),
                ),
                Err(e) => Active::new(
                    h,
                    name,
                    Indeterminate,
                    format!("SIGKILL member {victim} failed: {e:#}"),
                    Undo::Restart(vec![victim]),
                ),
            }
        }
        KillAll => {
            let ids = b.running();
            let mut errors = Vec::new();
            for id in &ids {
                if let Err(e) = b.kill(*id) {
                    errors.push(format!("member {id}: {e:#}"));
                }
            }
            let status = if errors.is_empty() {
                Installed
            } else {
                Indeterminate
            };
            Active::new(
                h,
                name,
                status,
                format!("SIGKILL all members {ids:?} {}", errors.join("; ")),
                Undo::Restart(ids),
            )
        }
        PauseLeader => {
            let (victim, why) = leader_or_random(b, rng).await;
            match b.pause(victim) {
                Ok(()) => Active::new(
                    h,
                    name,
                    Installed,
                    format!("SIGSTOP member {victim} ({why})"),
                    Undo::Resume(vec![victim]),
                ),
                Err(e) => Active::new(
                    h,
                    name,
                    Indeterminate,
                    format!("SIGSTOP member {victim} failed: {e:#}"),
                    Undo::Resume(vec![victim]),
                ),
            }
        }
        PartitionLeaderMinority
        | PartitionLeaderMajority
        | PartitionBridge
        | PartitionOneWay
        | PartitionClients => partition(kind, b, rng, h).await,
        Membership => membership(b, rng, h).await,
        Restart => {
            let ids = live(b);
            let victim = *ids.choose(rng).unwrap_or(&1);
            let result = b.stop(victim).and_then(|()| b.restart(victim));
            match result {
                Ok(()) => Active::new(
                    h,
                    name,
                    Installed,
                    format!("SIGTERM member {victim}, clean exit, started again"),
                    Undo::Nothing,
                ),
                Err(e) => Active::new(
                    h,
                    name,
                    Indeterminate,
                    format!("restart of member {victim} failed: {e:#}"),
                    Undo::Restart(vec![victim]),
                ),
            }
        }
    }
}

async fn partition<B: Backend>(
    kind: NemesisKind,
    b: &mut B,
    rng: &mut StdRng,
    h: &History,
) -> Active {
    let name = kind.name();
    if let Some(reason) = b.network_faults_unavailable() {
        return Active::new(
            h,
            name,
            FaultStatus::Skipped,
            format!("SKIPPED: network faults unavailable: {reason}"),
            Undo::Nothing,
        );
    }
    let (leader, why) = leader_or_random(b, rng).await;
    let mut others: Vec<u64> = b.members().into_iter().filter(|m| *m != leader).collect();
    // Shuffle the followers so which of them land where depends on the seed.
    for i in (1..others.len()).rev() {
        let j = rng.random_range(0..=i);
        others.swap(i, j);
    }
    let n = others.len() + 1;
    let minority = (n - 1) / 2; // members on the smaller side
    let result: anyhow::Result<String> = match kind {
        NemesisKind::PartitionLeaderMinority => {
            let mut small = vec![leader];
            small.extend(others.iter().take(minority.saturating_sub(1)));
            let big: Vec<u64> = others[minority.saturating_sub(1)..].to_vec();
            b.partition(&[small.clone(), big.clone()])
                .map(|_| format!("{small:?} | {big:?} ({why} in the minority)"))
        }
        NemesisKind::PartitionLeaderMajority => {
            let mut big = vec![leader];
            let keep = n - minority - 1;
            big.extend(others.iter().take(keep));
            let small: Vec<u64> = others[keep..].to_vec();
            b.partition(&[big.clone(), small.clone()])
                .map(|_| format!("{big:?} | {small:?} ({why} in the majority)"))
        }
        NemesisKind::PartitionBridge => {
            // [a.., bridge] and [bridge, ..z]: the bridge sees both halves, they not each other.
            let mut all = vec![leader];
            all.extend(others.iter());
            for i in (1..all.len()).rev() {
                let j = rng.random_range(0..=i);
                all.swap(i, j);
            }
            let mid = all.len() / 2;
            let left = all[..=mid].to_vec();
            let right = all[mid..].to_vec();
            b.partition(&[left.clone(), right.clone()])
                .map(|_| format!("{left:?} | {right:?}, member {} bridges ({why})", all[mid]))
        }
        NemesisKind::PartitionOneWay => {
            let mut r = Ok(());
            for o in &others {
                if let Err(e) = b.cut(Peer::Member(leader), Peer::Member(*o)) {
                    r = Err(e);
                    break;
                }
            }
            r.map(|()| {
                format!("packets from member {leader} to {others:?} dropped, the other way open ({why})")
            })
        }
        NemesisKind::PartitionClients => b
            .cut(Peer::Clients, Peer::Member(leader))
            .and_then(|()| b.cut(Peer::Member(leader), Peer::Clients))
            .map(|()| format!("clients cut off from member {leader} both ways ({why})")),
        _ => unreachable!("not a partition: {kind:?}"),
    };
    match result {
        Ok(detail) => match b.network_rules() {
            Ok(rules) if !rules.is_empty() => Active::new(
                h,
                name,
                FaultStatus::Installed,
                format!("{detail}; {} DROP rules", rules.len()),
                Undo::HealNetwork,
            ),
            Ok(_) => Active::new(
                h,
                name,
                FaultStatus::Indeterminate,
                format!("{detail}; but no DROP rule is listed"),
                Undo::HealNetwork,
            ),
            Err(e) => Active::new(
                h,
                name,
                FaultStatus::Indeterminate,
                format!("{detail}; cannot list rules: {e:#}"),
                Undo::HealNetwork,
            ),
        },
        Err(e) => Active::new(
            h,
            name,
            FaultStatus::Indeterminate,
            format!("installing the partition failed part way: {e:#}"),
            Undo::HealNetwork,
        ),
    }
}

async fn membership<B: Backend>(b: &mut B, rng: &mut StdRng, h: &History) -> Active {
    let name = NemesisKind::Membership.name();
    let mut detail = Vec::new();
    let mut killed = Vec::new();
    // Half the time, change membership while a follower is down.
    if rng.random_bool(0.5) {
        let leader = b.leader(LEADER_LOOKUP).await.ok();
        let followers: Vec<u64> = live(b).into_iter().filter(|m| Some(*m) != leader).collect();
        if let Some(&victim) = followers.choose(rng) {
            match b.kill(victim) {
                Ok(()) => {
                    killed.push(victim);
                    detail.push(format!("SIGKILL follower {victim} first"));
                }
                Err(e) => detail.push(format!("SIGKILL follower {victim} failed: {e:#}")),
            }
        }
    }
    let members = b.members();
    let action = if members.len() >= 5 {
        if rng.random_bool(0.5) {
            "remove"
        } else {
            "replace"
        }
    } else if members.len() <= 3 {
        if rng.random_bool(0.5) {
            "add"
        } else {
            "replace"
        }
    } else {
        *["add", "remove", "replace"].choose(rng).expect("non-empty")
    };
    let mut ok = true;
    if action == "add" || action == "replace" {
        let id = b.fresh_member_id();
        match b.add_member(id, MEMBERSHIP_TIMEOUT).await {
            Ok(()) => detail.push(format!("added member {id}")),
            Err(e) => {
                ok = false;
                detail.push(format!("adding member {id} failed: {e:#}"));
            }
        }
    }
    if ok && (action == "remove" || action == "replace") {
        // Any member may go, the leader included; never the only one left.
        let candidates = b.members();
        if let Some(&id) = candidates.choose(rng) {
            match b.remove_member(id, MEMBERSHIP_TIMEOUT).await {
                Ok(()) => {
                    detail.push(format!("removed member {id}"));
                    killed.retain(|k| *k != id);
                }
                Err(e) => {
                    ok = false;
                    detail.push(format!("removing member {id} failed: {e:#}"));
                }
            }
        }
    }
    detail.push(format!("{action}; members now {:?}", b.members()));
    Active::new(
        h,
        name,
        if ok {
            FaultStatus::Installed
        } else {
            FaultStatus::Indeterminate
        },
        detail.join("; "),
        Undo::Restart(killed),
    )
}

/// Removes every fault: resumes paused members, drops every network rule, restarts every
/// killed member still in the configuration. Returns what it did, or the errors.
pub async fn heal_all<B: Backend>(b: &mut B) -> Result<String, String> {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for id in b.paused() {
        match b.resume(id) {
            Ok(()) => done.push(format!("SIGCONT {id}")),
            Err(e) => errors.push(format!("SIGCONT {id}: {e:#}")),
        }
    }
    if let Err(e) = b.heal_network() {
        errors.push(format!("network: {e:#}"));
    }
    let running = b.running();
    for id in b.members() {
        if !running.contains(&id) {
            match b.restart(id) {
                Ok(()) => done.push(format!("restarted {id}")),
                Err(e) => errors.push(format!("restart {id}: {e:#}")),
            }
        }
    }
    if errors.is_empty() {
        Ok(done.join(", "))
    } else {
        Err(errors.join("; "))
    }
}
