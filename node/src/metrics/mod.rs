//! A member's metrics, served as `GET /metrics` on the client listener in the OpenMetrics
//! text format (prometheus-client), which Prometheus scrapes as is.
//!
//! Two kinds of figures:
//! - **events**, counted where they happen: proposer entries and commands, executor batches
//!   and step latencies, drift checks, gRPC and HTTP requests, webhook deliveries, and the
//!   Raft store's append and fsync latencies (kept by `moor-raft-store` in atomics, exported
//!   here);
//! - **levels**, read at scrape time: Raft term, leadership, log and applied indexes, apply
//!   lag, snapshot index; rollouts and their targets by state, environments by status, sites
//!   unreachable. A scrape reads the replicated state under its read lock once:
//!   O(rollouts + environments), every scrape interval, never on the write path.
//!
//! Label values are bounded: gRPC methods are the fixed RPC list (unknown paths count as
//! `unknown`), HTTP routes are route templates, receivers are named only for deliveries
//! that authenticated (a stranger cannot mint new label values by posting to made-up names).
//!
//! `api/grpc_metrics.rs` counts gRPC calls (the code from trailers or a trailers-only
//! answer); `api/http/metrics.rs` serves the endpoint.

use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;

use moor_domain::names::WireName;
use moor_domain::state::MoorState;
use moor_raft_store::latency::LatencySnapshot;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodCode {
    pub method: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Method {
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteCode {
    pub route: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverVerdict {
    pub receiver: String,
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct State {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Status {
    pub status: String,
}

/// Every metric of one member.
pub struct Metrics {
    registry: Registry,
    // Raft, read at scrape time.
    raft_term: Gauge,
    raft_is_leader: Gauge,
    raft_leader: Gauge,
    raft_last_log_index: Gauge,
    raft_applied_index: Gauge,
    raft_apply_lag: Gauge,
    raft_snapshot_index: Gauge,
    raft_voters: Gauge,
    // Proposer.
    pub proposer_entries: Counter,
    pub proposer_commands: Counter,
    // Executor.
    pub executor_in_flight: Gauge,
    pub executor_dispatch_batch: Histogram,
    pub executor_result_batch: Histogram,
    pub step_seconds: Family<Outcome, Histogram>,
    // Rollouts and environments, read at scrape time.
    rollouts: Family<State, Gauge>,
    rollout_targets: Family<State, Gauge>,
    environments: Family<Status, Gauge>,
    sites_unreachable: Gauge,
    // Drift.
    pub drift_checks: Family<Outcome, Counter>,
    // API.
    pub grpc_requests: Family<MethodCode, Counter>,
    pub grpc_seconds: Family<Method, Histogram>,
    pub http_requests: Family<RouteCode, Counter>,
    pub webhook_deliveries: Family<ReceiverVerdict, Counter>,
    pub webhook_refused: Family<Status, Counter>,
    /// Scrapes served (a sanity check that the endpoint is reached).
    scrapes: Counter<u64, AtomicU64>,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    // 0.5 ms … ~16 s.
    exponential_buckets(0.000_5, 2.0, 16)
}

fn size_buckets() -> impl Iterator<Item = f64> {
    // 1 … 4096.
    exponential_buckets(1.0, 2.0, 13)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("moor");
        let m = Metrics {
            registry: Registry::default(),
            raft_term: Gauge::default(),
            raft_is_leader: Gauge::default(),
            raft_leader: Gauge::default(),
            raft_last_log_index: Gauge::default(),
            raft_applied_index: Gauge::default(),
            raft_apply_lag: Gauge::default(),
            raft_snapshot_index: Gauge::default(),
            raft_voters: Gauge::default(),
            proposer_entries: Counter::default(),
            proposer_commands: Counter::default(),
            executor_in_flight: Gauge::default(),
            executor_dispatch_batch: Histogram::new(size_buckets()),
            executor_result_batch: Histogram::new(size_buckets()),
            step_seconds: Family::new_with_constructor(|| Histogram::new(latency_buckets())),
            rollouts: Family::default(),
            rollout_targets: Family::default(),
            environments: Family::default(),
            sites_unreachable: Gauge::default(),
            drift_checks: Family::default(),
            grpc_requests: Family::default(),
            grpc_seconds: Family::new_with_constructor(|| Histogram::new(latency_buckets())),
            http_requests: Family::default(),
            webhook_deliveries: Family::default(),
            webhook_refused: Family::default(),
            scrapes: Counter::default(),
        };
        let r = &mut registry;
        r.register("raft_term", "Current Raft term", m.raft_term.clone());
        r.register(
            "raft_is_leader",
            "1 while this member leads",
            m.raft_is_leader.clone(),
        );
        r.register(
            "raft_leader",
            "Id of the leader this member knows (0: none)",
            m.raft_leader.clone(),
        );
        r.register(
            "raft_last_log_index",
            "Index of the last entry in this member's log",
            m.raft_last_log_index.clone(),
        );
        r.register(
            "raft_applied_index",
            "Index of the last entry applied to the state",
            m.raft_applied_index.clone(),
        );
        r.register(
            "raft_apply_lag",
            "Entries in the log not yet applied",
            m.raft_apply_lag.clone(),
        );
        r.register(
            "raft_snapshot_index",
            "Last index covered by this member's snapshot",
            m.raft_snapshot_index.clone(),
        );
        r.register(
            "raft_voters",
            "Voting members in the configuration",
            m.raft_voters.clone(),
        );
        r.register(
            "proposer_entries",
            "Raft entries proposed by this member's batching proposer",
            m.proposer_entries.clone(),
        );
        r.register(
            "proposer_commands",
            "Commands carried by those entries (commands per entry = the ratio)",
            m.proposer_commands.clone(),
        );
        r.register(
            "executor_in_flight",
            "Driver calls the executor has in flight",
            m.executor_in_flight.clone(),
        );
        r.register(
            "executor_dispatch_batch_size",
            "Steps per dispatch entry",
            m.executor_dispatch_batch.clone(),
        );
        r.register(
            "executor_result_batch_size",
            "Results per result entry",
            m.executor_result_batch.clone(),
        );
        r.register_with_unit(
            "step_duration",
            "Driver call latency by outcome (done, failed, fenced)",
            prometheus_client::registry::Unit::Seconds,
            m.step_seconds.clone(),
        );
        r.register("rollouts", "Rollouts by state", m.rollouts.clone());
        r.register(
            "rollout_targets",
            "Targets of rollouts that have not ended, by target state",
            m.rollout_targets.clone(),
        );
        r.register(
            "environments",
            "Environments by status",
            m.environments.clone(),
        );
        r.register(
            "sites_unreachable",
            "Sites whose drift checks or reachability probes get no answer (recorded in the replicated state)",
            m.sites_unreachable.clone(),
        );
        r.register(
            "drift_checks",
            "Drift checks by outcome (unchanged, changed, no_answer), and reachability probes of sites no check covers (probe_answered, probe_no_answer)",
            m.drift_checks.clone(),
        );
        r.register(
            "grpc_requests",
            "gRPC requests served by method and status code",
            m.grpc_requests.clone(),
        );
        r.register_with_unit(
            "grpc_request_duration",
            "gRPC request latency by method",
            prometheus_client::registry::Unit::Seconds,
            m.grpc_seconds.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests (webhooks, metrics) by route and status",
            m.http_requests.clone(),
        );
        r.register(
            "webhook_deliveries",
            "Authenticated webhook deliveries by receiver and verdict (duplicate: a redelivery)",
            m.webhook_deliveries.clone(),
        );
        r.register(
            "webhook_refused",
            "Webhook deliveries refused, by HTTP status",
            m.webhook_refused.clone(),
        );
        r.register(
            "metrics_scrapes",
            "Times /metrics was served",
            m.scrapes.clone(),
        );
        // Series that exist from the start, so rate() over them works before the first event.
        for outcome in [
            "unchanged",
            "changed",
            "no_answer",
            "probe_answered",
            "probe_no_answer",
        ] {
            let _ = m.drift_checks.get_or_create(&Outcome {
                outcome: outcome.into(),
            });
        }
        for status in [400u16, 401, 404, 408, 413, 415, 429, 503] {
            let _ = m.webhook_refused.get_or_create(&Status {
                status: status.to_string(),
            });
        }
        Metrics { registry, ..m }
    }

    /// The text a scrape answers: levels read now from `raft` and `state`, then everything.
    pub fn render(&self, raft: &RaftView, state: &MoorState, store: &StoreView) -> String {
        self.scrapes.inc();
        self.raft_term.set(raft.term as i64);
        self.raft_is_leader
            .set(i64::from(raft.leader == Some(raft.id)));
        self.raft_leader.set(raft.leader.unwrap_or(0) as i64);
        self.raft_last_log_index.set(raft.last_log_index as i64);
        self.raft_applied_index.set(raft.applied as i64);
        self.raft_apply_lag
            .set(raft.last_log_index.saturating_sub(raft.applied) as i64);
        self.raft_snapshot_index.set(raft.snapshot as i64);
        self.raft_voters.set(raft.voters as i64);
        self.levels(state);
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            return "# encoding failed\n".into();
        }
        // The store's latencies are kept by moor-raft-store; appended in the same format.
        let eof = out.rfind("# EOF").unwrap_or(out.len());
        out.truncate(eof);
        store_histogram(
            &mut out,
            "moor_raft_append_duration_seconds",
            "Writing one appended batch to RocksDB, before its sync",
            &store.append,
        );
        store_histogram(
            &mut out,
            "moor_raft_fsync_duration_seconds",
            "One WAL sync (group commit, vote, truncate, purge, snapshot)",
            &store.fsync,
        );
        let _ = writeln!(
            out,
            "# HELP moor_raft_fsyncs WAL syncs since the store opened."
        );
        let _ = writeln!(out, "# TYPE moor_raft_fsyncs counter");
        let _ = writeln!(out, "moor_raft_fsyncs_total {}", store.fsyncs);
        out.push_str("# EOF\n");
        out
    }

    /// Rollouts, their targets and environments by state, from the replicated state.
    fn levels(&self, state: &MoorState) {
        use moor_domain::names::{EnvStatus, RolloutState, TargetState};
        for s in RolloutState::ALL {
            self.rollouts
                .get_or_create(&State {
                    state: s.as_str().into(),
                })
                .set(0);
        }
        for s in TargetState::ALL {
            self.rollout_targets
                .get_or_create(&State {
                    state: s.as_str().into(),
                })
                .set(0);
        }
        for s in EnvStatus::ALL {
            self.environments
                .get_or_create(&Status {
                    status: s.as_str().into(),
                })
                .set(0);
        }
        let mut targets = [0i64; 5];
        for r in state.workflow.rollouts.rollouts.values() {
            self.rollouts
                .get_or_create(&State {
                    state: r.state.as_str().into(),
                })
                .inc();
            if r.state.is_ended() {
                continue;
            }
            let running = i64::from(r.running);
            let done = i64::from(r.succeeded) + i64::from(r.failed) + i64::from(r.skipped);
            targets[0] += (r.targets.len() as i64 - done - running).max(0);
            targets[1] += running;
            targets[2] += i64::from(r.succeeded);
            targets[3] += i64::from(r.failed);
            targets[4] += i64::from(r.skipped);
        }
        for (state, n) in [
            TargetState::Queued,
            TargetState::Running,
            TargetState::Succeeded,
            TargetState::Failed,
            TargetState::Skipped,
        ]
        .iter()
        .zip(targets)
        {
            self.rollout_targets
                .get_or_create(&State {
                    state: state.as_str().into(),
                })
                .set(n);
        }
        for e in state.workflow.environments.values() {
            self.environments
                .get_or_create(&Status {
                    status: e.status.as_str().into(),
                })
                .inc();
        }
        self.sites_unreachable
            .set(state.workflow.unreachable.len() as i64);
    }

    /// Counts one HTTP request.
    pub fn http(&self, route: &str, code: u16) {
        self.http_requests
            .get_or_create(&RouteCode {
                route: route.into(),
                code: code.to_string(),
            })
            .inc();
    }
}

/// What the scrape reads of Raft's own metrics.
pub struct RaftView {
    pub id: u64,
    pub term: u64,
    pub leader: Option<u64>,
    pub last_log_index: u64,
    pub applied: u64,
    pub snapshot: u64,
    pub voters: usize,
}

/// The Raft store's figures at scrape time.
pub struct StoreView {
    pub append: LatencySnapshot,
    pub fsync: LatencySnapshot,
    pub fsyncs: u64,
}

/// A histogram of the store's in OpenMetrics text.
fn store_histogram(out: &mut String, name: &str, help: &str, h: &LatencySnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}.");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let _ = writeln!(out, "# UNIT {name} seconds");
    for (bound, count) in &h.cumulative {
        let le = if bound.is_infinite() {
            "+Inf".to_string()
        } else {
            format!("{bound}")
        };
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_sum {}", h.sum_s);
    let _ = writeln!(out, "{name}_count {}", h.count);
}
