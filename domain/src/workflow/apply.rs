//! The one entry point of the workflow domain: routes a committed command to the transition
//! that handles it and turns a refusal into [`WorkflowResult::Rejected`] (state unchanged).
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

use crate::execution::At;
use crate::feature::{self, FeatureLevel};
use crate::kv::KvState;
use crate::workflow::environments::NewEnvironment;
use crate::workflow::types::{WorkflowCommand, WorkflowError, WorkflowResult, WorkflowState};

impl WorkflowState {
    /// Applies one command committed in `term` at the cluster's feature `level`; `kv`
    /// resolves `${var:...}` references in blueprint inputs. The term of the entry is the
    /// fence token of the dispatches it carries: only the leader of that term can have
    /// proposed them.
    pub fn apply_at(
        &mut self,
        kv: &KvState,
        term: u64,
        level: FeatureLevel,
        command: &WorkflowCommand,
    ) -> WorkflowResult {
        let r = match command {
            WorkflowCommand::PutBlueprint {
                spec,
                source,
                now_ms,
            } => self.put_blueprint(spec, source, *now_ms),
            WorkflowCommand::PutSite { site, now_ms: _ } => {
                let driver_before = self.sites.get(&site.name).map(|s| s.driver.clone());
                let r = self.put_site(site);
                if r.is_ok()
                    && level.has(feature::SITE_REACHABILITY)
                    && driver_before.is_some_and(|d| d != site.driver)
                {
                    self.unreachable.remove(&site.name);
                }
                r
            }
            WorkflowCommand::CreateEnvironment {
                name,
                site,
                blueprint,
                revision,
                inputs,
                labels,
                retry,
                now_ms,
                drift,
            } => self.create_environment(
                kv,
                NewEnvironment {
                    name,
                    site,
                    blueprint,
                    revision: *revision,
                    inputs,
                    labels,
                    retry: *retry,
                    drift: *drift,
                },
                *now_ms,
            ),
            WorkflowCommand::SetDriftPolicy {
                environment,
                policy,
                now_ms,
            } => self.set_drift_policy(environment, *policy, *now_ms),
            WorkflowCommand::StartExecution {
                environment,
                kind,
                revision,
                inputs,
                retry,
                now_ms,
            } => self.start_execution(
                kv,
                environment,
                *kind,
                *revision,
                inputs.as_ref(),
                *retry,
                *now_ms,
            ),
            WorkflowCommand::Resume { execution, now_ms } => {
                let r = self.resume(execution, *now_ms);
                self.fill_rollouts(kv, *now_ms);
                r
            }
            WorkflowCommand::Cancel { execution, now_ms } => {
                let r = self.cancel(kv, execution, *now_ms);
                self.fill_rollouts(kv, *now_ms);
                r
            }
            WorkflowCommand::Checkpoints {
                now_ms,
                items,
                dispatch_budget,
            } => {
                let r = self.checkpoints(
                    kv,
                    At {
                        term,
                        now_ms: *now_ms,
                        attempts: level.has(feature::STEP_ATTEMPTS),
                    },
                    items,
                    *dispatch_budget,
                );
                if level.has(feature::SITE_REACHABILITY) {
                    self.reached_by_steps(items);
                }
                Ok(r)
            }
            WorkflowCommand::Observed {
                environment,
                resources,
                now_ms,
                basis,
            } => self.observed(kv, environment, resources, basis.as_ref(), *now_ms),
            WorkflowCommand::PutGroup { group, now_ms } => self.put_group(group, *now_ms),
            WorkflowCommand::DeleteGroup { name } => self.delete_group(name),
            WorkflowCommand::StartRollout { spec, now_ms } => self.start_rollout(kv, spec, *now_ms),
            WorkflowCommand::ControlRollout { id, op, now_ms } => {
                self.control_rollout(kv, id, *op, *now_ms)
            }
            WorkflowCommand::SetRolloutLimits {
                max_parallel_total,
                now_ms,
            } => self.set_rollout_limits(kv, *max_parallel_total, *now_ms),
            WorkflowCommand::ResealInputs {
                environment,
                replace,
                now_ms,
            } => self.reseal_inputs(environment, replace, *now_ms),
            WorkflowCommand::SiteReachability {
                site,
                error,
                now_ms,
            } => {
                if level.has(feature::SITE_REACHABILITY) {
                    self.site_reachability(site, error.as_deref(), *now_ms)
                } else {
                    Err(WorkflowError::FailedPrecondition(format!(
                        "site reachability needs feature level {}; the cluster runs at {level}",
                        feature::SITE_REACHABILITY
                    )))
                }
            }
        };
        r.unwrap_or_else(WorkflowResult::Rejected)
    }
}
