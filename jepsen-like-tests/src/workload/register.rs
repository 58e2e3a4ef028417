//! The register workload: a few keys of the variables namespace, each a register of i64
//! values, driven by concurrent clients with random linearizable reads, writes and
//! compare-and-swaps. Written values are unique (one counter for all clients), which keeps
//! the linearizability search small.
//!
//! A client process has at most one operation in flight. After an unknown outcome the
//! process takes a new id (as Jepsen does): the unknown operation may still take effect at
//! any later time, so the old process is never "done" with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{CompareAndSwapRequest, GetRequest, PutRequest, ReadConsistency};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tonic::transport::Channel;

use super::{classify, join_counts, request, with_deadline, Channels, ClientSlot, Endpoints, Stop};
use crate::history::{History, OpKind, Outcome};

/// How the register workload behaves.
#[derive(Debug, Clone)]
pub struct RegisterConfig {
    pub keys: usize,
    pub clients: usize,
    /// Deadline of one operation.
    pub op_timeout: Duration,
    /// Pause between one client's operations (keeps histories checkable).
    pub think: Duration,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        RegisterConfig {
            keys: 3,
            clients: 4,
            op_timeout: Duration::from_millis(1500),
            think: Duration::from_millis(15),
        }
    }
}

/// The variables key behind register `key`.
pub fn kv_key(key: &str) -> String {
    format!("jepsen/register/{key}")
}

fn key_name(i: usize) -> String {
    format!("r{i}")
}

fn decode(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// One register operation to perform.
#[derive(Debug, Clone, Copy)]
pub struct RegOp<'a> {
    pub kind: OpKind,
    pub key: &'a str,
    /// Write(v), Cas(to).
    pub value: Option<i64>,
    /// Cas(from).
    pub expected: Option<i64>,
}

/// One read, write or CAS, recorded in `h`. Returns the outcome and the value now known for
/// the key (read result, written value), if any.
pub async fn op(
    h: &History,
    channels: &mut Channels,
    addr: &str,
    process: u64,
    o: RegOp<'_>,
    timeout: Duration,
) -> (Outcome, Option<i64>) {
    let (outcome, known) = op_inner(h, channels, addr, process, o, timeout).await;
    if outcome != Outcome::Ok {
        channels.forget(addr);
    }
    (outcome, known)
}

/// Invokes `o` in the history and performs it through `addr`.
async fn op_inner(
    h: &History,
    channels: &mut Channels,
    addr: &str,
    process: u64,
    o: RegOp<'_>,
    timeout: Duration,
) -> (Outcome, Option<i64>) {
    let RegOp {
        kind,
        key,
        value,
        expected,
    } = o;
    let id = h.invoke(process, kind, key, value, expected);
    let call = Call {
        h,
        id,
        client: MoorApiClient::new(channels.get(addr)),
        key: kv_key(key),
        timeout,
    };
    match kind {
        OpKind::Read => call.read().await,
        OpKind::Write => call.write(value.expect("a write has a value")).await,
        OpKind::Cas => {
            let (from, to) = (
                expected.expect("a cas has an expected value"),
                value.expect("a cas has a new value"),
            );
            call.cas(from, to).await
        }
        other => panic!("the register workload does not do {other:?}"),
    }
}

/// One invoked register op on its way to the member: performs the call and records its
/// completion. Each method returns the outcome and the value now known for the key.
struct Call<'h> {
    h: &'h History,
    /// The op's id in the history.
    id: u64,
    client: MoorApiClient<Channel>,
    /// The variables key.
    key: String,
    timeout: Duration,
}

impl Call<'_> {
    /// A linearizable read; a failed read is recorded as Fail (a read changes nothing).
    async fn read(mut self) -> (Outcome, Option<i64>) {
        let get = GetRequest {
            key: self.key,
            consistency: ReadConsistency::Linearizable as i32,
        };
        let r = with_deadline(self.timeout, self.client.get(request(get, self.timeout))).await;
        match r {
            Ok(resp) => {
                let v = resp.kv.and_then(|kv| decode(&kv.value));
                self.h.complete(self.id, Outcome::Ok, Some(json!(v)), None);
                (Outcome::Ok, v)
            }
            // A read changes nothing: a failed read is simply not a read.
            Err(s) => {
                let error = Some(s.message().to_string());
                self.h.complete(self.id, Outcome::Fail, None, error);
                (Outcome::Fail, None)
            }
        }
    }

    /// Writes `v`.
    async fn write(mut self, v: i64) -> (Outcome, Option<i64>) {
        let put = PutRequest {
            key: std::mem::take(&mut self.key),
            value: v.to_string().into_bytes(),
        };
        let r = with_deadline(self.timeout, self.client.put(request(put, self.timeout))).await;
        match r {
            Ok(_) => {
                self.h.complete(self.id, Outcome::Ok, None, None);
                (Outcome::Ok, Some(v))
            }
            Err(s) => self.errored(&s),
        }
    }

    /// Swaps `from` for `to`; a failed comparison is recorded as Fail (a committed no-op).
    async fn cas(mut self, from: i64, to: i64) -> (Outcome, Option<i64>) {
        let swap = CompareAndSwapRequest {
            key: std::mem::take(&mut self.key),
            expected: Some(from.to_string().into_bytes()),
            new_value: Some(to.to_string().into_bytes()),
        };
        let r = with_deadline(
            self.timeout,
            self.client.compare_and_swap(request(swap, self.timeout)),
        )
        .await;
        match r {
            Ok(resp) if resp.succeeded => {
                self.h.complete(self.id, Outcome::Ok, None, None);
                (Outcome::Ok, Some(to))
            }
            Ok(resp) => {
                // The comparison failed: committed as a no-op. The value found is known.
                let found = resp.current.and_then(|kv| decode(&kv.value));
                let error = Some(format!("compare failed, found {found:?}"));
                self.h.complete(self.id, Outcome::Fail, None, error);
                (Outcome::Fail, None)
            }
            Err(s) => self.errored(&s),
        }
    }

    /// A write or CAS the member or the transport refused: fail or unknown, per [`classify`].
    fn errored(&self, s: &tonic::Status) -> (Outcome, Option<i64>) {
        let o = classify(s);
        self.h
            .complete(self.id, o, None, Some(s.message().to_string()));
        (o, None)
    }
}

/// Runs the clients until `stop` is raised; returns the number of operations issued.
pub async fn run(
    h: History,
    endpoints: Endpoints,
    config: RegisterConfig,
    seed: u64,
    stop: Stop,
) -> u64 {
    let counter = Arc::new(AtomicI64::new(1));
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
            let mut rng = StdRng::seed_from_u64(seed ^ (0x9e37_79b9 * (client as u64 + 1)));
            let mut slot = ClientSlot::new(0, client, config.clients);
            let mut last_seen: HashMap<String, i64> = HashMap::new();
            let mut channels = Channels::new(&endpoints);
            let mut issued = 0u64;
            while !stop.is_raised() {
                let key = key_name(rng.random_range(0..config.keys));
                let Some(addr) = endpoints.pick(slot.member) else {
                    break;
                };
                let roll = rng.random_range(0..10);
                let (kind, value, expected) = if roll < 4 {
                    (OpKind::Read, None, None)
                } else if roll < 7 || !last_seen.contains_key(&key) {
                    (
                        OpKind::Write,
                        Some(counter.fetch_add(1, Ordering::Relaxed)),
                        None,
                    )
                } else {
                    (
                        OpKind::Cas,
                        Some(counter.fetch_add(1, Ordering::Relaxed)),
                        last_seen.get(&key).copied(),
                    )
                };
                let call = RegOp {
                    kind,
                    key: &key,
                    value,
                    expected,
                };
                let (outcome, known) = op(
                    &h,
                    &mut channels,
                    &addr,
                    slot.process,
                    call,
                    config.op_timeout,
                )
                .await;
                issued += 1;
                if let Some(v) = known {
                    last_seen.insert(key.clone(), v);
                }
                slot.after(outcome);
                // Pacing, not synchronisation: keeps the op rate (and the checker's work)
                // bounded.
                tokio::time::sleep(config.think).await;
            }
            issued
        }));
    }
    join_counts(tasks).await
}

/// After the faults healed: reads every key until one read succeeds (or `timeout` passes),
/// each with a fresh process id. Returns the number of keys read.
pub async fn final_reads(
    h: &History,
    endpoints: &Endpoints,
    config: &RegisterConfig,
    first_process: u64,
    timeout: Duration,
) -> usize {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut read = 0;
    let mut channels = Channels::new(endpoints);
    for k in 0..config.keys {
        let key = key_name(k);
        let mut attempt = 0u64;
        while tokio::time::Instant::now() < deadline {
            let Some(addr) = endpoints.pick(attempt) else {
                break;
            };
            let process = first_process + k as u64 * 1000 + attempt;
            let call = RegOp {
                kind: OpKind::Read,
                key: &key,
                value: None,
                expected: None,
            };
            let (o, _) = op(h, &mut channels, &addr, process, call, config.op_timeout).await;
            if o == Outcome::Ok {
                read += 1;
                break;
            }
            attempt += 1;
            // Polls until the healed cluster answers.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    read
}
