//! Nemeses: the faults a run injects, each reported as installed, skipped (with the reason) or
//! indeterminate (installing or removing it failed part way), with its start and end on the
//! history's clock.
//!
//! A nemesis is injected with [`inject`], held for a while by the schedule, and removed with
//! [`Active::heal`]. [`heal_all`] is the final cleanup: resume what is paused, remove every
//! network rule, restart every killed member still in the configuration and every killed
//! site agent.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::agent_proc::AgentFleet;
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
    /// SIGKILL the leader and start it again at once, as systemd's `Restart=` or compose's
    /// `restart:` do: the process is back before the others' election timeout, the shape
    /// in which openraft would let it lead again in its old term (WF3, WF7).
    KillRestartLeader,
    /// SIGKILL a random real site agent (`moor-agent`), restart it on the same data dir after
    /// the hold: its durable fencing and dedupe must survive (skipped without agents).
    KillAgent,
    /// Damage a follower's Raft store on disk (a table, or its WAL) while it is stopped and
    /// start it again: it must refuse to start, naming the damage; the heal replaces it by a
    /// new member, as the runbook says (deploy/README.md, "Corrupted disk").
    CorruptDisk,
    /// One of the above, chosen per fault by the seed.
    Mixed,
}

/// How a `corrupt-disk` fault's detail starts when the member started on the damaged disk
/// (the runner counts it as a violation).
pub const NOT_DETECTED: &str = "DAMAGE NOT DETECTED";

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
            KillLeader | KillRandom | KillAll | KillRestartLeader => "kill",
            PauseLeader => "pause",
            PartitionLeaderMinority
            | PartitionLeaderMajority
            | PartitionBridge
            | PartitionOneWay
            | PartitionClients => "partition",
            Membership => "membership",
            Restart => "restart",
            KillAgent => "agent",
            CorruptDisk => "disk",
            Mixed => "mixed",
        }
    }

    /// The concrete kinds `Mixed` chooses from.
    pub const CONCRETE: [NemesisKind; 14] = [
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
        NemesisKind::KillRestartLeader,
        NemesisKind::KillAgent,
        NemesisKind::CorruptDisk,
    ];
}

/// What must be undone when the fault's hold is over.
#[derive(Debug, Clone)]
enum Undo {
    Nothing,
    Restart(Vec<u64>),
    Resume(Vec<u64>),
    HealNetwork,
    /// Start site agent `i` again.
    RestartAgent(usize),
    /// Remove member `id` and add a new member in its place (a damaged disk's runbook).
    Replace(u64),
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
    pub async fn heal<B: Backend>(
        mut self,
        b: &mut B,
        agents: &AgentFleet,
        h: &History,
    ) -> NemesisEvent {
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
            Undo::RestartAgent(i) => agents.restart(*i),
            Undo::Replace(id) => replace(b, *id).await,
        };
        if let Err(e) = result {
            self.event.status = FaultStatus::Indeterminate;
            self.event.detail.push_str(&format!("; heal failed: {e:#}"));
        }
        self.event.end_ns = Some(h.now_ns());
        self.event
    }
}

/// The leader, or a random live member when none is agreed within [`LEADER_LOOKUP`], and
/// how it was found (for the fault's description).
async fn leader_or_random<B: Backend>(b: &B, rng: &mut StdRng) -> (u64, String) {
    match b.leader(LEADER_LOOKUP).await {
        Ok(l) => (l, format!("leader {l}")),
        Err(_) => {
            let id = random_live(b, rng);
            (
                id,
                format!("no agreed leader within {LEADER_LOOKUP:?}; picked member {id}"),
            )
        }
    }
}

/// A live member chosen by `rng` (member 1 when none is live).
fn random_live<B: Backend>(b: &B, rng: &mut StdRng) -> u64 {
    *live(b).choose(rng).unwrap_or(&1)
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

/// Shuffles `ids` in place with `rng` (Fisher–Yates, so a seed gives the same order).
fn shuffle(ids: &mut [u64], rng: &mut StdRng) {
    for i in (1..ids.len()).rev() {
        let j = rng.random_range(0..=i);
        ids.swap(i, j);
    }
}

/// Injects one fault of `kind` (for `Mixed`, one chosen by `rng`).
pub async fn inject<B: Backend>(
    kind: NemesisKind,
    b: &mut B,
    agents: &AgentFleet,
    rng: &mut StdRng,
    h: &History,
) -> Active {
    let kind = if kind == NemesisKind::Mixed {
        *NemesisKind::CONCRETE.choose(rng).expect("non-empty")
    } else {
        kind
    };
    use NemesisKind::*;
    match kind {
        None | Mixed => Active::new(
            h,
            kind.name(),
            FaultStatus::Skipped,
            "no fault requested".into(),
            Undo::Nothing,
        ),
        KillLeader | KillRandom => kill_one(kind, b, rng, h).await,
        KillAll => kill_all(b, h),
        PauseLeader => pause_leader(b, rng, h).await,
        PartitionLeaderMinority
        | PartitionLeaderMajority
        | PartitionBridge
        | PartitionOneWay
        | PartitionClients => partition(kind, b, rng, h).await,
        Membership => membership(b, rng, h).await,
        Restart => restart_one(b, rng, h),
        KillRestartLeader => kill_restart_leader(b, rng, h).await,
        KillAgent => kill_agent(agents, rng, h),
        CorruptDisk => corrupt_disk(b, rng, h).await,
    }
}

/// Removes member `id` and adds a fresh one (data from the others), as the corrupted-disk
/// runbook replaces a member.
async fn replace<B: Backend>(b: &mut B, id: u64) -> anyhow::Result<()> {
    b.remove_member(id, MEMBERSHIP_TIMEOUT).await?;
    let new = b.fresh_member_id();
    b.add_member(new, MEMBERSHIP_TIMEOUT).await
}

/// What a damaged member must say: the runbook step of moor-raft-store's corruption error.
const DAMAGE_REPORTED: &str = "this member's disk is damaged";

/// `CorruptDisk`: kill a follower, restart it once (its WAL replay makes tables), kill it,
/// damage its largest table (or WAL), start it: it must exit non-zero saying its disk is
/// damaged. The heal replaces it.
async fn corrupt_disk<B: Backend>(b: &mut B, rng: &mut StdRng, h: &History) -> Active {
    let name = NemesisKind::CorruptDisk.name();
    let leader = b.leader(LEADER_LOOKUP).await.ok();
    let followers: Vec<u64> = live(b).into_iter().filter(|m| Some(*m) != leader).collect();
    let Some(&victim) = followers.choose(rng) else {
        return Active::new(
            h,
            name,
            FaultStatus::Skipped,
            "SKIPPED: no live follower to damage".into(),
            Undo::Nothing,
        );
    };
    let damaged = damage_and_start(b, victim).await;
    let undo = Undo::Replace(victim);
    match damaged {
        Ok((file, Some(status))) if !status.success() => {
            let log = b.log_tail(victim, 5);
            let named = log.contains(DAMAGE_REPORTED) && log.contains(&file.display().to_string());
            let detail = if named {
                format!(
                    "damaged {} of member {victim}; it refused to start ({status}) naming the file and the runbook",
                    file.display()
                )
            } else {
                format!(
                    "{NOT_DETECTED} as the runbook needs: member {victim} exited ({status}) on damaged {} without naming it and the runbook; its log ends: {log}",
                    file.display()
                )
            };
            Active::new(h, name, FaultStatus::Installed, detail, undo)
        }
        Ok((file, exit)) => Active::new(
            h,
            name,
            FaultStatus::Installed,
            format!(
                "{NOT_DETECTED}: member {victim} {} on damaged {}",
                match exit {
                    Some(status) => format!("exited with {status}"),
                    None => "kept running".into(),
                },
                file.display()
            ),
            undo,
        ),
        Err(e) => Active::new(
            h,
            name,
            FaultStatus::Indeterminate,
            format!("damaging member {victim}'s disk failed part way: {e:#}"),
            undo,
        ),
    }
}

/// The steps of [`corrupt_disk`]: the file damaged and how the start on it ended (`None`:
/// still running after 15 s).
async fn damage_and_start<B: Backend>(
    b: &mut B,
    id: u64,
) -> anyhow::Result<(std::path::PathBuf, Option<std::process::ExitStatus>)> {
    // SIGKILL, not SIGTERM: a graceful stop waits for the clients' connections, and a disk
    // goes bad whether or not its member stopped cleanly.
    b.kill(id)?;
    // A start replays the WAL into tables, so there is a table to damage.
    b.restart(id)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while b.status(id).await.is_none() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("member {id} did not answer within 15 s of its restart");
        }
        // Polls until the restarted member answers.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.kill(id)?;
    let file = b.corrupt_store(id)?;
    b.restart(id)?;
    let exit = b.wait_exit(id, Duration::from_secs(15))?;
    Ok((file, exit))
}

/// `KillAgent`: SIGKILL a random running site agent, restarted on heal.
fn kill_agent(agents: &AgentFleet, rng: &mut StdRng, h: &History) -> Active {
    let name = NemesisKind::KillAgent.name();
    let Some(&i) = agents.running().choose(rng) else {
        return Active::new(
            h,
            name,
            FaultStatus::Skipped,
            "SKIPPED: no running site agent in this workload (use --workload rollout-agents)"
                .into(),
            Undo::Nothing,
        );
    };
    match agents.kill(i) {
        Ok(site) => Active::new(
            h,
            name,
            FaultStatus::Installed,
            format!("SIGKILL the moor-agent of {site}"),
            Undo::RestartAgent(i),
        ),
        Err(e) => Active::new(
            h,
            name,
            FaultStatus::Indeterminate,
            format!("SIGKILL of agent {i} failed: {e:#}"),
            Undo::RestartAgent(i),
        ),
    }
}

/// The record of a signal sent to one member: installed if sending it worked, else
/// indeterminate. Either way `undo` is what the heal must do.
fn signalled(
    h: &History,
    kind: NemesisKind,
    signal: &str,
    (victim, why): (u64, String),
    result: anyhow::Result<()>,
    undo: Undo,
) -> Active {
    match result {
        Ok(()) => Active::new(
            h,
            kind.name(),
            FaultStatus::Installed,
            format!("{signal} member {victim} ({why})"),
            undo,
        ),
        Err(e) => Active::new(
            h,
            kind.name(),
            FaultStatus::Indeterminate,
            format!("{signal} member {victim} failed: {e:#}"),
            undo,
        ),
    }
}

/// `KillLeader` or `KillRandom`: SIGKILL one member, restarted on heal.
async fn kill_one<B: Backend>(
    kind: NemesisKind,
    b: &mut B,
    rng: &mut StdRng,
    h: &History,
) -> Active {
    let (victim, why) = if kind == NemesisKind::KillLeader {
        leader_or_random(b, rng).await
    } else {
        let id = random_live(b, rng);
        (id, format!("random member {id}"))
    };
    let result = b.kill(victim);
    signalled(
        h,
        kind,
        "SIGKILL",
        (victim, why),
        result,
        Undo::Restart(vec![victim]),
    )
}

/// `KillRestartLeader`: SIGKILL the leader and start it again at once; nothing to heal
/// unless the start failed.
async fn kill_restart_leader<B: Backend>(b: &mut B, rng: &mut StdRng, h: &History) -> Active {
    let (victim, why) = leader_or_random(b, rng).await;
    let result = b.kill(victim).and_then(|()| b.restart(victim));
    let undo = if result.is_ok() {
        Undo::Nothing
    } else {
        Undo::Restart(vec![victim])
    };
    signalled(
        h,
        NemesisKind::KillRestartLeader,
        "SIGKILL + immediate restart of",
        (victim, why),
        result,
        undo,
    )
}

/// `KillAll`: SIGKILL every running member, all restarted on heal.
fn kill_all<B: Backend>(b: &mut B, h: &History) -> Active {
    let ids = b.running();
    let mut errors = Vec::new();
    for id in &ids {
        if let Err(e) = b.kill(*id) {
            errors.push(format!("member {id}: {e:#}"));
        }
    }
    let status = if errors.is_empty() {
        FaultStatus::Installed
    } else {
        FaultStatus::Indeterminate
    };
    Active::new(
        h,
        NemesisKind::KillAll.name(),
        status,
        format!("SIGKILL all members {ids:?} {}", errors.join("; ")),
        Undo::Restart(ids),
    )
}

/// `PauseLeader`: SIGSTOP the leader, resumed on heal.
async fn pause_leader<B: Backend>(b: &mut B, rng: &mut StdRng, h: &History) -> Active {
    let (victim, why) = leader_or_random(b, rng).await;
    let result = b.pause(victim);
    signalled(
        h,
        NemesisKind::PauseLeader,
        "SIGSTOP",
        (victim, why),
        result,
        Undo::Resume(vec![victim]),
    )
}

/// `Restart`: SIGTERM a random member and start it again at once; nothing to heal unless
/// that failed.
fn restart_one<B: Backend>(b: &mut B, rng: &mut StdRng, h: &History) -> Active {
    let name = NemesisKind::Restart.name();
    let victim = random_live(b, rng);
    let result = b.stop(victim).and_then(|()| b.restart(victim));
    match result {
        Ok(()) => Active::new(
            h,
            name,
            FaultStatus::Installed,
            format!("SIGTERM member {victim}, clean exit, started again"),
            Undo::Nothing,
        ),
        Err(e) => Active::new(
            h,
            name,
            FaultStatus::Indeterminate,
            format!("restart of member {victim} failed: {e:#}"),
            Undo::Restart(vec![victim]),
        ),
    }
}

/// The partition kinds: cut the network around the leader (see [`NemesisKind`]), healed by
/// dropping every rule. Skipped where the backend cannot fault the network.
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
    shuffle(&mut others, rng);
    let sides = Sides {
        leader,
        why,
        others,
    };
    let result = match kind {
        NemesisKind::PartitionLeaderMinority => sides.leader_in_minority(b),
        NemesisKind::PartitionLeaderMajority => sides.leader_in_majority(b),
        NemesisKind::PartitionBridge => sides.bridge(b, rng),
        NemesisKind::PartitionOneWay => sides.one_way(b),
        NemesisKind::PartitionClients => sides.clients_cut_off(b),
        _ => unreachable!("not a partition: {kind:?}"),
    };
    confirm_rules(b, h, name, result)
}

/// Who a partition separates: the leader (or the member standing in for it) and the other
/// members in a seeded order. Each method installs one partition kind and describes it.
struct Sides {
    leader: u64,
    /// How the leader was found, for the description.
    why: String,
    others: Vec<u64>,
}

impl Sides {
    /// Members on the smaller side.
    fn minority(&self) -> usize {
        let n = self.others.len() + 1;
        (n - 1) / 2
    }

    /// `PartitionLeaderMinority`: the leader and the fewest followers against the rest.
    fn leader_in_minority<B: Backend>(&self, b: &mut B) -> anyhow::Result<String> {
        let (minority, why) = (self.minority(), &self.why);
        let mut small = vec![self.leader];
        small.extend(self.others.iter().take(minority.saturating_sub(1)));
        let big: Vec<u64> = self.others[minority.saturating_sub(1)..].to_vec();
        b.partition(&[small.clone(), big.clone()])
            .map(|_| format!("{small:?} | {big:?} ({why} in the minority)"))
    }

    /// `PartitionLeaderMajority`: the leader with a majority, the rest cut off.
    fn leader_in_majority<B: Backend>(&self, b: &mut B) -> anyhow::Result<String> {
        let n = self.others.len() + 1;
        let why = &self.why;
        let mut big = vec![self.leader];
        let keep = n - self.minority() - 1;
        big.extend(self.others.iter().take(keep));
        let small: Vec<u64> = self.others[keep..].to_vec();
        b.partition(&[big.clone(), small.clone()])
            .map(|_| format!("{big:?} | {small:?} ({why} in the majority)"))
    }

    /// `PartitionBridge`: [a.., bridge] and [bridge, ..z]: the bridge sees both halves, they
    /// not each other.
    fn bridge<B: Backend>(&self, b: &mut B, rng: &mut StdRng) -> anyhow::Result<String> {
        let why = &self.why;
        let mut all = vec![self.leader];
        all.extend(self.others.iter());
        shuffle(&mut all, rng);
        let mid = all.len() / 2;
        let left = all[..=mid].to_vec();
        let right = all[mid..].to_vec();
        b.partition(&[left.clone(), right.clone()])
            .map(|_| format!("{left:?} | {right:?}, member {} bridges ({why})", all[mid]))
    }

    /// `PartitionOneWay`: the leader's packets to the others dropped, theirs still delivered.
    fn one_way<B: Backend>(&self, b: &mut B) -> anyhow::Result<String> {
        let (leader, others, why) = (self.leader, &self.others, &self.why);
        let mut r = Ok(());
        for o in others {
            if let Err(e) = b.cut(Peer::Member(leader), Peer::Member(*o)) {
                r = Err(e);
                break;
            }
        }
        r.map(|()| {
            format!(
                "packets from member {leader} to {others:?} dropped, the other way open ({why})"
            )
        })
    }

    /// `PartitionClients`: the clients cut off from the leader both ways.
    fn clients_cut_off<B: Backend>(&self, b: &mut B) -> anyhow::Result<String> {
        let (leader, why) = (self.leader, &self.why);
        b.cut(Peer::Clients, Peer::Member(leader))
            .and_then(|()| b.cut(Peer::Member(leader), Peer::Clients))
            .map(|()| format!("clients cut off from member {leader} both ways ({why})"))
    }
}

/// The record of a partition: installed only if installing it worked and the backend lists
/// DROP rules, else indeterminate. Healed by dropping every rule either way.
fn confirm_rules<B: Backend>(
    b: &B,
    h: &History,
    name: String,
    installed: anyhow::Result<String>,
) -> Active {
    let (status, detail) = match installed {
        Ok(detail) => match b.network_rules() {
            Ok(rules) if !rules.is_empty() => (
                FaultStatus::Installed,
                format!("{detail}; {} DROP rules", rules.len()),
            ),
            Ok(_) => (
                FaultStatus::Indeterminate,
                format!("{detail}; but no DROP rule is listed"),
            ),
            Err(e) => (
                FaultStatus::Indeterminate,
                format!("{detail}; cannot list rules: {e:#}"),
            ),
        },
        Err(e) => (
            FaultStatus::Indeterminate,
            format!("installing the partition failed part way: {e:#}"),
        ),
    };
    Active::new(h, name, status, detail, Undo::HealNetwork)
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
pub async fn heal_all<B: Backend>(b: &mut B, agents: &AgentFleet) -> Result<String, String> {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    match agents.restart_killed() {
        Ok(sites) => done.extend(sites.iter().map(|s| format!("restarted the agent of {s}"))),
        Err(e) => errors.push(format!("agent restart: {e:#}")),
    }
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
