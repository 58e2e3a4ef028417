//! Views of triggers: one trigger with the rollout it starts, its policy and its latest
//! firings, and the list.

use moor_proto::hooks as pb;
use moor_proto::names::{display, FiringOutcome, RolloutActionKind, TriggerPolicy};
use moor_proto::rollout as rpb;
use serde::Serialize;

use super::cells::{dash, escape_controls};
use super::rollout::failure_budget;
use super::table::{fields, grid};
use super::time::utc;
use super::View;

/// How the rollouts a trigger starts run (its `StartRolloutRequest` template). Zeros are
/// the member's defaults.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RolloutTemplateView {
    pub group: String,
    pub action: String,
    pub max_parallel: i64,
    /// Cumulative wave boundaries ("": one wave).
    pub waves: String,
    pub require_approval: bool,
    pub max_failed: Option<i64>,
    pub max_failed_percent: Option<i64>,
    pub max_attempts: u32,
    pub step_timeout_ms: u64,
}

impl From<&rpb::StartRolloutRequest> for RolloutTemplateView {
    fn from(r: &rpb::StartRolloutRequest) -> Self {
        RolloutTemplateView {
            group: r.group.clone(),
            action: r.action.clone(),
            max_parallel: r.max_parallel,
            waves: r.waves.clone(),
            require_approval: r.require_approval,
            max_failed: r.max_failed,
            max_failed_percent: r.max_failed_percent,
            max_attempts: r.max_attempts,
            step_timeout_ms: r.step_timeout_ms,
        }
    }
}

impl RolloutTemplateView {
    /// One line for people: `update, 50 at once, waves 1,10%,100%, approval between waves`.
    fn summary(&self) -> String {
        let mut parts = vec![
            display::<RolloutActionKind>(&self.action),
            format!("{} at once", self.max_parallel),
        ];
        parts.push(match self.waves.as_str() {
            "" => "one wave".to_string(),
            w => format!("waves {}", escape_controls(w)),
        });
        if self.require_approval {
            parts.push("approval between waves".into());
        }
        if self.max_attempts > 0 {
            parts.push(format!("{} attempts per step", self.max_attempts));
        }
        if self.step_timeout_ms > 0 {
            parts.push(format!("step timeout {} ms", self.step_timeout_ms));
        }
        parts.join(", ")
    }
}

/// One new revision a trigger saw, and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct FiringView {
    pub revision: u64,
    /// `started`, `queued`, `superseded` or `failed`.
    pub outcome: String,
    /// Empty while queued, or when starting it failed.
    pub rollout: String,
    pub at_ms: u64,
    pub error: String,
}

/// One trigger.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerView {
    pub name: String,
    pub source: String,
    pub blueprint: String,
    pub rollout: RolloutTemplateView,
    /// `queue` or `supersede`.
    pub policy: String,
    pub created_ms: u64,
    pub running_rollout: String,
    /// 0: none.
    pub queued_revision: u64,
    /// Newest last.
    pub firings: Vec<FiringView>,
}

impl From<&pb::Trigger> for TriggerView {
    fn from(t: &pb::Trigger) -> Self {
        TriggerView {
            name: t.name.clone(),
            source: t.source.clone(),
            blueprint: t.blueprint.clone(),
            rollout: t
                .rollout
                .as_ref()
                .map(RolloutTemplateView::from)
                .unwrap_or_default(),
            policy: t.policy.clone(),
            created_ms: t.created_ms,
            running_rollout: t.running_rollout.clone(),
            queued_revision: t.queued_revision,
            firings: t
                .firings
                .iter()
                .map(|f| FiringView {
                    revision: f.revision,
                    outcome: f.outcome.clone(),
                    rollout: f.rollout.clone(),
                    at_ms: f.at_ms,
                    error: f.error.clone(),
                })
                .collect(),
        }
    }
}

impl TriggerView {
    /// The queued revision as `blueprint@N`, or `-`.
    fn queued(&self) -> String {
        match self.queued_revision {
            0 => "-".to_string(),
            n => format!("{}@{n}", escape_controls(&self.blueprint)),
        }
    }
}

impl View for TriggerView {
    fn table(&self) -> String {
        let r = &self.rollout;
        let mut out = fields(vec![
            ("name", escape_controls(&self.name)),
            ("source", escape_controls(&self.source)),
            ("blueprint", escape_controls(&self.blueprint)),
            ("group", dash(&r.group)),
            ("rollout", r.summary()),
            (
                "failure budget",
                failure_budget(r.max_failed, r.max_failed_percent),
            ),
            ("policy", display::<TriggerPolicy>(&self.policy)),
            ("running rollout", dash(&self.running_rollout)),
            ("queued revision", self.queued()),
            ("created", utc(self.created_ms)),
        ]);
        out.push_str("\n\n");
        if self.firings.is_empty() {
            out.push_str("no firings yet");
            return out;
        }
        out.push_str(&grid(
            Some(&["AT", "REVISION", "OUTCOME", "ROLLOUT", "ERROR"]),
            self.firings
                .iter()
                .map(|f| {
                    vec![
                        utc(f.at_ms),
                        format!("{}@{}", escape_controls(&self.blueprint), f.revision),
                        display::<FiringOutcome>(&f.outcome),
                        dash(&f.rollout),
                        dash(&f.error),
                    ]
                })
                .collect(),
            &[],
        ));
        out
    }
}

/// `trigger list`.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerListView {
    pub triggers: Vec<TriggerView>,
}

impl View for TriggerListView {
    fn table(&self) -> String {
        grid(
            Some(&[
                "NAME",
                "SOURCE",
                "BLUEPRINT",
                "GROUP",
                "POLICY",
                "RUNNING",
                "QUEUED",
                "FIRINGS",
            ]),
            self.triggers
                .iter()
                .map(|t| {
                    vec![
                        escape_controls(&t.name),
                        escape_controls(&t.source),
                        escape_controls(&t.blueprint),
                        dash(&t.rollout.group),
                        display::<TriggerPolicy>(&t.policy),
                        dash(&t.running_rollout),
                        t.queued(),
                        t.firings.len().to_string(),
                    ]
                })
                .collect(),
            &[7],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger() -> pb::Trigger {
        pb::Trigger {
            name: "shop-eu".into(),
            source: "shop".into(),
            blueprint: "webshop".into(),
            rollout: Some(rpb::StartRolloutRequest {
                group: "eu".into(),
                action: "update".into(),
                max_parallel: 50,
                waves: "1,10%,100%".into(),
                require_approval: true,
                max_failed_percent: Some(5),
                ..Default::default()
            }),
            policy: "queue".into(),
            running_rollout: "r12".into(),
            queued_revision: 5,
            firings: vec![
                pb::TriggerFiring {
                    revision: 4,
                    rollout: "r12".into(),
                    at_ms: 1_700_000_000_000,
                    error: String::new(),
                    outcome: "started".into(),
                },
                pb::TriggerFiring {
                    revision: 5,
                    outcome: "queued".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn a_trigger_shows_its_rollout_and_firings() {
        let v = TriggerView::from(&trigger());
        let t = v.table();
        assert!(
            t.contains("update, 50 at once, waves 1,10%,100%, approval between waves"),
            "{t}"
        );
        assert!(t.contains("failure budget   at most 5% failed"), "{t}");
        assert!(t.contains("queued revision  webshop@5"), "{t}");
        assert!(t.contains("webshop@4  started"), "{t}");
        assert!(t.contains("webshop@5  queued"), "{t}");
        let json: serde_json::Value = serde_json::to_value(&v).unwrap();
        assert_eq!(json["rollout"]["group"], "eu");
        assert_eq!(json["rollout"]["max_failed_percent"], 5);
        assert_eq!(json["firings"][0]["rollout"], "r12");
    }

    #[test]
    fn unknown_names_show_as_unknown() {
        let mut odd = trigger();
        odd.policy = "merge".into();
        odd.firings[0].outcome = "deferred".into();
        let t = TriggerView::from(&odd).table();
        assert!(t.contains("unknown(merge)"), "{t}");
        assert!(t.contains("unknown(deferred)"), "{t}");
        let list = TriggerListView {
            triggers: vec![TriggerView::from(&odd)],
        }
        .table();
        assert!(list.contains("unknown(merge)"), "{list}");
    }
}
