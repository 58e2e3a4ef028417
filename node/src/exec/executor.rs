//! The executor: on the leader only, it drives every running execution forward.
//!
//! For each leadership term it scans the running executions for dispatchable steps, commits
//! a batch of dispatch checkpoints (one Raft entry), calls the drivers for the dispatches the
//! state machine accepted — with the term as fence token — and commits their results in
//! batches. A step is never called before its dispatch is committed, so a cancel or a
//! failover decided in the log is always respected; a deposed leader's calls are refused by
//! the sites (fencing), and a new leader re-dispatches steps left in flight under an older
//! term with the same idempotency key, so no effect is applied twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::ServerState;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::errors::ApiError;
use crate::exec::driver::{DriverCall, DriverResult, SiteDriver};
use crate::raft::member::{LeaderReply, LeaderRequest, Member};
use moor_domain::command::{Command, CommandResult};
use moor_domain::execution::{StepOutcome, StepState};
use moor_domain::workflow::{Checkpoint, CheckpointResult, WorkflowCommand, WorkflowResult};

pub use crate::config::ExecutorSettings as ExecutorConfig;

/// Milliseconds since the Unix epoch: the leader stamps this into commands.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs the executor until `shutdown` turns true.
pub async fn run(
    member: Arc<Member>,
    drivers: Arc<dyn SiteDriver>,
    config: ExecutorConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut metrics = member.raft.metrics();
    loop {
        let leading = {
            let m = metrics.borrow_and_update();
            (m.state == ServerState::Leader).then_some(m.current_term)
        };
        if let Some(term) = leading {
            tracing::info!(term, "executor: leading, resuming in-flight executions");
            let mut term_run = TermRun {
                member: member.clone(),
                drivers: drivers.clone(),
                config: config.clone(),
                term,
                in_flight: HashSet::new(),
                tasks: JoinSet::new(),
                results: Vec::new(),
                commits: JoinSet::new(),
                reserved: 0,
            };
            let drift = crate::exec::drift::run(
                member.clone(),
                drivers.clone(),
                config.drift_check_interval_ms,
                config.probes_per_tick(),
            );
            tokio::select! {
                reason = term_run.run() => tracing::info!(term, %reason, "executor: stopped for this term"),
                _ = drift => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            // Dropping the JoinSet aborted this term's driver calls: sites fence them anyway.
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// One call's answer, as the driver task returns it.
struct CallDone {
    execution: String,
    step: u32,
    attempt: u32,
    result: DriverResult,
}

/// What committing a batch of checkpoints produced.
struct Proposed {
    results: Vec<CheckpointResult>,
    dispatched: Vec<(String, u32, u32)>,
}

/// The executor's work during one leadership term.
struct TermRun {
    member: Arc<Member>,
    drivers: Arc<dyn SiteDriver>,
    config: ExecutorConfig,
    term: u64,
    /// Steps proposed or called in this term and not yet answered.
    in_flight: HashSet<(String, u32)>,
    tasks: JoinSet<CallDone>,
    /// Results waiting to be committed.
    results: Vec<Checkpoint>,
    /// Result batches being committed.
    commits: JoinSet<CommitDone>,
    /// Follow-up dispatch budget given to the commits in flight.
    reserved: usize,
}

impl TermRun {
    fn still_leader(&self) -> bool {
        let m = self.member.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_term == self.term
    }

    /// Drives executions until leadership is lost; returns why it stopped.
    async fn run(&mut self) -> String {
        let mut metrics = self.member.raft.metrics();
        loop {
            if !self.still_leader() {
                return "leadership lost".into();
            }
            // Results are committed in the background, several batches at a time, so a step's
            // answer never waits for an earlier batch's commit before its own starts.
            self.start_commits();
            let applied = metrics.borrow().last_applied;
            let term = self.term;
            let (dispatches, next_wake_ms) = self.scan();
            if !dispatches.is_empty() {
                if let Err(e) = self.dispatch(dispatches).await {
                    // A dispatch whose commit is unknown is picked up again once it has been
                    // silent for twice its step timeout (see Execution::dispatchable).
                    tracing::warn!(error = %e, "cannot commit dispatches; retrying");
                }
                continue;
            }
            let sleep = match next_wake_ms {
                Some(at) => Duration::from_millis(at.saturating_sub(now_ms()).max(1)),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    match done {
                        Ok(done) => {
                            if let Some(reason) = self.collect(done) {
                                return reason;
                            }
                            // Take every answer that is already there: one entry for all.
                            while let Some(Ok(done)) = self.tasks.try_join_next() {
                                if let Some(reason) = self.collect(done) {
                                    return reason;
                                }
                            }
                        }
                        Err(e) => return format!("driver task failed: {e}"),
                    }
                }
                Some(done) = self.commits.join_next(), if !self.commits.is_empty() => {
                    match done {
                        Ok(done) => self.committed(done),
                        Err(e) => return format!("commit task failed: {e}"),
                    }
                }
                // Wake for a newly applied entry or a change of role, not for every
                // heartbeat: each wake-up rescans the running executions.
                changed = metrics.wait_for(|m| {
                    m.last_applied != applied || m.state != ServerState::Leader || m.current_term != term
                }) => {
                    if changed.is_err() {
                        return "raft stopped".into();
                    }
                }
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// Queues a driver answer for commit; returns a reason to stop if this leader is fenced.
    fn collect(&mut self, done: CallDone) -> Option<String> {
        self.in_flight.remove(&(done.execution.clone(), done.step));
        self.member
            .metrics
            .executor_in_flight
            .set(self.in_flight.len() as i64);
        let outcome = match done.result {
            DriverResult::Done { observed_digest } => StepOutcome::Done { observed_digest },
            DriverResult::Failed { error, retryable } => StepOutcome::Failed { error, retryable },
            DriverResult::Fenced { highest_token } => {
                return Some(format!(
                    "fenced: a site accepted token {highest_token} > {}; a newer leader exists",
                    self.term
                ))
            }
        };
        self.results.push(Checkpoint::Result {
            execution: done.execution,
            step: done.step,
            attempt: done.attempt,
            outcome,
        });
        None
    }

    /// Steps to dispatch now, and the earliest time a backed-off step becomes ready.
    fn scan(&self) -> (Vec<(String, u32)>, Option<u64>) {
        let room = self
            .config
            .max_in_flight
            .saturating_sub(self.in_flight.len());
        let now = now_ms();
        let state = self.member.state.read().expect("state lock poisoned");
        let mut out = Vec::new();
        let mut next_wake: Option<u64> = None;
        for id in &state.workflow.running {
            let exec = &state.workflow.executions[id];
            for step in exec.dispatchable(self.term, now) {
                if out.len() >= room.min(self.config.max_batch) {
                    break;
                }
                if !self.in_flight.contains(&(id.clone(), step)) {
                    out.push((id.clone(), step));
                }
            }
            for s in &exec.steps {
                // Wake for a backoff that ends, and for a dispatch of this term that turns
                // silent (Execution::dispatchable re-dispatches it after twice the step
                // timeout): a call lost with its executor round is sent again. (A restarted
                // leader no longer leads in its old term, see raft::member's
                // campaign_after_restart, so its predecessor's steps are re-sent at once.)
                let wake = match s.state {
                    StepState::Pending => s.not_before_ms,
                    StepState::Dispatched => s.dispatched_ms + 2 * exec.retry.step_timeout_ms,
                    _ => continue,
                };
                if wake > now {
                    next_wake = Some(next_wake.map_or(wake, |w| w.min(wake)));
                }
            }
        }
        (out, next_wake)
    }

    /// Room for follow-up dispatches: what `max_in_flight` leaves after the calls in flight
    /// and the budgets already given to commits in flight.
    fn dispatch_room(&self) -> usize {
        self.config
            .max_in_flight
            .saturating_sub(self.in_flight.len() + self.reserved)
    }

    /// Commits one batch of checkpoints and waits for it.
    async fn propose(&self, items: Vec<Checkpoint>) -> Result<Proposed, ApiError> {
        propose(&self.member, items, self.dispatch_room() as u32).await
    }

    /// Starts background commits of queued results, up to [`MAX_COMMITS_IN_FLIGHT`].
    fn start_commits(&mut self) {
        while !self.results.is_empty() && self.commits.len() < MAX_COMMITS_IN_FLIGHT {
            let n = self.results.len().min(self.config.max_batch);
            let items: Vec<Checkpoint> = self.results.drain(..n).collect();
            self.member
                .metrics
                .executor_result_batch
                .observe(items.len() as f64);
            let budget = self.dispatch_room();
            self.reserved += budget;
            let member = self.member.clone();
            self.commits.spawn(async move {
                let outcome = propose(&member, items.clone(), budget as u32).await;
                CommitDone {
                    items,
                    budget,
                    outcome,
                }
            });
        }
    }

    /// A background commit ended: call the drivers for what it dispatched, or queue its
    /// results again (a result that did commit is then refused as stale, harmlessly).
    fn committed(&mut self, done: CommitDone) {
        self.reserved -= done.budget;
        match done.outcome {
            Ok(proposed) => {
                for r in &proposed.results {
                    if let CheckpointResult::Rejected(reason) = r {
                        tracing::debug!(%reason, "result not recorded");
                    }
                }
                if let Err(e) = self.call_followups(proposed.dispatched) {
                    tracing::warn!(error = %e, "cannot call follow-up steps");
                }
            }
            Err(e) => {
                // Each attempt waits up to the forward timeout, which paces the retries; if
                // leadership is gone the loop stops and the next leader re-dispatches.
                tracing::warn!(error = %e, "cannot commit step results; retrying");
                self.results.extend(done.items);
            }
        }
    }
}

/// Most result batches being committed at once by one executor.
const MAX_COMMITS_IN_FLIGHT: usize = 4;

/// A background commit of result checkpoints, as its task returns it.
struct CommitDone {
    items: Vec<Checkpoint>,
    /// The follow-up dispatch budget it was given (reserved until it ends).
    budget: usize,
    outcome: Result<Proposed, ApiError>,
}

/// Commits one batch of checkpoints on this member, which must be the leader. The entry may
/// also dispatch up to `dispatch_budget` follow-up steps; those come back as `dispatched`.
async fn propose(
    member: &Member,
    items: Vec<Checkpoint>,
    dispatch_budget: u32,
) -> Result<Proposed, ApiError> {
    let command = Command::Workflow(WorkflowCommand::Checkpoints {
        now_ms: now_ms(),
        items,
        dispatch_budget,
    });
    // Never forwarded: a deposed leader's checkpoints must not reach the new leader.
    match member
        .execute_local(LeaderRequest::Write(Box::new(command)))
        .await?
    {
        LeaderReply::Written {
            result:
                CommandResult::Workflow(WorkflowResult::Checkpoints {
                    results,
                    dispatched,
                }),
            ..
        } => Ok(Proposed {
            results,
            dispatched,
        }),
        other => Err(ApiError::Internal(format!(
            "checkpoint batch answered with {other:?}"
        ))),
    }
}

impl TermRun {
    /// Commits dispatch checkpoints, then calls the drivers for the accepted ones.
    async fn dispatch(&mut self, steps: Vec<(String, u32)>) -> Result<(), ApiError> {
        self.member
            .metrics
            .executor_dispatch_batch
            .observe(steps.len() as f64);
        for s in &steps {
            self.in_flight.insert(s.clone());
        }
        let items = steps
            .iter()
            .map(|(execution, step)| Checkpoint::Dispatch {
                execution: execution.clone(),
                step: *step,
            })
            .collect();
        let proposed = match self.propose(items).await {
            Ok(p) => p,
            Err(e) => {
                for s in &steps {
                    self.in_flight.remove(s);
                }
                return Err(e);
            }
        };
        // Committed in our term, but check again: a call after losing leadership would only
        // be fenced, so do not make it at all.
        if !self.still_leader() {
            return Err(ApiError::NotLeader {
                member: self.member.id,
                leader: None,
            });
        }
        for ((execution, step), result) in steps.into_iter().zip(proposed.results) {
            match result {
                CheckpointResult::Dispatched { attempt } => {
                    self.call(execution, step, attempt)?;
                }
                CheckpointResult::Rejected(reason) => {
                    tracing::debug!(%reason, "dispatch not accepted");
                    self.in_flight.remove(&(execution, step));
                }
                CheckpointResult::Recorded => {
                    self.in_flight.remove(&(execution, step));
                }
            }
        }
        self.call_followups(proposed.dispatched)
    }

    /// Calls the driver for a committed dispatch, in a task of this term.
    fn call(&mut self, execution: String, step: u32, attempt: u32) -> Result<(), ApiError> {
        let (call, unopened, rollout) = self.driver_call(&execution, step, attempt)?;
        self.in_flight.insert((execution.clone(), step));
        self.member
            .metrics
            .executor_in_flight
            .set(self.in_flight.len() as i64);
        let drivers = self.drivers.clone();
        let metrics = self.member.metrics.clone();
        // Every line logged while the site is called (driver, TLS, retries) carries the step.
        let span = tracing::info_span!(
            "step",
            execution = %call.execution_id,
            step = call.step,
            attempt = call.attempt,
            fence_token = call.fence_token,
            site = %call.site.name,
            resource = %call.resource,
            rollout = rollout.as_deref().unwrap_or(""),
        );
        // Exported traces: one trace per execution, whichever member runs its steps.
        crate::telemetry::join_execution_trace(&span, &call.execution_id);
        let task = async move {
            let started = std::time::Instant::now();
            let result = match unopened {
                // Nothing is sent: the site would get a token, not the secret.
                Some(error) => DriverResult::Failed {
                    error,
                    retryable: true,
                },
                None => drivers.call(&call).await,
            };
            let outcome = match &result {
                DriverResult::Done { .. } => "done",
                DriverResult::Failed { .. } => "failed",
                DriverResult::Fenced { .. } => "fenced",
            };
            metrics
                .step_seconds
                .get_or_create(&crate::metrics::Outcome {
                    outcome: outcome.into(),
                })
                .observe(started.elapsed().as_secs_f64());
            match &result {
                DriverResult::Done { .. } => {}
                DriverResult::Failed { error, retryable } => {
                    tracing::info!(%error, retryable, "step failed at the site")
                }
                DriverResult::Fenced { highest_token } => tracing::warn!(
                    highest_token,
                    "the site fenced this call: a newer leader has called it"
                ),
            }
            CallDone {
                execution,
                step,
                attempt,
                result,
            }
        };
        self.tasks
            .spawn(tracing::Instrument::instrument(task, span));
        Ok(())
    }

    /// Calls the drivers for the follow-up steps a committed entry dispatched by itself.
    fn call_followups(&mut self, dispatched: Vec<(String, u32, u32)>) -> Result<(), ApiError> {
        if dispatched.is_empty() {
            return Ok(());
        }
        if !self.still_leader() {
            // Left dispatched under our term: the next leader re-dispatches them.
            return Err(ApiError::NotLeader {
                member: self.member.id,
                leader: None,
            });
        }
        for (execution, step, attempt) in dispatched {
            self.call(execution, step, attempt)?;
        }
        Ok(())
    }

    /// The call for a dispatched step, with its sealed secrets opened; when one cannot be
    /// opened, the call and why (the step then fails without reaching the site); and the
    /// rollout the execution belongs to, if any.
    fn driver_call(
        &self,
        execution: &str,
        step: u32,
        attempt: u32,
    ) -> Result<(DriverCall, Option<String>, Option<String>), ApiError> {
        let state = self.member.state.read().expect("state lock poisoned");
        let exec = &state.workflow.executions[execution];
        let env = &state.workflow.environments[&exec.environment];
        let site = state
            .workflow
            .sites
            .get(&env.site)
            .cloned()
            .ok_or_else(|| {
                ApiError::Internal(format!(
                    "site {} of environment {} is gone",
                    env.site, env.name
                ))
            })?;
        let s = &exec.steps[step as usize];
        let (properties, unopened) = match crate::secrets::seal::open_properties(
            self.member.secrets.as_deref(),
            &s.properties,
        ) {
            Ok(opened) => (opened, None),
            Err(e) => (s.properties.value().clone(), Some(e)),
        };
        let call = DriverCall {
            site,
            environment: env.name.clone(),
            resource: s.resource.to_string(),
            resource_type: s.resource_type.to_string(),
            action: s.action,
            properties_json: properties.to_string(),
            desired_digest: s.desired_digest.to_string(),
            execution_id: execution.to_string(),
            step,
            attempt,
            fence_token: self.term,
            timeout: Duration::from_millis(exec.retry.step_timeout_ms),
        };
        Ok((call, unopened, exec.rollout.clone()))
    }
}
