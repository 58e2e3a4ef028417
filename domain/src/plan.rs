//! Planning: from rendered states to the ordered steps of an execution.
//!
//! A plan is a list of [`PlannedStep`]s; each step names the steps it must wait for by index,
//! so the executor can run independent steps in parallel. Every index in `depends_on` is
//! smaller than the step's own index: the list itself is one valid serial order, and a plan
//! read back from the replicated log can be checked in one pass.
//!
//! Rules:
//! - a Create or Modify waits for the Create/Modify steps of what it depends on;
//! - a Delete waits until nothing still uses the resource: for the Delete or Modify of every
//!   resource that depended on it (a Modify is how a dependent stops needing it). Deletes
//!   therefore run in reverse dependency order;
//! - when a resource between two steps has no step itself (it is unchanged, or not drifted),
//!   the wait goes through it: if `web → app → db` and only `web` and `db` change, `web`
//!   still waits for `db`;
//! - a resource cannot change type in place (no driver can turn a file into a Kubernetes
//!   manifest); planning refuses, and the author renames the resource instead, which plans
//!   a Create of the new one and a Delete of the old.
//!
//! Pure, like the rest of the state machine: the same states give the same plan on every
//! member.
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

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::blueprint::dag::{DagError, DependencyGraph};
use crate::blueprint::{Rendered, RenderedResource};

/// What a step does to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Action {
    Create,
    Modify,
    Delete,
}

/// One step of a plan. For Create and Modify, `properties` and `digest` are the desired
/// ones; for Delete, the current ones (what the driver must remove).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub resource: String,
    /// A [`ResourceType`](crate::blueprint::ResourceType) name, e.g. `sim.resource`.
    pub resource_type: String,
    pub action: Action,
    pub properties: Value,
    pub digest: String,
    /// Indices of the steps this one waits for, ascending, each smaller than this step's.
    pub depends_on: Vec<usize>,
    /// JSON pointers into `properties` of secret values, to redact when showing the step.
    pub secret_paths: Vec<String>,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error("{state} state has a broken dependency graph: {source}")]
    Graph {
        /// `current`, `desired` or `previous`.
        state: &'static str,
        #[source]
        source: DagError,
    },
    #[error(
        "resource `{resource}` would change type from {from} to {to}, which cannot be done in \
         place: give the new resource another name, so the old one is deleted and the new one \
         created"
    )]
    TypeChanged {
        resource: String,
        from: String,
        to: String,
    },
}

/// Creates every resource of `desired`.
pub fn plan_install(desired: &Rendered) -> Result<Vec<PlannedStep>, PlanError> {
    diff(&Rendered::default(), desired, "desired")
}

/// Takes an environment from `current` to `desired`: Create what is new, Modify what
/// changed (different digest), Delete what is gone; unchanged resources get no step.
pub fn plan_update(current: &Rendered, desired: &Rendered) -> Result<Vec<PlannedStep>, PlanError> {
    diff(current, desired, "desired")
}

/// Deletes every resource of `current`, dependents first.
pub fn plan_uninstall(current: &Rendered) -> Result<Vec<PlannedStep>, PlanError> {
    diff(current, &Rendered::default(), "desired")
}

/// Puts `previous` back: the update from `current` to `previous`.
pub fn plan_rollback(
    current: &Rendered,
    previous: &Rendered,
) -> Result<Vec<PlannedStep>, PlanError> {
    diff(current, previous, "previous")
}

/// Repairs drift: Modify every resource whose observed digest differs from the desired
/// one, Create every resource observed missing (`None`) or not observed at all. Resources
/// observed at the site but not desired are left alone: removing them is an update's job.
pub fn plan_heal(
    desired: &Rendered,
    observed: &BTreeMap<String, Option<String>>,
) -> Result<Vec<PlannedStep>, PlanError> {
    let graph = graph_of(desired, "desired")?;
    let order = graph.order().map_err(|source| PlanError::Graph {
        state: "desired",
        source,
    })?;
    let mut plan = Plan::default();
    for name in order {
        let Some(resource) = desired.resources.get(name) else {
            continue;
        };
        let action = match observed.get(name) {
            None | Some(None) => Action::Create,
            Some(Some(digest)) if *digest != resource.digest => Action::Modify,
            Some(Some(_)) => continue,
        };
        let depends_on = nearest_steps(
            name,
            |n| graph.dependencies(n),
            |n| plan.index.get(n).copied(),
        );
        plan.push(name, resource, action, depends_on);
    }
    Ok(plan.steps)
}

fn diff(
    current: &Rendered,
    desired: &Rendered,
    desired_label: &'static str,
) -> Result<Vec<PlannedStep>, PlanError> {
    let current_graph = graph_of(current, "current")?;
    let desired_graph = graph_of(desired, desired_label)?;
    for (name, want) in &desired.resources {
        if let Some(have) = current.resources.get(name) {
            if have.resource_type != want.resource_type {
                return Err(PlanError::TypeChanged {
                    resource: name.clone(),
                    from: have.resource_type.clone(),
                    to: want.resource_type.clone(),
                });
            }
        }
    }
    let mut plan = Plan::default();

    // Creates and modifies, dependencies first.
    let order = desired_graph.order().map_err(|source| PlanError::Graph {
        state: desired_label,
        source,
    })?;
    for name in order {
        let Some(want) = desired.resources.get(name) else {
            continue;
        };
        let action = match current.resources.get(name) {
            None => Action::Create,
            Some(have) if have.digest != want.digest => Action::Modify,
            Some(_) => continue,
        };
        let depends_on = nearest_steps(
            name,
            |n| desired_graph.dependencies(n),
            |n| plan.index.get(n).copied(),
        );
        plan.push(name, want, action, depends_on);
    }

    // Deletes, dependents first, each after whatever stops using it.
    let reverse = current_graph
        .reverse_order()
        .map_err(|source| PlanError::Graph {
            state: "current",
            source,
        })?;
    let mut deleted: BTreeMap<&str, usize> = BTreeMap::new();
    for name in reverse {
        if desired.resources.contains_key(name) {
            continue;
        }
        // Step names are unique per resource: a deleted resource has no Create/Modify step.
        let depends_on = nearest_steps(
            name,
            |n| current_graph.dependents(n),
            |n| deleted.get(n).or_else(|| plan.index.get(n)).copied(),
        );
        deleted.insert(name, plan.steps.len());
        if let Some(resource) = current.resources.get(name) {
            plan.push_delete(name, resource, depends_on);
        }
    }
    Ok(plan.steps)
}

#[derive(Default)]
struct Plan {
    steps: Vec<PlannedStep>,
    /// Create/Modify step of each resource.
    index: BTreeMap<String, usize>,
}

impl Plan {
    fn push(
        &mut self,
        name: &str,
        resource: &RenderedResource,
        action: Action,
        depends_on: Vec<usize>,
    ) {
        self.index.insert(name.to_string(), self.steps.len());
        self.push_step(name, resource, action, depends_on);
    }

    fn push_delete(&mut self, name: &str, resource: &RenderedResource, depends_on: Vec<usize>) {
        self.push_step(name, resource, Action::Delete, depends_on);
    }

    fn push_step(
        &mut self,
        name: &str,
        resource: &RenderedResource,
        action: Action,
        depends_on: Vec<usize>,
    ) {
        let own = self.steps.len();
        // The executor relies on this to run a plan in list order.
        assert!(
            depends_on.iter().all(|&d| d < own),
            "step {own} ({name}) waits for a later step: {depends_on:?}"
        );
        self.steps.push(PlannedStep {
            resource: name.to_string(),
            resource_type: resource.resource_type.clone(),
            action,
            properties: resource.properties.clone(),
            digest: resource.digest.clone(),
            depends_on,
            secret_paths: resource.secret_paths.clone(),
        });
    }
}

/// The dependency graph of a state. A dependency on a resource the state does not have is
/// left out: there is nothing to wait for, and an applied state left odd by a failed run
/// must still be plannable (an uninstall that can never be planned would strand it).
fn graph_of<'a>(state: &'a Rendered, label: &'static str) -> Result<DependencyGraph, PlanError> {
    DependencyGraph::new(state.resources.iter().map(
        |(name, r): (&'a String, &'a RenderedResource)| {
            let present = r
                .depends_on
                .iter()
                .map(String::as_str)
                .filter(|d| state.resources.contains_key(*d));
            (name.as_str(), present)
        },
    ))
    .map_err(|source| PlanError::Graph {
        state: label,
        source,
    })
}

/// Steps of the resources nearest to `start` along `next` edges: a neighbour with a step
/// is collected; one without is walked through. Ascending, without repeats.
fn nearest_steps<'g>(
    start: &str,
    next: impl Fn(&str) -> Vec<&'g str>,
    step_of: impl Fn(&str) -> Option<usize>,
) -> Vec<usize> {
    let mut found = BTreeSet::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut stack = next(start);
    while let Some(name) = stack.pop() {
        if !seen.insert(name) {
            continue;
        }
        match step_of(name) {
            Some(step) => {
                found.insert(step);
            }
            None => stack.extend(next(name)),
        }
    }
    found.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint::{digest, parse, render};
    use serde_json::json;

    /// A state from `(name, version, depends_on)`: the version stands for the properties.
    fn state(resources: &[(&str, u32, &[&str])]) -> Rendered {
        let mut rendered = Rendered::default();
        for (name, version, deps) in resources {
            let properties = json!({ "version": version });
            rendered.resources.insert(
                name.to_string(),
                RenderedResource {
                    resource_type: "sim.resource".into(),
                    digest: digest("sim.resource", &properties),
                    properties,
                    depends_on: deps.iter().map(|d| d.to_string()).collect(),
                    secret_paths: Vec::new(),
                },
            );
        }
        rendered
    }

    /// Steps as `(action, resource, depends_on)` for compact assertions.
    fn summary(steps: &[PlannedStep]) -> Vec<(Action, &str, Vec<usize>)> {
        steps
            .iter()
            .map(|s| (s.action, s.resource.as_str(), s.depends_on.clone()))
            .collect()
    }

    use Action::{Create, Delete, Modify};

    #[test]
    fn install_creates_everything_in_dependency_order() {
        let desired = state(&[
            ("app", 1, &["db", "cache"]),
            ("cache", 1, &[]),
            ("db", 1, &[]),
            ("web", 1, &["app"]),
        ]);
        let steps = plan_install(&desired).unwrap();
        assert_eq!(
            summary(&steps),
            vec![
                (Create, "cache", vec![]),
                (Create, "db", vec![]),
                (Create, "app", vec![0, 1]),
                (Create, "web", vec![2]),
            ]
        );
        assert_eq!(steps[2].properties, json!({ "version": 1 }));
        assert_eq!(steps[2].digest, desired.resources["app"].digest);
    }

    #[test]
    fn update_creates_modifies_deletes_and_omits_unchanged() {
        let current = state(&[
            ("app", 1, &["db", "old-cache"]),
            ("db", 1, &[]),
            ("old-cache", 1, &[]),
            ("metrics", 1, &["old-cache"]),
            ("static", 1, &[]),
        ]);
        let desired = state(&[
            ("app", 2, &["db", "new-cache"]),
            ("db", 1, &[]),
            ("new-cache", 1, &[]),
            ("static", 1, &[]),
        ]);
        let steps = plan_update(&current, &desired).unwrap();
        assert_eq!(
            summary(&steps),
            vec![
                (Create, "new-cache", vec![]),
                (Modify, "app", vec![0]),
                // metrics depended on old-cache and is gone: deleted first...
                (Delete, "metrics", vec![]),
                // ...then old-cache, once app no longer uses it and metrics is gone.
                (Delete, "old-cache", vec![1, 2]),
            ]
        );
        assert_eq!(steps[3].properties, json!({ "version": 1 }));
        assert_eq!(plan_update(&current, &current).unwrap(), vec![]);
    }

    #[test]
    fn uninstall_deletes_in_reverse_dependency_order() {
        let current = state(&[
            ("app", 1, &["db", "cache"]),
            ("cache", 1, &[]),
            ("db", 1, &[]),
            ("web", 1, &["app"]),
        ]);
        let steps = plan_uninstall(&current).unwrap();
        assert_eq!(
            summary(&steps),
            vec![
                (Delete, "web", vec![]),
                (Delete, "app", vec![0]),
                (Delete, "db", vec![1]),
                (Delete, "cache", vec![1]),
            ]
        );
    }

    #[test]
    fn waits_go_through_resources_without_steps() {
        // web -> app -> db; only web and db change.
        let current = state(&[("web", 1, &["app"]), ("app", 1, &["db"]), ("db", 1, &[])]);
        let desired = state(&[("web", 2, &["app"]), ("app", 1, &["db"]), ("db", 2, &[])]);
        assert_eq!(
            summary(&plan_update(&current, &desired).unwrap()),
            vec![(Modify, "db", vec![]), (Modify, "web", vec![0])]
        );
    }

    #[test]
    fn heal_touches_only_drifted_and_missing_resources() {
        let desired = state(&[
            ("web", 1, &["app"]),
            ("app", 1, &["db"]),
            ("db", 1, &[]),
            ("cache", 1, &[]),
        ]);
        let observed: BTreeMap<String, Option<String>> = [
            ("web", Some("drifted".to_string())),
            ("app", Some(desired.resources["app"].digest.clone())),
            ("db", None),
            ("cache", Some(desired.resources["cache"].digest.clone())),
            ("stray", Some("x".to_string())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let steps = plan_heal(&desired, &observed).unwrap();
        assert_eq!(
            summary(&steps),
            vec![(Create, "db", vec![]), (Modify, "web", vec![0])]
        );
        assert_eq!(steps[1].digest, desired.resources["web"].digest);
        // Nothing observed at all: everything is created.
        let all = plan_heal(&desired, &BTreeMap::new()).unwrap();
        assert!(all.iter().all(|s| s.action == Create));
        assert_eq!(all.len(), 4);
        // Everything in sync: nothing to do.
        let in_sync = desired
            .resources
            .iter()
            .map(|(k, r)| (k.clone(), Some(r.digest.clone())))
            .collect();
        assert_eq!(plan_heal(&desired, &in_sync).unwrap(), vec![]);
    }

    #[test]
    fn rollback_is_the_inverse_diff() {
        let previous = state(&[("app", 1, &["db"]), ("db", 1, &[]), ("old", 1, &[])]);
        let current = state(&[("app", 2, &["db", "new"]), ("db", 1, &[]), ("new", 1, &[])]);
        let forward = plan_update(&previous, &current).unwrap();
        let back = plan_rollback(&current, &previous).unwrap();
        assert_eq!(
            summary(&forward),
            vec![
                (Create, "new", vec![]),
                (Modify, "app", vec![0]),
                (Delete, "old", vec![]),
            ]
        );
        assert_eq!(
            summary(&back),
            vec![
                (Modify, "app", vec![]),
                (Create, "old", vec![]),
                // `new` goes once `app` has been modified back to not needing it.
                (Delete, "new", vec![0]),
            ]
        );
        // The rollback's Modify goes back to the previous digest.
        assert_eq!(back[0].digest, previous.resources["app"].digest);
        // Creates and deletes swap; the same resources are modified.
        let set = |steps: &[PlannedStep], action| -> BTreeSet<String> {
            steps
                .iter()
                .filter(|s| s.action == action)
                .map(|s| s.resource.clone())
                .collect()
        };
        assert_eq!(set(&forward, Create), set(&back, Delete));
        assert_eq!(set(&forward, Delete), set(&back, Create));
        assert_eq!(set(&forward, Modify), set(&back, Modify));
    }

    #[test]
    fn type_change_in_place_is_refused_with_advice() {
        let current = state(&[("db", 1, &[])]);
        let mut desired = current.clone();
        desired.resources.get_mut("db").unwrap().resource_type = "agent.file".into();
        let err = plan_update(&current, &desired).unwrap_err();
        assert_eq!(
            err.to_string(),
            "resource `db` would change type from sim.resource to agent.file, which cannot be \
             done in place: give the new resource another name, so the old one is deleted and \
             the new one created"
        );
    }

    #[test]
    fn cycles_are_errors_and_dangling_dependencies_are_ignored() {
        let cyclic = state(&[("a", 1, &["b"]), ("b", 1, &["a"])]);
        let err = plan_install(&cyclic).unwrap_err();
        assert_eq!(
            err.to_string(),
            "desired state has a broken dependency graph: dependency cycle: a -> b -> a"
        );
        // A dependency on a resource the state lacks has nothing to wait for.
        let dangling = state(&[("a", 1, &["ghost"]), ("b", 1, &["a"])]);
        assert_eq!(
            summary(&plan_uninstall(&dangling).unwrap()),
            vec![(Delete, "b", vec![]), (Delete, "a", vec![0])]
        );
    }

    #[test]
    fn steps_round_trip_through_json() {
        let steps = plan_install(&state(&[("a", 1, &[]), ("b", 1, &["a"])])).unwrap();
        let text = serde_json::to_string(&steps).unwrap();
        let back: Vec<PlannedStep> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, steps);
    }

    #[test]
    fn blueprint_to_plan_end_to_end() {
        let spec = parse(
            "shop.yaml",
            "name: shop\n\
             inputs:\n  image: { type: string }\n  password: { type: string, secret: true }\n\
             resources:\n\
             - name: app\n  type: kubernetes.manifest\n  depends_on: [db]\n  properties: { image: \"${inputs.image}\" }\n\
             - name: db\n  type: sim.resource\n  properties: { password: \"${inputs.password}\" }\n",
        )
        .unwrap();
        let inputs = [("image", "shop:1"), ("password", "hunter2")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let rendered = render(&spec, &inputs, &|_| None).unwrap();
        let steps = plan_install(&rendered).unwrap();
        assert_eq!(
            summary(&steps),
            vec![(Create, "db", vec![]), (Create, "app", vec![0])]
        );
        assert_eq!(steps[0].secret_paths, vec!["/password".to_string()]);
    }

    /// The example blueprints shipped for the demo must stay valid and plannable.
    #[test]
    fn example_blueprints_parse_render_and_plan() {
        let examples = [
            (
                "hello.yaml",
                include_str!("../../examples/blueprints/hello.yaml"),
            ),
            (
                "webshop.yaml",
                include_str!("../../examples/blueprints/webshop.yaml"),
            ),
            (
                "edge-stack.yaml",
                include_str!("../../examples/blueprints/edge-stack.yaml"),
            ),
        ];
        let vars = |key: &str| match key {
            "webshop/db_password" | "edge/api_token" => Some("from-kv".to_string()),
            _ => None,
        };
        let mut summaries = Vec::new();
        for (file, text) in examples {
            let spec = parse(file, text)
                .unwrap_or_else(|d| panic!("{}", crate::blueprint::format_diagnostics(&d)));
            let inputs = if spec.name == "webshop" {
                [("image".to_string(), json!("registry.local/webshop:1.4.2"))].into()
            } else {
                BTreeMap::new()
            };
            let rendered = render(&spec, &inputs, &vars).unwrap();
            let steps = plan_install(&rendered).unwrap();
            summaries.push(
                steps
                    .iter()
                    .map(|s| format!("{}<-{:?}", s.resource, s.depends_on))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            if spec.name == "edge-stack" {
                let config = &rendered.resources["collector-config"].properties["content"];
                assert_eq!(
                    config,
                    &json!(
                        "site: unnamed-site\nhost: ${HOSTNAME}\nversion: 2.3.1\n\
                         mqtt: tcp://127.0.0.1:1883\nsample_interval_s: 10\n\
                         upstream: https://ingest.example.com/v1\n\
                         token_file: /etc/collector/token\n\
                         allowed_networks: [\"10.0.0.0/8\",\"192.168.0.0/16\"]\n\
                         debug: false\n"
                    )
                );
                assert_eq!(
                    rendered.resources["collector-token"].secret_paths,
                    vec!["/content".to_string()]
                );
            }
        }
        assert_eq!(
            summaries,
            vec![
                "network<-[] database<-[0] app<-[1]",
                "config<-[] db<-[] db-credentials<-[1] app<-[0, 2] service<-[3]",
                "broker-config<-[] broker<-[0] collector-config<-[] collector-token<-[] \
                 collector<-[1, 2, 3] heartbeat<-[4] proxy-config<-[] proxy<-[4, 6]",
            ]
        );
    }
}
