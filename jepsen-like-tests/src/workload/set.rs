//! The set workload: clients add unique integers (one variables key each, under one prefix)
//! while faults happen; after the faults heal, one linearizable read of the whole prefix.
//! Every acknowledged add must be in it ([`crate::checkers::set`]); unknown adds may or may
//! not be.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moor_proto::api::{ListRequest, PutRequest, ReadConsistency};
use serde_json::json;

use moor_proto::api::moor_api_client::MoorApiClient;

use super::{classify, join_counts, request, with_deadline, Channels, ClientSlot, Endpoints, Stop};
use crate::history::{History, OpKind, Outcome};

/// The history key of the set (and of its final read).
pub const SET_KEY: &str = "set";
const PREFIX: &str = "jepsen/set/";

#[derive(Debug, Clone)]
pub struct SetConfig {
    pub clients: usize,
    pub op_timeout: Duration,
    pub think: Duration,
}

impl Default for SetConfig {
    fn default() -> Self {
        SetConfig {
            clients: 3,
            op_timeout: Duration::from_millis(1500),
            think: Duration::from_millis(15),
        }
    }
}

/// Adds unique values until `stop` is raised; returns the number of adds issued.
pub async fn run(
    h: History,
    endpoints: Endpoints,
    config: SetConfig,
    first_process: u64,
    stop: Stop,
) -> u64 {
    let counter = Arc::new(AtomicI64::new(0));
    let mut tasks = Vec::new();
    for client in 0..config.clients {
        let (h, endpoints, config, stop, counter) = (
            h.clone(),
            endpoints.clone(),
            config.clone(),
            stop.clone(),
            counter.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut slot = ClientSlot::new(first_process, client, config.clients);
            let mut issued = 0;
            let mut channels = Channels::new(&endpoints);
            while !stop.is_raised() {
                let Some(addr) = endpoints.pick(slot.member) else {
                    break;
                };
                let v = counter.fetch_add(1, Ordering::Relaxed);
                let id = h.invoke(slot.process, OpKind::Add, SET_KEY, Some(v), None);
                let r = with_deadline(
                    config.op_timeout,
                    MoorApiClient::new(channels.get(&addr)).put(request(
                        PutRequest {
                            key: format!("{PREFIX}{v:012}"),
                            value: v.to_string().into_bytes(),
                        },
                        config.op_timeout,
                    )),
                )
                .await;
                issued += 1;
                let outcome = match r {
                    Ok(_) => {
                        h.complete(id, Outcome::Ok, None, None);
                        Outcome::Ok
                    }
                    Err(s) => {
                        let o = classify(&s);
                        h.complete(id, o, None, Some(s.message().to_string()));
                        channels.forget(&addr);
                        o
                    }
                };
                slot.after(outcome);
                // Pacing, not synchronisation.
                tokio::time::sleep(config.think).await;
            }
            issued
        }));
    }
    join_counts(tasks).await
}

/// Reads the whole set (linearizable, paged) once it answers, recorded as one `ReadAll`.
/// Returns whether a read succeeded within `timeout`.
pub async fn final_read(
    h: &History,
    endpoints: &Endpoints,
    process: u64,
    op_timeout: Duration,
    timeout: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut attempt = 0u64;
    while tokio::time::Instant::now() < deadline {
        let Some(addr) = endpoints.pick(attempt) else {
            return false;
        };
        let id = h.invoke(process + attempt, OpKind::ReadAll, SET_KEY, None, None);
        match read_all(endpoints, &addr, op_timeout).await {
            Ok(values) => {
                h.complete(id, Outcome::Ok, Some(json!(values)), None);
                return true;
            }
            Err(e) => h.complete(id, Outcome::Fail, None, Some(e)),
        }
        attempt += 1;
        // Polls until the healed cluster answers.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Every value in the set, through one member. Each page is a linearizable read; a write
/// acknowledged before the first page began is in its page or a later one.
async fn read_all(
    endpoints: &Endpoints,
    addr: &str,
    op_timeout: Duration,
) -> Result<Vec<i64>, String> {
    let mut c = endpoints.kv_client(addr);
    let mut values = Vec::new();
    let mut start_after = String::new();
    loop {
        let page = with_deadline(
            op_timeout,
            c.list(request(
                ListRequest {
                    prefix: PREFIX.into(),
                    consistency: ReadConsistency::Linearizable as i32,
                    limit: 5000,
                    start_after: start_after.clone(),
                },
                op_timeout,
            )),
        )
        .await
        .map_err(|s| s.message().to_string())?;
        for kv in &page.kvs {
            let v = std::str::from_utf8(&kv.value)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("set element {} holds a non-integer value", kv.key))?;
            values.push(v);
        }
        match (page.more, page.kvs.last()) {
            (true, Some(last)) => start_after = last.key.clone(),
            _ => return Ok(values),
        }
    }
}
