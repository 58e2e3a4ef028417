//! `GET /metrics`: the member's metrics in the OpenMetrics text format (see `crate::metrics`).
//! Raft's levels are read from openraft's metrics, the store's latencies from its stats,
//! and rollouts and environments from the replicated state under its read lock.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::HookHttp;
use crate::metrics::{RaftView, StoreView};

pub async fn metrics(State(h): State<Arc<HookHttp>>) -> Response {
    let m = &h.member;
    let raft = {
        let r = m.raft.metrics().borrow().clone();
        RaftView {
            id: m.id,
            term: r.current_term,
            leader: r.current_leader,
            last_log_index: r.last_log_index.unwrap_or(0),
            applied: r.last_applied.map(|l| l.index).unwrap_or(0),
            snapshot: r.snapshot.map(|l| l.index).unwrap_or(0),
            voters: r.membership_config.membership().voter_ids().count(),
        }
    };
    let store = StoreView {
        append: m.stats.append_latency.snapshot(),
        fsync: m.stats.fsync_latency.snapshot(),
        fsyncs: m.stats.snapshot().fsyncs,
    };
    let text = {
        let state = m.state.read().expect("state lock poisoned");
        m.metrics.render(&raft, &state, &store)
    };
    m.metrics.http("/metrics", 200);
    (
        StatusCode::OK,
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
