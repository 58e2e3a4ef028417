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
#[path = "tests/plan_unit.rs"]
mod tests;
