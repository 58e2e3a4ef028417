//! Observations and drift policies: an observation that raced an execution is discarded (no
//! false drift), drift under `heal` starts a heal within the hourly cap, a flapping
//! environment stops being healed and says why, and group policies apply to environments
//! without their own.

use std::collections::BTreeMap;

use super::{create, finish, world, ApplyChecked};
use crate::drift::{DriftPolicy, OnDrift, HOUR_MS};
use crate::environment::EnvStatus;
use crate::execution::{ExecKind, ExecState, RetryPolicy};
use crate::kv::KvState;
use crate::rollout::{Group, GroupKind, Selector};
use crate::workflow::{
    ObserveBasis, WorkflowCommand, WorkflowError, WorkflowResult, WorkflowState,
};

fn heal_policy(max: u32) -> DriftPolicy {
    DriftPolicy {
        check_every_ms: 60_000,
        on_drift: OnDrift::Heal,
        max_heals_per_hour: max,
    }
}

/// An installed, in-sync environment `e` (its install ran to success under term 1).
fn installed() -> (WorkflowState, KvState) {
    let (mut w, kv) = world();
    let WorkflowResult::Execution { id, .. } = create(&mut w, &kv, "e") else {
        panic!("create failed")
    };
    finish(&mut w, &kv, &id, 1);
    assert_eq!(w.environments["e"].status, EnvStatus::InSync);
    (w, kv)
}

/// The basis an observer takes of `e` right now.
fn basis(w: &WorkflowState) -> ObserveBasis {
    ObserveBasis {
        latest_execution: w.environments["e"].latest_execution.clone(),
    }
}

fn observe(
    w: &mut WorkflowState,
    kv: &KvState,
    basis: ObserveBasis,
    resources: &[(&str, Option<&str>)],
    now_ms: u64,
) -> WorkflowResult {
    w.apply_checked(
        kv,
        1,
        &WorkflowCommand::Observed {
            environment: "e".into(),
            resources: resources
                .iter()
                .map(|(r, d)| (r.to_string(), d.map(str::to_string)))
                .collect::<BTreeMap<_, _>>(),
            now_ms,
            basis: Some(basis),
        },
    )
}

/// An observation taken now (nothing raced it).
fn observe_fresh(
    w: &mut WorkflowState,
    kv: &KvState,
    resources: &[(&str, Option<&str>)],
    now_ms: u64,
) -> WorkflowResult {
    let b = basis(w);
    observe(w, kv, b, resources, now_ms)
}

fn start(w: &mut WorkflowState, kv: &KvState, kind: ExecKind) -> String {
    let r = w.apply_checked(
        kv,
        1,
        &WorkflowCommand::StartExecution {
            environment: "e".into(),
            kind,
            revision: None,
            inputs: None,
            retry: RetryPolicy::default(),
            now_ms: 20,
        },
    );
    let WorkflowResult::Execution { id, .. } = r else {
        panic!("{r:?}")
    };
    id
}

#[test]
fn an_observation_taken_before_an_execution_is_discarded() {
    let (mut w, kv) = installed();
    let before = basis(&w);
    // An update starts after the observer looked (and before its answer commits): while it
    // runs, and after it has ended, the old answer is discarded.
    let update = start(&mut w, &kv, ExecKind::Update);
    let r = observe(&mut w, &kv, before.clone(), &[("a", Some("old"))], 30);
    assert_eq!(
        r,
        WorkflowResult::Observation {
            recorded: false,
            heal: None
        }
    );
    finish(&mut w, &kv, &update, 1);
    let settled = w.environments["e"].clone();
    assert_eq!(settled.status, EnvStatus::InSync);
    let r = observe(&mut w, &kv, before, &[("a", Some("old"))], 40);
    assert_eq!(
        r,
        WorkflowResult::Observation {
            recorded: false,
            heal: None
        }
    );
    assert_eq!(
        w.environments["e"], settled,
        "a stale observation changed nothing"
    );
    // One taken after the update counts.
    let r = observe_fresh(&mut w, &kv, &[("a", Some("hand-edit"))], 50);
    assert_eq!(
        r,
        WorkflowResult::Observation {
            recorded: true,
            heal: None
        }
    );
    assert_eq!(w.environments["e"].status, EnvStatus::Drifted);
}

#[test]
fn drift_under_heal_starts_a_heal_until_the_hourly_cap() {
    let (mut w, kv) = installed();
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::SetDriftPolicy {
            environment: "e".into(),
            policy: Some(heal_policy(2)),
            now_ms: 25,
        },
    );
    assert_eq!(r, WorkflowResult::Done);
    let mut now = 1_000;
    for round in 0..2 {
        let r = observe_fresh(&mut w, &kv, &[("a", Some("hand-edit"))], now);
        let WorkflowResult::Observation {
            recorded: true,
            heal: Some(heal),
        } = r
        else {
            panic!("round {round}: {r:?}")
        };
        assert_eq!(w.executions[&heal].kind, ExecKind::Heal);
        assert_eq!(w.environments["e"].status, EnvStatus::Healing);
        // The heal repairs exactly the drifted resource.
        let steps: Vec<_> = w.executions[&heal]
            .steps
            .iter()
            .map(|s| s.resource.as_str())
            .collect();
        assert_eq!(steps, ["a"]);
        finish(&mut w, &kv, &heal, 1);
        assert_eq!(w.executions[&heal].state, ExecState::Succeeded);
        assert_eq!(w.environments["e"].status, EnvStatus::InSync);
        now += 60_000;
    }
    // The third drift within the hour: reported, not healed, and the reason says what to do.
    let r = observe_fresh(&mut w, &kv, &[("a", Some("hand-edit"))], now);
    assert_eq!(
        r,
        WorkflowResult::Observation {
            recorded: true,
            heal: None
        }
    );
    let env = &w.environments["e"];
    assert_eq!(env.status, EnvStatus::Drifted);
    let reason = env.heal_suspended.as_deref().expect("suspended");
    assert!(
        reason.contains("2 times in the last hour")
            && reason.contains("moorctl exec start e --kind heal"),
        "{reason}"
    );
    // An hour after the first heals, drift is healed again and the suspension is lifted.
    let later = 1_000 + HOUR_MS + 60_001;
    let r = observe_fresh(&mut w, &kv, &[("a", Some("hand-edit-2"))], later);
    assert!(
        matches!(r, WorkflowResult::Observation { heal: Some(_), .. }),
        "{r:?}"
    );
    assert_eq!(w.environments["e"].heal_suspended, None);
}

#[test]
fn notify_and_no_policy_only_report() {
    for policy in [
        None,
        Some(DriftPolicy {
            on_drift: OnDrift::Notify,
            ..heal_policy(0)
        }),
    ] {
        let (mut w, kv) = installed();
        w.environments.get_mut("e").unwrap().drift = policy;
        let r = observe_fresh(&mut w, &kv, &[("b", None)], 1_000);
        assert_eq!(
            r,
            WorkflowResult::Observation {
                recorded: true,
                heal: None
            }
        );
        assert_eq!(w.environments["e"].status, EnvStatus::Drifted);
        assert!(w.environments["e"].heal_suspended.is_none());
    }
}

#[test]
fn a_group_policy_applies_to_environments_without_their_own() {
    let (mut w, kv) = installed();
    let group = |kind, drift| Group {
        name: "edge".into(),
        kind,
        selector: Selector {
            match_labels: [("region".to_string(), "eu".to_string())].into(),
            names: vec![],
        },
        created_ms: 0,
        updated_ms: 0,
        drift,
    };
    // A site group selecting e's site, with a heal policy: e is healed.
    let r = w.apply_checked(
        &kv,
        1,
        &WorkflowCommand::PutGroup {
            group: group(GroupKind::Sites, Some(heal_policy(4))),
            now_ms: 2,
        },
    );
    assert!(matches!(r, WorkflowResult::Group { .. }), "{r:?}");
    let r = observe_fresh(&mut w, &kv, &[("a", Some("x"))], 1_000);
    let WorkflowResult::Observation {
        heal: Some(heal), ..
    } = r
    else {
        panic!("{r:?}")
    };
    finish(&mut w, &kv, &heal, 1);
    // The environment's own notify policy wins over the group's.
    w.environments.get_mut("e").unwrap().drift = Some(DriftPolicy {
        on_drift: OnDrift::Notify,
        ..heal_policy(0)
    });
    let r = observe_fresh(&mut w, &kv, &[("a", Some("x"))], 2_000);
    assert!(
        matches!(r, WorkflowResult::Observation { heal: None, .. }),
        "{r:?}"
    );
}

#[test]
fn invalid_policies_are_refused_and_change_nothing() {
    let (mut w, kv) = installed();
    let before = w.clone();
    for bad in [
        DriftPolicy {
            check_every_ms: 10,
            ..heal_policy(1)
        },
        heal_policy(0),
        heal_policy(1_000),
    ] {
        let r = w.apply_checked(
            &kv,
            1,
            &WorkflowCommand::SetDriftPolicy {
                environment: "e".into(),
                policy: Some(bad),
                now_ms: 3,
            },
        );
        assert!(
            matches!(r, WorkflowResult::Rejected(WorkflowError::Invalid(_))),
            "{r:?}"
        );
    }
    assert_eq!(w, before);
}
