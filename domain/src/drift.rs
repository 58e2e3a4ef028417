//! Drift policies: how often an environment is compared with its site, and what Moor does
//! when they differ — report it (`notify`) or repair it with a heal execution (`heal`), at
//! most `max_heals_per_hour` times in any hour, so a resource that someone keeps changing
//! back (a flapping resource) stops being healed and is reported instead.
//!
//! A policy is set on an environment or on a group. The effective policy of an environment
//! is its own, else the first group by name that selects it (an environment group directly;
//! a site group through the environment's site) and has one, else none: drift is still
//! checked at the member's default interval and reported, never healed.
//!
//! The heal decision is made inside apply, by the entry that records the observation, so
//! every member decides the same and the cap counts heals in the replicated state, not in a
//! leader's memory that a failover would reset.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use moor_proto::names::OnDrift;

use crate::environment::Environment;
use crate::rollout::{Group, GroupKind};
use crate::site::Site;

/// One hour: the window `max_heals_per_hour` counts heals in.
pub const HOUR_MS: u64 = 3_600_000;
/// Shortest check interval a policy may ask for: a site is not a hot loop.
pub const MIN_CHECK_EVERY_MS: u64 = 1_000;
/// Longest check interval a policy may ask for (one week).
pub const MAX_CHECK_EVERY_MS: u64 = 7 * 24 * HOUR_MS;
/// Most heals per hour a policy may allow; the heal history kept per environment is bounded
/// by it.
pub const MAX_HEALS_PER_HOUR: u32 = 60;

/// How an environment's drift is checked and handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftPolicy {
    /// How often the leader observes the environment at its site.
    pub check_every_ms: u64,
    pub on_drift: OnDrift,
    /// Most heal executions drift may start in any hour (`heal` only).
    pub max_heals_per_hour: u32,
}

impl DriftPolicy {
    /// Checks the bounds; the message says which value to change.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_CHECK_EVERY_MS..=MAX_CHECK_EVERY_MS).contains(&self.check_every_ms) {
            return Err(format!(
                "drift check_every must be between {} s and {} h, not {} ms",
                MIN_CHECK_EVERY_MS / 1000,
                MAX_CHECK_EVERY_MS / HOUR_MS,
                self.check_every_ms
            ));
        }
        if self.on_drift == OnDrift::Heal
            && !(1..=MAX_HEALS_PER_HOUR).contains(&self.max_heals_per_hour)
        {
            return Err(format!(
                "drift max_heals_per_hour must be between 1 and {MAX_HEALS_PER_HOUR} when on_drift is heal, not {}",
                self.max_heals_per_hour
            ));
        }
        Ok(())
    }
}

/// Where an environment's effective policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    Environment,
    Group(String),
    /// No policy anywhere: checked at the member's default interval, reported only.
    Default,
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySource::Environment => f.write_str("environment"),
            PolicySource::Group(g) => write!(f, "group {g}"),
            PolicySource::Default => f.write_str("default"),
        }
    }
}

/// The policy that applies to `env`, and where it comes from (module docs).
pub fn effective_policy(
    env: &Environment,
    sites: &BTreeMap<String, Site>,
    groups: &BTreeMap<String, Group>,
) -> (Option<DriftPolicy>, PolicySource) {
    if let Some(p) = env.drift {
        return (Some(p), PolicySource::Environment);
    }
    for group in groups.values() {
        let Some(policy) = group.drift else { continue };
        let selected = match group.kind {
            GroupKind::Environments => {
                group
                    .selector
                    .matches(&env.name, &env.labels, ("site", &env.site))
            }
            GroupKind::Sites => sites.get(&env.site).is_some_and(|site| {
                group
                    .selector
                    .matches(&site.name, &site.labels, ("region", &site.region))
            }),
        };
        if selected {
            return (Some(policy), PolicySource::Group(group.name.clone()));
        }
    }
    (None, PolicySource::Default)
}

/// Heals started within the hour before `now_ms` (times in the future count too: a leader's
/// clock may have been ahead).
pub fn heals_in_last_hour(env: &Environment, now_ms: u64) -> u32 {
    let since = now_ms.saturating_sub(HOUR_MS);
    let n = env.heals_ms.iter().filter(|&&t| t > since).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What an observation that found drift leads to under `policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftAction {
    /// Report only (no policy, `notify`).
    Notify,
    /// Start a heal.
    Heal,
    /// `heal`, but the cap is reached: report, with the reason.
    Suspended(String),
}

/// Decides what to do about drift found in `env` at `now_ms`.
pub fn decide(env: &Environment, policy: Option<DriftPolicy>, now_ms: u64) -> DriftAction {
    let Some(policy) = policy else {
        return DriftAction::Notify;
    };
    if policy.on_drift == OnDrift::Notify {
        return DriftAction::Notify;
    }
    let recent = heals_in_last_hour(env, now_ms);
    if recent < policy.max_heals_per_hour {
        DriftAction::Heal
    } else {
        DriftAction::Suspended(format!(
            "drift healed {recent} times in the last hour (cap {}): a resource keeps changing at the site; \
             find what changes it, then heal by hand with `moorctl exec start {} --kind heal` or raise max_heals_per_hour",
            policy.max_heals_per_hour, env.name
        ))
    }
}

/// Records a heal started at `now_ms`, keeping only the times that can still count.
pub fn record_heal(env: &mut Environment, now_ms: u64) {
    let since = now_ms.saturating_sub(HOUR_MS);
    env.heals_ms.retain(|&t| t > since);
    env.heals_ms.push(now_ms);
    let max = MAX_HEALS_PER_HOUR as usize;
    if env.heals_ms.len() > max {
        let extra = env.heals_ms.len() - max;
        env.heals_ms.drain(..extra);
    }
}

/// Parses a duration such as `30s`, `5m`, `2h`, `1500ms` (a bare number is seconds).
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration: write e.g. 30s, 5m or 2h"))?;
    let scale = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => HOUR_MS,
        other => {
            return Err(format!(
                "`{other}` is not a duration unit in `{s}`: use ms, s, m or h"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("duration `{s}` is too long"))
}

#[cfg(test)]
#[path = "tests/drift.rs"]
mod tests;
