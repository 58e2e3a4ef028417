//! Which sites the leader's drift checks could not reach (feature level 3): recorded when a
//! check gets no answer, forgotten when a check or a step there succeeds again, or when the
//! site is put with another driver (a new address says nothing about the old one's failure).
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

use crate::execution::StepOutcome;
use crate::site::{bounded_error, Unreachable};
use crate::workflow::types::{Checkpoint, Res, WorkflowError, WorkflowResult, WorkflowState};

impl WorkflowState {
    /// Records what a check found: `error` set, the site is unreachable from `now_ms` (kept
    /// from the first such check, with the latest error); `None`, it answers again.
    pub(crate) fn site_reachability(
        &mut self,
        site: &str,
        error: Option<&str>,
        now_ms: u64,
    ) -> Res<WorkflowResult> {
        if !self.sites.contains_key(site) {
            return Err(WorkflowError::NotFound(format!("site {site}")));
        }
        match error {
            Some(error) => {
                let error = bounded_error(error);
                self.unreachable
                    .entry(site.to_string())
                    .and_modify(|u| u.error.clone_from(&error))
                    .or_insert(Unreachable {
                        since_ms: now_ms,
                        error,
                    });
            }
            None => {
                self.unreachable.remove(site);
            }
        }
        Ok(WorkflowResult::Done)
    }

    /// Forgets the mark of every site where one of `items` reports a step done: the site
    /// answered.
    pub(crate) fn reached_by_steps(&mut self, items: &[Checkpoint]) {
        if self.unreachable.is_empty() {
            return;
        }
        for item in items {
            let Checkpoint::Result {
                execution,
                outcome: StepOutcome::Done { .. },
                ..
            } = item
            else {
                continue;
            };
            let site = self
                .executions
                .get(execution)
                .and_then(|e| self.environments.get(&e.environment))
                .map(|env| env.site.clone());
            if let Some(site) = site {
                self.unreachable.remove(&site);
            }
        }
    }
}
