//! A closed-loop request workload: `clients` concurrent clients, each sending its next request
//! (a write or a read) as soon as the previous one is answered, for a fixed duration, over a
//! fixed number of HTTP/2 connections. The same code drives Moor and etcd, so the comparison
//! differs only in the server.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;

/// One request; returns Err on a failed request (counted, not retried).
pub type RequestFn = Arc<
    dyn Fn(usize, u64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync,
>;

/// What one workload run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub clients: usize,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Latency of the requests answered without error, microseconds.
    pub latency: Histogram<u64>,
}

impl RunResult {
    /// Requests answered without error per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    pub fn p50_ms(&self) -> f64 {
        self.latency.value_at_quantile(0.5) as f64 / 1000.0
    }
    pub fn p99_ms(&self) -> f64 {
        self.latency.value_at_quantile(0.99) as f64 / 1000.0
    }
}

/// Runs `clients` closed-loop clients for `duration`; `request(client, seq)` issues one request.
pub async fn run(clients: usize, duration: Duration, request: RequestFn) -> Result<RunResult> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match request(c, seq).await {
                    Ok(()) => {
                        ok += 1;
                        hist.record(t.elapsed().as_micros().max(1) as u64)
                            .expect("latency fits the histogram");
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                seq += 1;
            }
            (hist, ok, errors, first_error)
        }));
    }
    let mut latency = Histogram::<u64>::new(3)?;
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    for t in tasks {
        let (h, o, e, f) = t.await?;
        latency.add(&h)?;
        ok += o;
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    Ok(RunResult {
        clients,
        ok,
        errors,
        first_error,
        elapsed: start.elapsed(),
        latency,
    })
}

/// A `size`-byte value, distinct per client and sequence number.
pub fn value(client: usize, seq: u64, size: usize) -> Vec<u8> {
    let mut v = format!("{client}:{seq}:").into_bytes();
    v.resize(size, b'x');
    v
}
