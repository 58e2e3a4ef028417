//! What a fake workflow member holds: environments and groups, shared by its `WorkflowApi`
//! and `RolloutApi`, so that a group's drift policy shows in the environments it selects,
//! as on a member. Two environments are there from the start: `shop-1`, in sync, and
//! `shop-2`, drifted, whose heals are suspended by its cap.
//!
//! Drift policies are checked with the server's bounds and messages; the effective policy
//! is the environment's own, else the first environment group by name that selects it
//! (site groups select nothing here: the fake keeps no site labels), else the default.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use moor_proto::rollout as rpb;
use moor_proto::workflow as pb;
use tonic::{Response, Status};

/// The state of a fake member, shared by its services.
pub type Shared = Arc<Mutex<FakeState>>;

/// A call to a fake member's service: counted in `calls`, answered with what `f` makes of
/// the state.
pub fn with_state<T>(
    calls: &AtomicUsize,
    state: &Shared,
    f: impl FnOnce(&mut FakeState) -> Result<T, Status>,
) -> Result<Response<T>, Status> {
    calls.fetch_add(1, Ordering::SeqCst);
    let mut state = state.lock().unwrap();
    f(&mut state).map(Response::new)
}

/// Environments and groups by name.
#[derive(Debug)]
pub struct FakeState {
    pub environments: BTreeMap<String, pb::Environment>,
    pub groups: BTreeMap<String, rpb::Group>,
}

/// Why `shop-2`'s drift is no longer healed.
pub const FAKE_SUSPENDED: &str = "drift healed 4 times in the last hour (cap 4): a resource \
                                  keeps changing at the site";

impl FakeState {
    /// `shop-1` (in sync) and `shop-2` (drifted, heals suspended), no groups.
    pub fn new() -> Shared {
        let mut state = FakeState {
            environments: BTreeMap::new(),
            groups: BTreeMap::new(),
        };
        for env in [
            fixture("shop-1", None),
            fixture("shop-2", Some(heal_policy())),
        ] {
            state.environments.insert(env.name.clone(), env);
        }
        let shop_2 = state.environments.get_mut("shop-2").expect("just inserted");
        shop_2.status = "drifted".into();
        shop_2.heals_last_hour = 4;
        shop_2.heal_suspended = FAKE_SUSPENDED.into();
        state.resolve();
        Arc::new(Mutex::new(state))
    }

    /// Recomputes every environment's effective policy and its source.
    pub fn resolve(&mut self) {
        for env in self.environments.values_mut() {
            let (policy, source) = match &env.drift {
                Some(own) => (Some(own.clone()), "environment".to_string()),
                None => match self.groups.values().find(|g| selects(g, env)) {
                    Some(g) => (Some(group_policy(g)), format!("group {}", g.name)),
                    None => (None, "default".to_string()),
                },
            };
            if policy.as_ref().is_none_or(|p| p.on_drift != "heal") {
                env.heal_suspended.clear();
            }
            env.effective_drift = policy;
            env.drift_policy_source = source;
        }
    }

    /// The environment `name`, or NOT_FOUND as a member words it.
    pub fn environment(&self, name: &str) -> Result<pb::Environment, Status> {
        self.environments
            .get(name)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("environment {name} not found")))
    }

    /// How many environments `g` selects (a sites group: none, see the module docs).
    pub fn matches(&self, g: &rpb::Group) -> u64 {
        let n = self
            .environments
            .values()
            .filter(|e| selection(g, e))
            .count();
        n as u64
    }
}

/// A `heal every 5m, at most 4 an hour` policy.
fn heal_policy() -> pb::DriftPolicy {
    pb::DriftPolicy {
        check_every_ms: 300_000,
        on_drift: "heal".into(),
        max_heals_per_hour: 4,
    }
}

/// An installed environment `name` on `edge-1`, labelled `tier=edge`.
fn fixture(name: &str, drift: Option<pb::DriftPolicy>) -> pb::Environment {
    pb::Environment {
        name: name.into(),
        site: "edge-1".into(),
        blueprint: "hello".into(),
        revision: 2,
        status: "in_sync".into(),
        inputs_json: "{}".into(),
        labels: [("tier".to_string(), "edge".to_string())].into(),
        latest_execution: "x1".into(),
        created_ms: 1_700_000_000_000,
        updated_ms: 1_700_000_000_000,
        drift,
        ..Default::default()
    }
}

/// True when `g`, an environments group, selects `env` (labels, the pseudo-label `site`,
/// and its list of names when it has one).
fn selection(g: &rpb::Group, env: &pb::Environment) -> bool {
    g.kind == "environments"
        && (g.names.is_empty() || g.names.contains(&env.name))
        && g.match_labels
            .iter()
            .all(|(k, v)| env.labels.get(k) == Some(v) || (k == "site" && *v == env.site))
}

/// True when `g` has a policy and selects `env`.
fn selects(g: &rpb::Group, env: &pb::Environment) -> bool {
    !g.drift_on_drift.is_empty() && selection(g, env)
}

/// A group's policy as an environment shows it.
fn group_policy(g: &rpb::Group) -> pb::DriftPolicy {
    pb::DriftPolicy {
        check_every_ms: g.drift_check_every_ms,
        on_drift: g.drift_on_drift.clone(),
        max_heals_per_hour: g.drift_max_heals_per_hour,
    }
}

/// The server's check of a policy: INVALID_ARGUMENT naming the value to change.
pub fn check_policy(p: &pb::DriftPolicy) -> Result<(), Status> {
    const MAX_CHECK_EVERY_MS: u64 = 7 * 24 * 3_600_000;
    if !(1_000..=MAX_CHECK_EVERY_MS).contains(&p.check_every_ms) {
        return Err(Status::invalid_argument(format!(
            "drift check_every must be between 1 s and 168 h, not {} ms",
            p.check_every_ms
        )));
    }
    match p.on_drift.as_str() {
        "notify" => Ok(()),
        "heal" if (1..=60).contains(&p.max_heals_per_hour) => Ok(()),
        "heal" => Err(Status::invalid_argument(format!(
            "drift max_heals_per_hour must be between 1 and 60 when on_drift is heal, not {}",
            p.max_heals_per_hour
        ))),
        other => Err(Status::invalid_argument(format!(
            "on_drift must be `notify` or `heal`, not `{other}`"
        ))),
    }
}

/// The server's check of a group's policy fields (none when `drift_on_drift` is empty).
pub fn check_group_policy(g: &rpb::Group) -> Result<(), Status> {
    if g.drift_on_drift.is_empty() {
        return Ok(());
    }
    check_policy(&group_policy(g))
}

/// What `DiffEnvironment` answers for `env`: `shop-2` has a drifted resource with two
/// fields, a missing one and an unexpected one; any other environment is in sync.
pub fn diff(env: &pb::Environment) -> pb::EnvironmentDiffResponse {
    let resource = |name: &str, state: &str, fields: Vec<pb::FieldDiff>| pb::ResourceDiff {
        resource: name.into(),
        resource_type: "agent.file".into(),
        desired_digest: if state == "unexpected" {
            String::new()
        } else {
            "aa".repeat(32)
        },
        observed_digest: match state {
            "missing" => String::new(),
            "in_sync" => "aa".repeat(32),
            _ => "bb".repeat(32),
        },
        state: state.into(),
        fields,
    };
    let resources = if env.name == "shop-2" {
        vec![
            resource("network", "in_sync", vec![]),
            resource(
                "config",
                "drifted",
                vec![
                    pb::FieldDiff {
                        path: "/mode".into(),
                        desired_json: "\"0644\"".into(),
                        observed_json: "\"0666\"".into(),
                        kind: "changed".into(),
                        secret: false,
                    },
                    pb::FieldDiff {
                        path: "/content".into(),
                        desired_json: "\"port=80\"".into(),
                        observed_json: String::new(),
                        kind: "only_desired".into(),
                        secret: false,
                    },
                ],
            ),
            resource("db", "missing", vec![]),
            resource("stray", "unexpected", vec![]),
        ]
    } else {
        vec![resource("network", "in_sync", vec![])]
    };
    pb::EnvironmentDiffResponse {
        environment: env.name.clone(),
        site: env.site.clone(),
        resources,
        observed_ms: 1_700_000_000_000,
    }
}
