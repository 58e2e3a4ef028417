//! [`PolicyView`]: a drift policy as environments and groups show it. The machine formats
//! use the keys of the `drift:` block of `apply -f` files (`check_every: 5m`, `on_drift`,
//! `max_heals_per_hour`), plus the interval in milliseconds.

use moor_proto::rollout as rpb;
use moor_proto::workflow as pb;
use serde::Serialize;

use super::cells::escape_controls;
use super::paint::Paint;
use super::time::one_unit;

/// A drift policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyView {
    /// The interval as a duration with one unit (`5m`), as files and flags write it.
    pub check_every: String,
    pub check_every_ms: u64,
    /// `notify` or `heal`.
    pub on_drift: String,
    /// 0 for `notify`.
    pub max_heals_per_hour: u32,
}

impl PolicyView {
    /// The policy in an environment's fields (`drift`, `effective_drift`).
    pub fn from_wire(p: &pb::DriftPolicy) -> PolicyView {
        PolicyView::new(p.check_every_ms, &p.on_drift, p.max_heals_per_hour)
    }

    /// A group's policy; none when its `drift_on_drift` is empty.
    pub fn of_group(g: &rpb::Group) -> Option<PolicyView> {
        (!g.drift_on_drift.is_empty()).then(|| {
            PolicyView::new(
                g.drift_check_every_ms,
                &g.drift_on_drift,
                g.drift_max_heals_per_hour,
            )
        })
    }

    fn new(check_every_ms: u64, on_drift: &str, max_heals_per_hour: u32) -> PolicyView {
        PolicyView {
            check_every: one_unit(check_every_ms),
            check_every_ms,
            on_drift: on_drift.to_string(),
            max_heals_per_hour,
        }
    }

    /// One line for people: `heal every 5m, at most 4 an hour`, `notify every 30s`.
    pub fn summary(&self) -> String {
        match self.on_drift.as_str() {
            "notify" => format!("notify every {}", self.check_every),
            "heal" => format!(
                "heal every {}, at most {} an hour",
                self.check_every, self.max_heals_per_hour
            ),
            other => format!(
                "unknown({}) every {}",
                escape_controls(other),
                self.check_every
            ),
        }
    }
}

/// How drift is handled for one environment: its own policy, the one in force and where that
/// comes from, and the heals it led to.
#[derive(Debug, Clone, Serialize)]
pub struct DriftStateView {
    /// The environment's own policy (none: a group's, or the member's default, applies).
    pub drift: Option<PolicyView>,
    /// The policy in force (none: the member's default: checked, reported, never healed).
    pub effective_drift: Option<PolicyView>,
    /// Where the policy in force comes from: `environment`, `group NAME` or `default`.
    pub drift_policy_source: String,
    /// Heals that drift started in the last hour.
    pub heals_last_hour: u32,
    /// Why drift is not healed now (the cap was reached); empty otherwise.
    pub heal_suspended: String,
}

impl From<&pb::Environment> for DriftStateView {
    fn from(e: &pb::Environment) -> Self {
        DriftStateView {
            drift: e.drift.as_ref().map(PolicyView::from_wire),
            effective_drift: e.effective_drift.as_ref().map(PolicyView::from_wire),
            drift_policy_source: e.drift_policy_source.clone(),
            heals_last_hour: e.heals_last_hour,
            heal_suspended: e.heal_suspended.clone(),
        }
    }
}

impl DriftStateView {
    /// The label / value rows of a table; the suspension, when there is one, highlighted as
    /// a warning.
    pub fn rows(&self, paint: Paint) -> Vec<(&'static str, String)> {
        let in_force = match &self.effective_drift {
            Some(p) => p.summary(),
            None => "notify at the member's interval, never heal".to_string(),
        };
        let source = match self.drift_policy_source.as_str() {
            "" => String::new(),
            s => format!(" (from {})", escape_controls(s)),
        };
        let mut rows = vec![
            ("drift policy", format!("{in_force}{source}")),
            ("own drift policy", policy_cell(self.drift.as_ref())),
            ("heals last hour", self.heals_last_hour.to_string()),
        ];
        if !self.heal_suspended.is_empty() {
            let why = escape_controls(&self.heal_suspended);
            rows.push(("heal suspended", paint.warn(&why)));
        }
        rows
    }
}

/// A policy's table cell: its summary, or `-` for none.
pub fn policy_cell(p: Option<&PolicyView>) -> String {
    p.map_or_else(|| "-".to_string(), PolicyView::summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        let p = |every, on: &str, n| {
            PolicyView::from_wire(&pb::DriftPolicy {
                check_every_ms: every,
                on_drift: on.into(),
                max_heals_per_hour: n,
            })
            .summary()
        };
        assert_eq!(p(300_000, "heal", 4), "heal every 5m, at most 4 an hour");
        assert_eq!(p(30_000, "notify", 0), "notify every 30s");
        assert_eq!(p(30_000, "page", 0), "unknown(page) every 30s");
        assert_eq!(policy_cell(None), "-");
        let g = rpb::Group::default();
        assert_eq!(PolicyView::of_group(&g), None);
    }
}
