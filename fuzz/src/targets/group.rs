//! `group`: group definitions — a name, a kind, a label selector and an optional drift
//! policy — as `moorctl group put` and the API send them: [`DriftPolicy::validate`],
//! [`Selector::matches`], then the group applied (`PutGroup`) to the golden log's final
//! state, where its selector is evaluated over real sites and environments.
//!
//! Checked: an accepted drift policy is within its documented bounds; matching is monotonic
//! (a selector with a label requirement removed still matches what it matched, and a name
//! list excludes every other name); apply never panics and keeps the state's invariants.

use arbitrary::{Result, Unstructured};
use moor_domain::command::Command;
use moor_domain::command::CommandResult;
use moor_domain::drift::{
    DriftPolicy, OnDrift, MAX_CHECK_EVERY_MS, MAX_HEALS_PER_HOUR, MIN_CHECK_EVERY_MS,
};
use moor_domain::rollout::{Group, GroupKind, Selector};
use moor_domain::site::Labels;
use moor_domain::workflow::{WorkflowCommand, WorkflowResult};
use rand::rngs::SmallRng;
use rand::Rng;

use crate::engine::{Pool, Target};
use crate::golden::final_state;
use crate::pick;

pub const TARGET: Target = Target {
    name: "group",
    about: "group definitions: selectors, drift policies, then PutGroup applied",
    seeds,
    generate,
    run,
};

fn seeds() -> Vec<Vec<u8>> {
    (0u8..16).map(|i| vec![i.wrapping_mul(53); 64]).collect()
}

fn generate(rng: &mut SmallRng, _pool: &Pool) -> Vec<u8> {
    let len = rng.random_range(8..=160);
    (0..len).map(|_| rng.random()).collect()
}

const NAMES: &[&str] = &[
    "g0", "g1", "g2", "e0", "e1", "s0", "s1", "", "-g", "G", "a.b",
];
const KEYS: &[&str] = &["tier", "region", "site", "", "x"];
const VALUES: &[&str] = &["edge", "core", "eu", "us", "s0", "s1", ""];

fn labels(u: &mut Unstructured) -> Result<Labels> {
    let mut labels = Labels::new();
    for _ in 0..u.int_in_range(0..=3)? {
        labels.insert(pick::string(u, KEYS)?, pick::string(u, VALUES)?);
    }
    Ok(labels)
}

fn drift(u: &mut Unstructured) -> Result<Option<DriftPolicy>> {
    if !u.arbitrary::<bool>()? {
        return Ok(None);
    }
    Ok(Some(DriftPolicy {
        check_every_ms: pick::number(
            u,
            &[
                0,
                999,
                MIN_CHECK_EVERY_MS,
                60_000,
                MAX_CHECK_EVERY_MS,
                MAX_CHECK_EVERY_MS + 1,
                u64::MAX,
            ],
        )?,
        on_drift: if u.arbitrary()? {
            OnDrift::Heal
        } else {
            OnDrift::Notify
        },
        max_heals_per_hour: pick::number(
            u,
            &[
                0,
                1,
                2,
                MAX_HEALS_PER_HOUR,
                MAX_HEALS_PER_HOUR + 1,
                u32::MAX,
            ],
        )?,
    }))
}

fn group(u: &mut Unstructured) -> Result<Group> {
    Ok(Group {
        name: pick::string(u, NAMES)?,
        kind: if u.arbitrary()? {
            GroupKind::Sites
        } else {
            GroupKind::Environments
        },
        selector: Selector {
            match_labels: labels(u)?.into_iter().collect(),
            names: (0..u.int_in_range(0..=2)?)
                .map(|_| pick::string(u, NAMES))
                .collect::<Result<_>>()?,
        },
        created_ms: u.arbitrary()?,
        updated_ms: u.arbitrary()?,
        drift: drift(u)?,
    })
}

fn check_policy(policy: &DriftPolicy) {
    if policy.validate().is_ok() {
        assert!((MIN_CHECK_EVERY_MS..=MAX_CHECK_EVERY_MS).contains(&policy.check_every_ms));
        if policy.on_drift == OnDrift::Heal {
            assert!((1..=MAX_HEALS_PER_HOUR).contains(&policy.max_heals_per_hour));
        }
    }
}

fn check_matching(u: &mut Unstructured, selector: &Selector) -> Result<()> {
    let name = pick::string(u, NAMES)?;
    let labels = labels(u)?;
    let pseudo_key = pick::string(u, &["region", "site"])?;
    let pseudo_value = pick::string(u, VALUES)?;
    let pseudo = (pseudo_key.as_str(), pseudo_value.as_str());
    if !selector.matches(&name, &labels, pseudo) {
        return Ok(());
    }
    assert!(
        selector.names.is_empty() || selector.names.contains(&name),
        "{selector:?} matched {name}, which its name list does not hold"
    );
    for key in selector.match_labels.keys() {
        let mut fewer = selector.clone();
        fewer.match_labels.remove(key);
        assert!(
            fewer.matches(&name, &labels, pseudo),
            "{selector:?} matches {name} {labels:?} but {fewer:?} does not"
        );
    }
    Ok(())
}

fn run(input: &[u8]) -> bool {
    let mut u = Unstructured::new(input);
    let Ok(group) = group(&mut u) else {
        return false;
    };
    if let Some(policy) = &group.drift {
        check_policy(policy);
    }
    let _ = check_matching(&mut u, &group.selector);
    let (state, index, term) = final_state();
    let mut state = state.clone();
    let command = Command::Workflow(WorkflowCommand::PutGroup {
        group,
        now_ms: 10_000_000,
    });
    let result = state.apply(index + 1, *term, &command);
    if let Err(broken) = state.invariants() {
        panic!("invariant broken by {command:?}: {broken}");
    }
    !matches!(result, CommandResult::Workflow(WorkflowResult::Rejected(_)))
}
