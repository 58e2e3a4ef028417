//! A small, seeded compare-and-swap register workload with one fault, over any [`Backend`]:
//! the smoke run that shows a backend works for fault injection (the full nemesis suite is
//! issue 5's). One client writes sequence numbers into a few keys with CAS through random
//! members; the leader is isolated (or killed) a third of the way in and healed (restarted)
//! at two thirds. Every operation is ok, failed (certainly not applied) or unknown (may have
//! been applied), and an unknown write is never assumed absent.
//!
//! Checked afterwards: each key's final value (a linearizable read) is a value this client
//! wrote, no older than the last acknowledged write to that key (no lost acked write), and a
//! CAS that found an unexpected value found one of this client's unknown writes (no phantom
//! value); then every member, the faulted one included, catches up and holds the same values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use moor_proto::api::{
    ClusterStatusRequest, ClusterStatusResponse, CompareAndSwapRequest, GetRequest, ReadConsistency,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::Code;

use crate::backend::Backend;
use crate::harness::client;

/// Which fault the smoke run injects into the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Cut it off the network, then reconnect it.
    Isolate,
    /// SIGKILL it, then start it again.
    Kill,
}

/// One smoke run's parameters.
#[derive(Debug, Clone)]
pub struct SmokeConfig {
    pub seed: u64,
    pub ops: usize,
    pub keys: usize,
    pub fault: Fault,
}

/// What happened, for the report and the assertions.
#[derive(Debug, Default)]
pub struct SmokeReport {
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
    pub victim: u64,
    /// Problems found; empty = the run is clean.
    pub violations: Vec<String>,
    /// Key → final value.
    pub finals: BTreeMap<String, Option<u64>>,
}

impl fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ops ok {}, failed {}, unknown {}; fault on member {}; finals {:?}",
            self.ok, self.failed, self.unknown, self.victim, self.finals
        )?;
        for v in &self.violations {
            write!(f, "\n  VIOLATION: {v}")?;
        }
        Ok(())
    }
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

async fn status(addr: &str) -> Option<ClusterStatusResponse> {
    let mut req = tonic::Request::new(ClusterStatusRequest {});
    req.set_timeout(Duration::from_secs(2));
    client(addr)
        .cluster_status(req)
        .await
        .ok()
        .map(|r| r.into_inner())
}

/// Waits until the members in `ids` agree on a leader that says it leads.
pub async fn wait_leader<B: Backend>(b: &B, ids: &[u64], timeout: Duration) -> Result<u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut seen = Vec::new();
        for id in ids {
            if let Ok(addr) = b.endpoint(*id) {
                if let Some(s) = status(&addr).await {
                    seen.push((*id, s.leader_id, s.term, s.state));
                }
            }
        }
        if seen.len() == ids.len() {
            if let Some(l) = seen[0].1 {
                if seen.iter().all(|s| s.1 == Some(l) && s.2 == seen[0].2)
                    && seen.iter().any(|s| s.0 == l && s.3 == "Leader")
                {
                    return Ok(l);
                }
            }
        }
        if Instant::now() > deadline {
            bail!(
                "{}: no agreed leader among {ids:?} within {timeout:?}: {seen:?}",
                b.name()
            );
        }
        // Polls what the members report; elections take hundreds of ms.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn decode(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Per key: what the client knows.
#[derive(Default)]
struct KeyModel {
    /// The current value when known exactly (`Some(None)`: absent).
    known: Option<Option<u64>>,
    last_acked: Option<u64>,
    written: BTreeSet<u64>,
    unknown: BTreeSet<u64>,
}

/// Runs the workload and the fault on `b`; returns the report (check `violations`).
pub async fn register_smoke<B: Backend>(b: &mut B, cfg: &SmokeConfig) -> Result<SmokeReport> {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let ids = b.ids();
    let victim = wait_leader(b, &ids, Duration::from_secs(30)).await?;
    let mut report = SmokeReport {
        victim,
        ..SmokeReport::default()
    };
    let keys: Vec<String> = (0..cfg.keys)
        .map(|i| format!("smoke/{}/{i}", cfg.seed))
        .collect();
    let mut model: BTreeMap<String, KeyModel> = keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                KeyModel {
                    known: Some(None),
                    ..KeyModel::default()
                },
            )
        })
        .collect();
    let mut faulted = false;
    for op in 0..cfg.ops {
        if op == cfg.ops / 3 {
            match cfg.fault {
                Fault::Isolate => b.isolate(victim)?,
                Fault::Kill => b.kill(victim)?,
            }
            faulted = true;
        }
        if op == 2 * cfg.ops / 3 {
            match cfg.fault {
                Fault::Isolate => b.heal(victim)?,
                Fault::Kill => b.restart(victim)?,
            }
            faulted = false;
        }
        let live: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| !(faulted && *id == victim))
            .collect();
        let via = live[rng.random_range(0..live.len())];
        let addr = b.endpoint(via)?;
        let key = keys[rng.random_range(0..keys.len())].clone();
        let m = model.get_mut(&key).expect("key in model");
        if m.known.is_none() {
            let mut req = tonic::Request::new(GetRequest {
                key: key.clone(),
                consistency: ReadConsistency::Linearizable as i32,
            });
            req.set_timeout(REQUEST_TIMEOUT);
            match client(&addr).get(req).await {
                Ok(r) => m.known = Some(r.into_inner().kv.and_then(|kv| decode(&kv.value))),
                Err(_) => {
                    report.failed += 1;
                    continue;
                }
            }
        }
        let expected = m.known.expect("known after read");
        let new = op as u64 + 1;
        m.written.insert(new);
        let mut req = tonic::Request::new(CompareAndSwapRequest {
            key: key.clone(),
            expected: expected.map(|v| v.to_string().into_bytes()),
            new_value: Some(new.to_string().into_bytes()),
        });
        req.set_timeout(REQUEST_TIMEOUT);
        match client(&addr).compare_and_swap(req).await {
            Ok(r) => {
                let r = r.into_inner();
                if r.succeeded {
                    report.ok += 1;
                    m.known = Some(Some(new));
                    m.last_acked = Some(new);
                } else {
                    report.failed += 1;
                    let found = r.current.and_then(|kv| decode(&kv.value));
                    if !found.is_some_and(|f| m.unknown.contains(&f)) {
                        report.violations.push(format!(
                            "{key}: CAS expected {expected:?} but found {found:?}, which is no \
                             unknown write of this client (unknown: {:?})",
                            m.unknown
                        ));
                    }
                    m.known = Some(found);
                }
            }
            // A member answered UNAVAILABLE: it guarantees nothing was applied. (Transport
            // failures carry a source error and stay unknown below.)
            Err(s) if s.code() == Code::Unavailable && std::error::Error::source(&s).is_none() => {
                report.failed += 1;
                m.written.remove(&new);
            }
            Err(_) => {
                report.unknown += 1;
                m.unknown.insert(new);
                m.known = None;
            }
        }
    }
    // Everything healed: one leader, every member caught up with the same values.
    let leader = wait_leader(b, &ids, Duration::from_secs(60)).await?;
    let leader_addr = b.endpoint(leader)?;
    for (key, m) in &model {
        let mut req = tonic::Request::new(GetRequest {
            key: key.clone(),
            consistency: ReadConsistency::Linearizable as i32,
        });
        req.set_timeout(REQUEST_TIMEOUT);
        let fin = client(&leader_addr)
            .get(req)
            .await
            .with_context(|| format!("final read of {key}"))?
            .into_inner()
            .kv
            .and_then(|kv| decode(&kv.value));
        if let Some(f) = fin {
            if !m.written.contains(&f) {
                report
                    .violations
                    .push(format!("{key}: final value {f} was never written"));
            }
        }
        if m.last_acked.is_some() && fin < m.last_acked {
            report.violations.push(format!(
                "{key}: final value {fin:?} is older than the acknowledged write {:?}: lost write",
                m.last_acked
            ));
        }
        report.finals.insert(key.clone(), fin);
    }
    let target = status(&leader_addr)
        .await
        .context("leader status")?
        .committed_index;
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &ids {
        let addr = b.endpoint(*id)?;
        loop {
            let applied = status(&addr).await.map(|s| s.applied_index).unwrap_or(0);
            if applied >= target {
                break;
            }
            if Instant::now() > deadline {
                report.violations.push(format!(
                    "member {id} did not catch up: applied {applied} < committed {target}"
                ));
                break;
            }
            // Polls replication progress; bounded by the deadline.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (key, fin) in &report.finals.clone() {
            let mut req = tonic::Request::new(GetRequest {
                key: key.clone(),
                consistency: ReadConsistency::Stale as i32,
            });
            req.set_timeout(REQUEST_TIMEOUT);
            let local = client(&addr)
                .get(req)
                .await
                .with_context(|| format!("stale read of {key} on member {id}"))?
                .into_inner()
                .kv
                .and_then(|kv| decode(&kv.value));
            if local != *fin {
                report.violations.push(format!(
                    "member {id} holds {key} = {local:?}, the cluster {fin:?}"
                ));
            }
        }
    }
    Ok(report)
}
