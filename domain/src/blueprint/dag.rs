//! The dependency graph of a blueprint's resources: order, reverse order and cycles.
//!
//! Resources are created in dependency order (a resource after everything it depends on)
//! and deleted in the reverse. Ties are broken by insertion order, so every member of the
//! Raft group computes the same order from the same graph, and authors see their resources
//! handled in the order they wrote them when nothing forces another.
//!
//! The algorithms are iterative (Kahn's for order, Tarjan's for cycles) so a long chain of
//! resources cannot overflow the stack.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
// Indexing stays: every index is a node number below `len()`, created with the vectors.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use thiserror::Error;

/// Why a graph cannot be built or ordered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DagError {
    #[error("resource `{0}` is declared twice")]
    DuplicateResource(String),
    #[error("resource `{resource}` depends on `{dependency}`, which does not exist")]
    UnknownDependency {
        resource: String,
        dependency: String,
    },
    /// `path` starts and ends with the same resource: `[a, b, a]` is `a -> b -> a`.
    #[error("dependency cycle: {}", path.join(" -> "))]
    Cycle { path: Vec<String> },
}

/// Resources and their `depends_on` edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyGraph {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
    /// `dependencies[i]`: what `names[i]` depends on, in declaration order, without repeats.
    dependencies: Vec<Vec<usize>>,
    /// `dependents[i]`: what depends on `names[i]`, in insertion order.
    dependents: Vec<Vec<usize>>,
}

impl DependencyGraph {
    /// Builds the graph from `(resource, depends_on)` pairs, in the order that breaks ties.
    /// Every dependency must name a resource of the graph; repeats are ignored.
    pub fn new<'a, I, D>(resources: I) -> Result<DependencyGraph, DagError>
    where
        I: IntoIterator<Item = (&'a str, D)>,
        D: IntoIterator<Item = &'a str>,
    {
        let mut names = Vec::new();
        let mut index = BTreeMap::new();
        let mut edges: Vec<Vec<&'a str>> = Vec::new();
        for (name, depends_on) in resources {
            if index.insert(name.to_string(), names.len()).is_some() {
                return Err(DagError::DuplicateResource(name.to_string()));
            }
            names.push(name.to_string());
            edges.push(depends_on.into_iter().collect());
        }
        let mut dependencies = vec![Vec::new(); names.len()];
        let mut dependents = vec![Vec::new(); names.len()];
        for (from, targets) in edges.iter().enumerate() {
            for target in targets {
                let Some(&to) = index.get(*target) else {
                    return Err(DagError::UnknownDependency {
                        resource: names[from].clone(),
                        dependency: target.to_string(),
                    });
                };
                if !dependencies[from].contains(&to) {
                    dependencies[from].push(to);
                    dependents[to].push(from);
                }
            }
        }
        Ok(DependencyGraph {
            names,
            index,
            dependencies,
            dependents,
        })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// What `name` depends on directly; empty for an unknown name.
    pub fn dependencies(&self, name: &str) -> Vec<&str> {
        self.neighbours(name, &self.dependencies)
    }

    /// What depends on `name` directly; empty for an unknown name.
    pub fn dependents(&self, name: &str) -> Vec<&str> {
        self.neighbours(name, &self.dependents)
    }

    fn neighbours(&self, name: &str, edges: &[Vec<usize>]) -> Vec<&str> {
        self.index
            .get(name)
            .map(|&i| edges[i].iter().map(|&j| self.names[j].as_str()).collect())
            .unwrap_or_default()
    }

    /// Every resource after all it depends on (creation order); among resources that are
    /// free at the same time, insertion order.
    pub fn order(&self) -> Result<Vec<&str>, DagError> {
        let mut waiting_on: Vec<usize> = self.dependencies.iter().map(Vec::len).collect();
        let mut ready: BTreeSet<usize> = (0..self.len()).filter(|&i| waiting_on[i] == 0).collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(next) = ready.pop_first() {
            order.push(self.names[next].as_str());
            for &dependent in &self.dependents[next] {
                waiting_on[dependent] -= 1;
                if waiting_on[dependent] == 0 {
                    ready.insert(dependent);
                }
            }
        }
        if order.len() < self.len() {
            // A graph that cannot be ordered has a cycle; the fallback names the resources
            // left unordered should `cycles` ever disagree.
            let path = self.cycles().into_iter().next().unwrap_or_else(|| {
                self.names
                    .iter()
                    .filter(|n| !order.contains(&n.as_str()))
                    .cloned()
                    .collect()
            });
            return Err(DagError::Cycle { path });
        }
        Ok(order)
    }

    /// Every resource before all it depends on (deletion order): the reverse of [`order`].
    ///
    /// [`order`]: DependencyGraph::order
    pub fn reverse_order(&self) -> Result<Vec<&str>, DagError> {
        let mut order = self.order()?;
        order.reverse();
        Ok(order)
    }

    /// One cycle per group of resources that depend on each other (strongly connected
    /// component), each spelt as a path from the group's first-inserted resource back to
    /// itself along the shortest way: `[a, b, c, a]`. Groups come in insertion order.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut cycles = Vec::new();
        for component in self.components() {
            let Some(&start) = component.iter().min() else {
                continue;
            };
            let is_cycle = component.len() > 1 || self.dependencies[start].contains(&start);
            if is_cycle {
                let members: BTreeSet<usize> = component.into_iter().collect();
                cycles.push((start, self.shortest_cycle(start, &members)));
            }
        }
        cycles.sort();
        cycles
            .into_iter()
            .map(|(_, path)| path.into_iter().map(|i| self.names[i].clone()).collect())
            .collect()
    }

    /// Breadth-first from `start` along dependency edges inside `members`, back to `start`.
    fn shortest_cycle(&self, start: usize, members: &BTreeSet<usize>) -> Vec<usize> {
        let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(at) = queue.pop_front() {
            for &next in &self.dependencies[at] {
                if !members.contains(&next) {
                    continue;
                }
                if next == start {
                    let mut path = vec![start, at];
                    let mut cursor = at;
                    while cursor != start {
                        let Some(&from) = came_from.get(&cursor) else {
                            break;
                        };
                        cursor = from;
                        path.push(cursor);
                    }
                    path.reverse();
                    // Reversed, the path reads start -> ... -> at -> start.
                    return path;
                }
                if let std::collections::btree_map::Entry::Vacant(slot) = came_from.entry(next) {
                    slot.insert(at);
                    queue.push_back(next);
                }
            }
        }
        // Every member of a strongly connected component leads back to the start; should
        // that not hold, the component itself is the best description of the cycle.
        let mut path = vec![start];
        path.extend(members.iter().copied().filter(|n| *n != start));
        path.push(start);
        path
    }

    /// Strongly connected components (Tarjan's algorithm, iterative).
    fn components(&self) -> Vec<Vec<usize>> {
        const UNSEEN: usize = usize::MAX;
        let n = self.len();
        let mut order_of = vec![UNSEEN; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut components = Vec::new();
        let mut counter = 0;
        for root in 0..n {
            if order_of[root] != UNSEEN {
                continue;
            }
            // (node, index of the next edge to follow)
            let mut work = vec![(root, 0usize)];
            order_of[root] = counter;
            low[root] = counter;
            counter += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (node, ref mut edge)) = work.last_mut() {
                if let Some(&next) = self.dependencies[node].get(*edge) {
                    *edge += 1;
                    if order_of[next] == UNSEEN {
                        order_of[next] = counter;
                        low[next] = counter;
                        counter += 1;
                        stack.push(next);
                        on_stack[next] = true;
                        work.push((next, 0));
                    } else if on_stack[next] {
                        low[node] = low[node].min(order_of[next]);
                    }
                    continue;
                }
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[node]);
                }
                if low[node] == order_of[node] {
                    let mut component = Vec::new();
                    while let Some(member) = stack.pop() {
                        on_stack[member] = false;
                        component.push(member);
                        if member == node {
                            break;
                        }
                    }
                    components.push(component);
                }
            }
        }
        components
    }
}

#[cfg(test)]
#[path = "tests/dag_unit.rs"]
mod tests;
