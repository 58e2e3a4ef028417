//! Drift checks, on the leader only: each idle installed environment is observed at its site
//! once per check interval (its drift policy's, else the member's default), and what changed
//! is committed as an `Observed` command, which decides in apply whether to heal.
//!
//! - **No false drift.** The command carries the environment's latest execution as the
//!   checker saw it before calling the site; apply discards the observation if an execution
//!   has started since (or is running), because the site may have answered before or after
//!   that execution's steps. So an update rollout running next to drift checks never records
//!   its environments as drifted with their old resources.
//! - **No thundering herd.** A new leader spreads every environment's first check over its
//!   interval (by a hash of its name), then checks it every interval after the last check.
//!   At most [`PARALLEL_OBSERVES`] site calls run at once; environments with a running
//!   execution are skipped until they are idle.
//! - **Heal retries.** A drifted environment under a `heal` policy is re-reported at every
//!   check even if nothing changed, so apply can heal once the hourly cap allows again.
//! - **Reachability of every site.** A site answers when any of its environments' checks
//!   gets an answer. A site that no check covers (no environments, only ones that are not
//!   installed or whose policy turns checks off) is probed instead at the default interval:
//!   an `Observe` of [`PROBE_ENVIRONMENT`], which no site holds anything for, so a site
//!   that follows the protocol answers with no resources. A site with a running execution
//!   is not probed: its steps reach it, and a rollout should not pay for probes. At most
//!   `executor.max_probes_per_second` (256 by default) start per second, a quarter of them
//!   per tick, so a round over 100,000 uncovered sites takes minutes, never a burst of calls;
//!   the probe schedule is kept in time order (`exec/probes.rs`), so a tick costs the
//!   probes it starts, not a look at every site.
//!
//! The schedule lives in the leader's memory: a new leader rebuilds it (spread again).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use moor_domain::command::{Command, CommandResult};
use moor_domain::drift::{effective_policy, OnDrift};
use moor_domain::environment::EnvStatus;
use moor_domain::feature;
use moor_domain::site::{bounded_error, Site};
use moor_domain::workflow::{ObserveBasis, WorkflowCommand, WorkflowResult};

use crate::exec::driver::SiteDriver;
use crate::exec::executor::now_ms;
use crate::exec::probes::ProbeSchedule;
use crate::metrics::Metrics;
use crate::raft::member::{LeaderReply, LeaderRequest, Member};

/// Most observe calls in flight at once.
pub const PARALLEL_OBSERVES: usize = 64;
/// The environment a reachability probe observes. It has a dot, so it is never an
/// environment's name (`moor_domain::site::validate_name`) and no site holds anything for
/// it; the site protocol's rule for it is in `site.proto`.
pub const PROBE_ENVIRONMENT: &str = "moor.probe";
/// How often the schedule is looked at.
const TICK: Duration = Duration::from_millis(250);
/// Longest wait for one site's answer.
const MAX_OBSERVE_TIMEOUT_MS: u64 = 10_000;

/// One environment due for a check, as the checker saw it.
struct Due {
    environment: String,
    site: Site,
    basis: ObserveBasis,
    /// Per applied resource: the digest last recorded as observed.
    known: BTreeMap<String, Option<String>>,
    /// Report even when nothing changed (drifted under a heal policy).
    report_unchanged: bool,
    interval_ms: u64,
}

/// Runs drift checks while this member leads; never returns (dropped when leadership ends).
/// `default_interval_ms` applies to environments without a policy; 0 = those are not
/// checked (environments with a policy still are, at theirs).
/// `probes_per_tick`: reachability probes started per tick at most.
pub async fn run(
    member: Arc<Member>,
    drivers: Arc<dyn SiteDriver>,
    default_interval_ms: u64,
    probes_per_tick: usize,
) {
    let mut next_due: HashMap<String, Slot> = HashMap::new();
    let mut probes = ProbeSchedule::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (due, probes) = due_now(
            &member,
            &mut next_due,
            &mut probes,
            default_interval_ms,
            probes_per_tick,
        );
        if due.is_empty() && probes.is_empty() {
            continue;
        }
        let work = due
            .into_iter()
            .map(Work::Check)
            .chain(probes.into_iter().map(Work::Probe));
        let checked: Vec<Checked> = futures::stream::iter(work)
            .map(|w| run_one(drivers.clone(), w, default_interval_ms, &member.metrics))
            .buffer_unordered(PARALLEL_OBSERVES)
            .collect()
            .await;
        let mut answers: BTreeMap<String, Option<String>> = BTreeMap::new();
        for c in checked {
            // A site answers when any of its environments' checks got an answer.
            let entry = answers
                .entry(c.site)
                .or_insert_with(|| c.answer.clone().err());
            if c.answer.is_ok() {
                *entry = None;
            }
            if let Some(report) = c.report {
                record(&member, report).await;
            }
        }
        record_reachability(&member, answers).await;
    }
}

/// One call of a round: an environment's drift check, or a probe of a site no check covers.
enum Work {
    Check(Due),
    Probe(Site),
}

async fn run_one(
    drivers: Arc<dyn SiteDriver>,
    work: Work,
    probe_interval_ms: u64,
    metrics: &Metrics,
) -> Checked {
    match work {
        Work::Check(due) => observe(drivers, due, metrics).await,
        Work::Probe(site) => probe(drivers, site, probe_interval_ms, metrics).await,
    }
}

/// Probes one site: an `Observe` of [`PROBE_ENVIRONMENT`]. Any answer the site gives to it
/// (no resources, as the protocol says) is an answer; the driver's error is none.
async fn probe(
    drivers: Arc<dyn SiteDriver>,
    site: Site,
    interval_ms: u64,
    metrics: &Metrics,
) -> Checked {
    let timeout = Duration::from_millis(interval_ms.min(MAX_OBSERVE_TIMEOUT_MS));
    let answer = drivers
        .observe(&site, PROBE_ENVIRONMENT, timeout)
        .await
        .map(|_| ());
    let outcome = if answer.is_ok() {
        "probe_answered"
    } else {
        "probe_no_answer"
    };
    count_check(metrics, outcome);
    if let Err(e) = &answer {
        tracing::debug!(site = %site.name, error = %e, "reachability probe: the site did not answer");
    }
    Checked {
        site: site.name,
        answer,
        report: None,
    }
}

/// Counts one check or probe by its outcome in `moor_drift_checks`.
fn count_check(metrics: &Metrics, outcome: &str) {
    metrics
        .drift_checks
        .get_or_create(&crate::metrics::Outcome {
            outcome: outcome.into(),
        })
        .inc();
}

/// What one check found: whether the site answered (else its driver's error), and what to
/// commit of the environment.
struct Checked {
    site: String,
    answer: Result<(), String>,
    report: Option<Report>,
}

/// The sites whose recorded reachability differs from what this round's checks found:
/// (site, `Some(error)` to record it unreachable, `None` to record that it answers).
fn reachability_changes(
    recorded: &BTreeMap<String, moor_domain::site::Unreachable>,
    found: BTreeMap<String, Option<String>>,
) -> Vec<(String, Option<String>)> {
    found
        .into_iter()
        .filter(|(site, error)| error.is_some() != recorded.contains_key(site))
        .collect()
}

/// Commits the sites whose reachability changed (feature level 3 on; before it the cluster
/// cannot record it, and nothing is proposed).
async fn record_reachability(member: &Member, found: BTreeMap<String, Option<String>>) {
    if found.is_empty() || !member.applied_level.get().has(feature::SITE_REACHABILITY) {
        return;
    }
    let changes = match member.state.read() {
        Ok(state) => reachability_changes(&state.workflow.unreachable, found),
        Err(_) => return,
    };
    for (site, error) in changes {
        let reachable = error.is_none();
        let command = Command::Workflow(WorkflowCommand::SiteReachability {
            site: site.clone(),
            error: error.map(|e| bounded_error(&e)),
            now_ms: now_ms(),
        });
        match member
            .execute_local(LeaderRequest::Write(Box::new(command)))
            .await
        {
            Ok(_) if reachable => tracing::info!(%site, "site answers again"),
            Ok(_) => {
                tracing::warn!(%site, "site recorded unreachable: its drift checks or probes get no answer")
            }
            Err(e) => {
                tracing::debug!(%site, error = %e, "drift check: cannot record the site's reachability")
            }
        }
    }
}

/// When an environment is next checked, and the policy epoch that was computed under.
#[derive(Clone, Copy)]
struct Slot {
    at: u64,
    epoch: Epoch,
}

/// What an environment's effective policy depends on: its own last change and the groups'
/// (latest change, count). While it is unchanged the schedule stands, so a tick looks up
/// each environment's slot instead of matching it against every group.
type Epoch = (u64, usize);

/// The environments whose check is due, each scheduled again one interval from now, and
/// the sites whose reachability probe is due. A changed policy (the environment's or a
/// group's) takes effect at once: the next check comes no later than one new interval
/// (spread) from now. The state lock is held only to copy what the calls need.
fn due_now(
    member: &Member,
    next_due: &mut HashMap<String, Slot>,
    probes: &mut ProbeSchedule,
    default_ms: u64,
    probes_per_tick: usize,
) -> (Vec<Due>, Vec<Site>) {
    let now = now_ms();
    let Ok(state) = member.state.read() else {
        tracing::error!("drift checks: state lock poisoned");
        return (Vec::new(), Vec::new());
    };
    let workflow = &state.workflow;
    let groups = &workflow.rollouts.groups;
    let groups_changed = groups.values().map(|g| g.updated_ms).max().unwrap_or(0);
    let mut due = Vec::new();
    // Sites some call reaches without a probe: a checked environment or a running execution.
    // Not gathered when probes are off (interval 0).
    let probing = default_ms != 0;
    let mut covered: HashSet<&str> = HashSet::new();
    for env in workflow.environments.values() {
        if env.current_execution.is_some() {
            if probing {
                covered.insert(env.site.as_str());
            }
            continue;
        }
        let idle =
            matches!(env.status, EnvStatus::InSync | EnvStatus::Drifted) && !env.applied.is_empty();
        if !idle {
            continue;
        }
        let epoch = (env.updated_ms.max(groups_changed), groups.len());
        let slot = next_due.get(env.name.as_str()).copied();
        if slot.is_some_and(|s| s.epoch == epoch && now < s.at) {
            if probing && slot.is_some_and(|s| s.at != u64::MAX) {
                covered.insert(env.site.as_str());
            }
            continue;
        }
        let (policy, _) = effective_policy(env, &workflow.sites, groups);
        let interval_ms = policy.map_or(default_ms, |p| p.check_every_ms);
        if interval_ms == 0 {
            // Not checked; looked at again when its policy (or a group) changes.
            next_due.insert(
                env.name.clone(),
                Slot {
                    at: u64::MAX,
                    epoch,
                },
            );
            continue;
        }
        if probing {
            covered.insert(env.site.as_str());
        }
        let first = now + spread(&env.name, interval_ms);
        let at = match slot {
            Some(s) if s.epoch == epoch => s.at,
            Some(s) => s.at.min(first),
            None => first,
        };
        if now < at {
            next_due.insert(env.name.clone(), Slot { at, epoch });
            continue;
        }
        let Some(site) = workflow.sites.get(&env.site) else {
            continue;
        };
        next_due.insert(
            env.name.clone(),
            Slot {
                at: now + interval_ms,
                epoch,
            },
        );
        due.push(Due {
            environment: env.name.clone(),
            site: site.clone(),
            basis: ObserveBasis {
                latest_execution: env.latest_execution.clone(),
            },
            known: env
                .applied
                .keys()
                .map(|k| {
                    (
                        k.to_string(),
                        env.observed
                            .get(k)
                            .and_then(|o| o.digest.as_ref().map(|d| d.to_string())),
                    )
                })
                .collect(),
            report_unchanged: env.status == EnvStatus::Drifted
                && policy.is_some_and(|p| p.on_drift == OnDrift::Heal),
            interval_ms,
        });
    }
    // Forget environments that are gone, so the schedule does not grow without bound.
    if next_due.len() > workflow.environments.len() {
        next_due.retain(|name, _| workflow.environments.contains_key(name));
    }
    let probes = probes.due(&workflow.sites, &covered, now, default_ms, probes_per_tick);
    (due, probes)
}

/// Where in its first interval an environment is first checked: a stable spread, so a new
/// leader does not observe every environment at once.
pub(crate) fn spread(name: &str, interval_ms: u64) -> u64 {
    // FNV-1a: stable across builds and processes (std's hasher is seeded per process).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % interval_ms.max(1)
}

/// What one check found that must be committed.
struct Report {
    environment: String,
    resources: BTreeMap<String, Option<String>>,
    basis: ObserveBasis,
}

/// Observes one environment: whether its site answered, and a report unless there is
/// nothing to commit or the site did not answer (it is checked again next interval).
async fn observe(drivers: Arc<dyn SiteDriver>, due: Due, metrics: &Metrics) -> Checked {
    let site = due.site.name.clone();
    match observe_one(drivers, due, metrics).await {
        Ok(report) => Checked {
            site,
            answer: Ok(()),
            report,
        },
        Err(error) => Checked {
            site,
            answer: Err(error),
            report: None,
        },
    }
}

/// One environment's check: `Err` with the driver's error when the site did not answer.
async fn observe_one(
    drivers: Arc<dyn SiteDriver>,
    due: Due,
    metrics: &Metrics,
) -> Result<Option<Report>, String> {
    let timeout = Duration::from_millis(due.interval_ms.min(MAX_OBSERVE_TIMEOUT_MS));
    let count = |outcome: &str| count_check(metrics, outcome);
    let seen = match drivers.observe(&due.site, &due.environment, timeout).await {
        Ok(seen) => seen,
        Err(e) => {
            count("no_answer");
            tracing::debug!(environment = %due.environment, site = %due.site.name, error = %e, "drift check: the site did not answer");
            return Err(e);
        }
    };
    let changed: BTreeMap<String, Option<String>> = due
        .known
        .iter()
        .filter_map(|(resource, before)| {
            let now = seen.get(resource).cloned();
            (now != *before).then(|| (resource.clone(), now))
        })
        .collect();
    count(if changed.is_empty() {
        "unchanged"
    } else {
        "changed"
    });
    let resources = if !changed.is_empty() {
        changed
    } else if due.report_unchanged {
        due.known
    } else {
        return Ok(None);
    };
    Ok(Some(Report {
        environment: due.environment,
        resources,
        basis: due.basis,
    }))
}

/// Commits one report (never forwarded: a deposed leader's observations are dropped).
async fn record(member: &Member, report: Report) {
    let environment = report.environment.clone();
    let resources: Vec<String> = report.resources.keys().cloned().collect();
    let command = Command::Workflow(WorkflowCommand::Observed {
        environment: report.environment,
        resources: report.resources,
        now_ms: now_ms(),
        basis: Some(report.basis),
    });
    match member
        .execute_local(LeaderRequest::Write(Box::new(command)))
        .await
    {
        Ok(LeaderReply::Written {
            result: CommandResult::Workflow(WorkflowResult::Observation { recorded, heal }),
            ..
        }) => {
            if !recorded {
                tracing::debug!(%environment, "drift check: discarded, an execution touched the environment meanwhile");
            } else if let Some(heal) = heal {
                tracing::info!(%environment, ?resources, execution = %heal, "drift observed: heal started by the drift policy");
            } else {
                tracing::info!(%environment, ?resources, "observed state changed at the site");
            }
        }
        Ok(other) => tracing::debug!(%environment, reply = ?other, "drift check: unexpected reply"),
        Err(e) => {
            tracing::debug!(%environment, error = %e, "drift check: cannot record the observation")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{reachability_changes, spread};
    use moor_domain::site::Unreachable;
    use std::collections::BTreeMap;

    #[test]
    fn only_changed_reachability_is_proposed() {
        let recorded: BTreeMap<String, Unreachable> = [
            (
                "down".to_string(),
                Unreachable {
                    since_ms: 1,
                    error: "connection refused".into(),
                },
            ),
            (
                "back".to_string(),
                Unreachable {
                    since_ms: 1,
                    error: "connection refused".into(),
                },
            ),
        ]
        .into();
        let found: BTreeMap<String, Option<String>> = [
            ("down".to_string(), Some("timed out".to_string())),
            ("back".to_string(), None),
            ("fine".to_string(), None),
            ("new".to_string(), Some("connection refused".to_string())),
        ]
        .into();
        assert_eq!(
            reachability_changes(&recorded, found),
            vec![
                ("back".to_string(), None),
                ("new".to_string(), Some("connection refused".to_string())),
            ],
            "a site still down, or still up, proposes nothing"
        );
    }

    #[test]
    fn first_checks_spread_over_the_interval_and_are_stable() {
        let interval = 30_000;
        let firsts: Vec<u64> = (0..1000)
            .map(|i| spread(&format!("env-{i}"), interval))
            .collect();
        assert!(firsts.iter().all(|&t| t < interval));
        // Every tenth of the interval gets some environments: no herd at one instant.
        for slot in 0..10 {
            let n = firsts
                .iter()
                .filter(|&&t| t / (interval / 10) == slot)
                .count();
            assert!((50..=150).contains(&n), "slot {slot}: {n}");
        }
        assert_eq!(spread("edge-1", interval), spread("edge-1", interval));
    }
}
