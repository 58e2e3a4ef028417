//! Drift policies on the command line and in files: how often an environment is compared
//! with its site (`--drift-check-every 5m`), what happens on drift (`--on-drift notify|heal`)
//! and how many heals an hour at most (`--max-heals-per-hour 4`).
//!
//! The bounds are the server's (a check every 1 s to 7 d, 1 to 60 heals an hour when
//! healing), checked here too so that a bad value is a usage error before anything is sent;
//! the server stays the authority and refuses what it does not accept. The defaults that
//! fill a partly given policy are moorctl's, applied in one place ([`DriftPolicy::from_parts`])
//! for the flags of `env create`, `env drift` and `group put` and for the `drift:` blocks of
//! `apply -f` files alike.

use std::time::Duration;

use clap::{Args, ValueEnum};
use moor_proto::names::{self, WireName};

use super::duration::parse_duration;

/// Shortest check interval the server accepts.
pub const MIN_CHECK_EVERY: Duration = Duration::from_secs(1);
/// Longest check interval the server accepts: a week.
pub const MAX_CHECK_EVERY: Duration = Duration::from_secs(7 * 86_400);
/// The check interval of a policy given without one.
pub const DEFAULT_CHECK_EVERY: Duration = Duration::from_secs(5 * 60);
/// Most heals an hour the server accepts.
pub const MAX_HEALS_PER_HOUR: u32 = 60;
/// The cap of a `heal` policy given without one.
pub const DEFAULT_MAX_HEALS_PER_HOUR: u32 = 4;

/// What happens when an environment has drifted: the command-line face of
/// `moor_proto::names::OnDrift`, whose wire names these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnDrift {
    /// Report the drift (status drifted); change nothing at the site
    Notify,
    /// Start a heal execution that repairs the drifted resources, at most
    /// --max-heals-per-hour times in any hour
    Heal,
}

impl OnDrift {
    fn wire(self) -> names::OnDrift {
        match self {
            OnDrift::Notify => names::OnDrift::Notify,
            OnDrift::Heal => names::OnDrift::Heal,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.wire().as_str()
    }

    /// The variant with wire name `s`.
    pub fn parse(s: &str) -> Result<OnDrift, String> {
        match names::OnDrift::parse(s) {
            Some(names::OnDrift::Notify) => Ok(OnDrift::Notify),
            Some(names::OnDrift::Heal) => Ok(OnDrift::Heal),
            None => Err(format!(
                "on_drift {s:?} is not one of {}",
                names::OnDrift::one_of()
            )),
        }
    }
}

/// A complete drift policy, within the server's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriftPolicy {
    pub check_every: Duration,
    pub on_drift: OnDrift,
    /// 0 for `notify`.
    pub max_heals_per_hour: u32,
}

impl DriftPolicy {
    /// The policy the given parts describe, the rest filled with the defaults: no interval
    /// is [`DEFAULT_CHECK_EVERY`], no action `notify`, no cap on `heal`
    /// [`DEFAULT_MAX_HEALS_PER_HOUR`]. Nothing given is no policy. A cap without `heal` is
    /// refused: it would be ignored. The messages name both the flag and the file key.
    pub fn from_parts(
        check_every: Option<Duration>,
        on_drift: Option<OnDrift>,
        max_heals_per_hour: Option<u32>,
    ) -> Result<Option<DriftPolicy>, String> {
        if check_every.is_none() && on_drift.is_none() && max_heals_per_hour.is_none() {
            return Ok(None);
        }
        let check_every = check_every.unwrap_or(DEFAULT_CHECK_EVERY);
        check_interval(check_every)?;
        let on_drift = on_drift.unwrap_or(OnDrift::Notify);
        let max_heals_per_hour = match (on_drift, max_heals_per_hour) {
            (OnDrift::Notify, Some(n)) => {
                return Err(format!(
                    "a cap of {n} heals an hour (--max-heals-per-hour, max_heals_per_hour) \
                     needs on_drift heal (--on-drift heal); a notify policy never heals"
                ))
            }
            (OnDrift::Notify, None) => 0,
            (OnDrift::Heal, None) => DEFAULT_MAX_HEALS_PER_HOUR,
            (OnDrift::Heal, Some(n)) if (1..=MAX_HEALS_PER_HOUR).contains(&n) => n,
            (OnDrift::Heal, Some(n)) => {
                return Err(format!(
                    "a cap of {n} heals an hour is not from 1 to {MAX_HEALS_PER_HOUR}"
                ))
            }
        };
        Ok(Some(DriftPolicy {
            check_every,
            on_drift,
            max_heals_per_hour,
        }))
    }

    /// The interval in milliseconds, as the proto takes it.
    pub fn check_every_ms(&self) -> u64 {
        u64::try_from(self.check_every.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Checks an interval against the server's bounds.
fn check_interval(every: Duration) -> Result<(), String> {
    if every < MIN_CHECK_EVERY || every > MAX_CHECK_EVERY {
        return Err(format!(
            "a drift check every {} s is out of bounds: give from 1s to 7d (168h)",
            every.as_secs()
        ));
    }
    Ok(())
}

/// Parses a check interval: a duration (`30s`, `5m`, `2h`, `1d`) from 1 s to 7 days.
pub fn parse_check_every(s: &str) -> Result<Duration, String> {
    let every = parse_duration(s)?;
    check_interval(every).map_err(|_| format!("{s:?} is out of bounds: give from 1s to 7d"))?;
    Ok(every)
}

/// The drift flags of `env create` and `group put`: any of them given makes a policy.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Compare with the site this often (30s, 5m, 2h, 1d; from 1s to 7d). Any drift flag
    /// makes a policy; this one's default is 5m
    #[arg(long = "drift-check-every", value_name = "DURATION", value_parser = parse_check_every)]
    pub check_every: Option<Duration>,
    /// What to do on drift (default notify)
    #[arg(long, value_enum, value_name = "ACTION")]
    pub on_drift: Option<OnDrift>,
    /// With --on-drift heal: heal at most this often in any hour, then stop and report
    /// (1 to 60; default 4)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=60))]
    pub max_heals_per_hour: Option<u32>,
}

impl DriftArgs {
    /// The policy the flags give (none given: `None`).
    pub fn policy(&self) -> Result<Option<DriftPolicy>, String> {
        DriftPolicy::from_parts(self.check_every, self.on_drift, self.max_heals_per_hour)
    }
}

/// `env drift NAME (--check-every D --on-drift A [--max-heals-per-hour N] | --clear)`.
#[derive(Debug, Args)]
pub struct SetDriftArgs {
    /// Environment name
    #[arg(value_parser = super::values::parse_name)]
    pub name: String,
    /// Compare with the site this often (30s, 5m, 2h, 1d; from 1s to 7d)
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_check_every,
        required_unless_present = "clear"
    )]
    pub check_every: Option<Duration>,
    /// What to do on drift
    #[arg(
        long,
        value_enum,
        value_name = "ACTION",
        required_unless_present = "clear"
    )]
    pub on_drift: Option<OnDrift>,
    /// With --on-drift heal: heal at most this often in any hour, then stop and report
    /// (1 to 60; default 4)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=60))]
    pub max_heals_per_hour: Option<u32>,
    /// Remove the environment's own policy: a group's, or the member's default (checked,
    /// reported, never healed), applies
    #[arg(long, conflicts_with_all = ["check_every", "on_drift", "max_heals_per_hour"])]
    pub clear: bool,
}

impl SetDriftArgs {
    /// The policy to set; `None` with `--clear`.
    pub fn policy(&self) -> Result<Option<DriftPolicy>, String> {
        DriftPolicy::from_parts(self.check_every, self.on_drift, self.max_heals_per_hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_policies_get_the_defaults() {
        let p = |e, a, n| DriftPolicy::from_parts(e, a, n);
        assert_eq!(p(None, None, None), Ok(None));
        let heal = p(None, Some(OnDrift::Heal), None).unwrap().unwrap();
        assert_eq!(heal.check_every, DEFAULT_CHECK_EVERY);
        assert_eq!(heal.max_heals_per_hour, DEFAULT_MAX_HEALS_PER_HOUR);
        let every = p(Some(Duration::from_secs(30)), None, None)
            .unwrap()
            .unwrap();
        assert_eq!(every.on_drift, OnDrift::Notify);
        assert_eq!(every.max_heals_per_hour, 0);
        assert_eq!(every.check_every_ms(), 30_000);
        let e = p(None, Some(OnDrift::Notify), Some(3)).unwrap_err();
        assert!(e.contains("needs on_drift heal (--on-drift heal)"), "{e}");
        let e = p(None, None, Some(3)).unwrap_err();
        assert!(e.contains("needs on_drift heal"), "{e}");
        let e = p(None, Some(OnDrift::Heal), Some(61)).unwrap_err();
        assert!(e.contains("not from 1 to 60"), "{e}");
        let e = p(Some(Duration::from_secs(8 * 86_400)), None, None).unwrap_err();
        assert!(e.contains("out of bounds"), "{e}");
    }

    #[test]
    fn check_intervals() {
        assert_eq!(parse_check_every("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_check_every("7d"), Ok(MAX_CHECK_EVERY));
        assert_eq!(parse_check_every("168h"), Ok(MAX_CHECK_EVERY));
        assert!(parse_check_every("8d")
            .unwrap_err()
            .contains("from 1s to 7d"));
        assert!(parse_check_every("169h")
            .unwrap_err()
            .contains("out of bounds"));
        assert!(parse_check_every("0s").unwrap_err().contains("no time"));
        assert!(parse_check_every("5").unwrap_err().contains("no unit"));
        assert_eq!(OnDrift::parse("heal"), Ok(OnDrift::Heal));
        assert!(OnDrift::parse("fix")
            .unwrap_err()
            .contains("is not one of notify, heal"));
    }
}
