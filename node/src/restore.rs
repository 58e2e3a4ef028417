//! `moord restore`: seeds the data dir of the first member of a NEW cluster from a backup
//! file (`moorctl cluster snapshot save`).
//!
//! The backup is verified (checksum, version, counts against the decoded state), then the
//! state is prepared for its new life (`MoorState::restored`: a new cluster identity, running
//! executions marked interrupted) and written as the member's snapshot at the backup's log
//! index, with the new cluster's membership and a term floor (see [`RestoreSpec::term_floor`]).
//! The member is then started as usual; the other members start with empty data dirs and
//! receive the state from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use moor_domain::state::MoorState;
use moor_raft_store::Seed;
use openraft::{BasicNode, CommittedLeaderId, Membership};

use crate::raft::member::claim_data_dir;
use crate::raft::types::{MemberId, TypeConfig};

/// How much higher than the backup's term the restored cluster's terms start by default.
/// Terms are the fence tokens sites compare: the restored cluster must outrank every token
/// the old cluster sent, including after the backup was taken.
pub const DEFAULT_TERM_GAP: u64 = 1_000_000;

/// What to restore, and into which member of which new cluster.
#[derive(Debug, Clone)]
pub struct RestoreSpec {
    pub backup: PathBuf,
    /// The member's data dir (as `data_dir` in its config): must not hold Raft state.
    pub data_dir: PathBuf,
    pub id: MemberId,
    /// Every member of the new cluster: id → peer address (must include `id`).
    pub members: BTreeMap<MemberId, String>,
    /// The term the restored state starts at; later terms are higher. None: the backup's
    /// term + [`DEFAULT_TERM_GAP`].
    pub term_floor: Option<u64>,
    /// The new cluster identity. None: a random one.
    pub cluster_id: Option<String>,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub index: u64,
    pub backup_term: u64,
    pub term_floor: u64,
    pub old_cluster: String,
    pub new_cluster: String,
    pub interrupted: Vec<String>,
    pub counts: BTreeMap<String, u64>,
}

/// Seeds `spec.data_dir` from `spec.backup`.
pub fn restore(spec: &RestoreSpec) -> anyhow::Result<RestoreReport> {
    if !spec.members.contains_key(&spec.id) {
        bail!(
            "--members must include this member ({}): it is the one that starts the new cluster",
            spec.id
        );
    }
    let file = std::fs::read(&spec.backup)
        .with_context(|| format!("cannot read the backup {}", spec.backup.display()))?;
    let moor_proto::backup::Backup { header, state, .. } = moor_proto::backup::parse(&file)
        .with_context(|| format!("{} is not a usable backup", spec.backup.display()))?;
    let state = MoorState::decode(state).with_context(|| {
        format!(
            "the state in {} cannot be decoded by this moord",
            spec.backup.display()
        )
    })?;
    // Each large copy is freed as soon as the next one exists: at 100,000 environments the
    // file, the decoded state and each encoding are ~300 MiB apiece.
    drop(file);
    let counts = state.counts();
    for (kind, n) in &header.counts {
        if counts.get(kind) != Some(n) {
            bail!(
                "the backup's header counts {n} {kind} but its state holds {}: the file is inconsistent, use another backup",
                counts.get(kind).copied().unwrap_or(0)
            );
        }
    }
    if let Err(broken) = state.invariants() {
        bail!("the backup's state breaks an invariant ({broken}): use another backup");
    }
    let term_floor = match spec.term_floor {
        Some(t) if t < header.term => bail!(
            "--term-floor {t} is below the backup's term {}: sites would refuse the restored cluster's calls as fenced",
            header.term
        ),
        Some(t) => t,
        None => header.term.saturating_add(DEFAULT_TERM_GAP),
    };
    let new_id = spec
        .cluster_id
        .clone()
        .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
    let old_cluster = state.cluster.id.clone();
    let (state, prepared) = state
        .restored(&new_id, header.index, header.term)
        .map_err(|e| anyhow::anyhow!("cannot prepare the state: {e}"))?;
    let app = state
        .encode()
        .map_err(|e| anyhow::anyhow!("cannot encode the restored state: {e}"))?;
    drop(state);

    claim_data_dir(&spec.data_dir, spec.id)?;
    let raft_dir = spec.data_dir.join("raft");
    let store = moor_raft_store::open(&raft_dir)?;
    let nodes: BTreeMap<MemberId, BasicNode> = spec
        .members
        .iter()
        .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
        .collect();
    let voters = nodes
        .keys()
        .copied()
        .collect::<std::collections::BTreeSet<_>>();
    let membership = Membership::new(vec![voters], nodes);
    store.seed::<TypeConfig>(
        spec.id,
        Seed {
            last_log_id: openraft::LogId::new(
                CommittedLeaderId::new(term_floor, spec.id),
                header.index,
            ),
            membership,
            app,
        },
    )?;
    Ok(RestoreReport {
        index: header.index,
        backup_term: header.term,
        term_floor,
        old_cluster,
        new_cluster: new_id,
        interrupted: prepared.interrupted,
        counts,
    })
}

/// Parses `1=host:port,2=host:port`.
pub fn parse_members(text: &str) -> Result<BTreeMap<MemberId, String>, String> {
    let mut members = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected ID=HOST:PORT, e.g. 1=10.0.0.1:7402"))?;
        let id: MemberId = id
            .trim()
            .parse()
            .map_err(|_| format!("{part:?}: the member id must be a number from 1"))?;
        if id == 0 {
            return Err(format!("{part:?}: member ids start at 1"));
        }
        let addr = addr.trim();
        if addr
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return Err(format!("{part:?}: the address must be HOST:PORT"));
        }
        if members.insert(id, addr.to_string()).is_some() {
            return Err(format!("member {id} is listed twice"));
        }
    }
    if members.is_empty() {
        return Err("list at least this member, e.g. 1=10.0.0.1:7402".into());
    }
    Ok(members)
}

/// The operator's next steps, printed by `moord restore`.
pub fn describe(report: &RestoreReport, spec: &RestoreSpec, data_dir: &Path) -> String {
    let others: Vec<String> = spec
        .members
        .iter()
        .filter(|(id, _)| **id != spec.id)
        .map(|(id, addr)| format!("{id} ({addr})"))
        .collect();
    let mut out = format!(
        "restored member {} in {}: state at index {} (term {}) of cluster {}; new cluster {}; terms start above {}\n",
        spec.id,
        data_dir.display(),
        report.index,
        report.backup_term,
        if report.old_cluster.is_empty() { "(without identity)" } else { &report.old_cluster },
        report.new_cluster,
        report.term_floor,
    );
    let counts: Vec<String> = report
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    out.push_str(&format!("objects: {}\n", counts.join(", ")));
    out.push_str("next:\n");
    out.push_str(&format!(
        "  1. start moord for member {} on this data dir (its usual config)\n",
        spec.id
    ));
    if others.is_empty() {
        out.push_str("  2. (a one-member cluster: nothing else to start)\n");
    } else {
        out.push_str(&format!(
            "  2. start members {} with EMPTY data dirs (they receive the state from member {})\n",
            others.join(", "),
            spec.id
        ));
    }
    if report.interrupted.is_empty() {
        out.push_str("  3. no execution was running at backup time\n");
    } else {
        out.push_str(&format!(
            "  3. {} execution(s) were running at backup time and are now interrupted: list them with `moorctl exec list --state interrupted`, then `moorctl exec resume ID` (or `exec cancel ID`) each\n",
            report.interrupted.len()
        ));
    }
    out
}
