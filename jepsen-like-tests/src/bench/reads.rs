//! The read side of `moor-bench kv`: a fixed set of keys put once before the reads are timed,
//! and one linearizable read of one of them per request — Moor's `Get` (consistency
//! LINEARIZABLE) or etcd's `Range` (not `serializable`). A key that is not found counts as an
//! error: every key was acknowledged before the reads began.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use futures::StreamExt;
use moor_proto::api::moor_api_client::MoorApiClient;
use moor_proto::api::{GetRequest, ReadConsistency};
use tonic::transport::Channel;

use super::etcd::EtcdClient;
use super::workload::RequestFn;

/// How many keys the reads spread over.
pub const READ_KEYS: usize = 1000;

/// Puts of the read keys in flight at once while preloading.
const PRELOAD_CONCURRENCY: usize = 64;

/// The `i`-th key the reads use (disjoint from the write benchmark's `bench/…` keys).
pub fn key(i: usize) -> String {
    format!("bench-read/{i}")
}

/// The key index client `c` reads at its `seq`-th request: the clients start at different
/// keys and each walks the whole set.
pub fn pick(c: usize, seq: u64) -> usize {
    ((c as u64 * 7919 + seq) % READ_KEYS as u64) as usize
}

/// Puts every read key before the reads are timed: `put(i, 0)` must put key `i`. The first
/// failed put aborts the benchmark.
pub async fn preload(put: RequestFn) -> Result<()> {
    let mut puts = futures::stream::iter(0..READ_KEYS)
        .map(|i| put(i, 0))
        .buffer_unordered(PRELOAD_CONCURRENCY);
    while let Some(done) = puts.next().await {
        done.map_err(|e| anyhow!("putting the keys to read: {e}"))?;
    }
    Ok(())
}

/// One linearizable Moor Get, client `c` on connection `c` mod the connections.
pub fn moor_get(chans: Vec<Channel>) -> RequestFn {
    Arc::new(move |c, seq| {
        let mut client = MoorApiClient::new(chans[c % chans.len()].clone());
        let req = GetRequest {
            key: key(pick(c, seq)),
            consistency: ReadConsistency::Linearizable as i32,
        };
        Box::pin(async move {
            let key = req.key.clone();
            let resp = client.get(req).await.map_err(|s| s.to_string())?;
            found(&key, resp.into_inner().kv.is_some())
        })
    })
}

/// One linearizable etcd Range of a single key, client `c` on connection `c` mod the
/// connections.
pub fn etcd_get(chans: Vec<Channel>) -> RequestFn {
    Arc::new(move |c, seq| {
        let client = EtcdClient::from_channel(chans[c % chans.len()].clone());
        let key = key(pick(c, seq));
        Box::pin(async move {
            let value = client.get(key.clone().into_bytes()).await?;
            found(&key, value.is_some())
        })
    })
}

/// A read that answered without the key is an error: every key was put before the reads.
fn found(key: &str, present: bool) -> Result<(), String> {
    if present {
        Ok(())
    } else {
        Err(format!("{key}: not found after an acknowledged put"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_walks_every_key() {
        for c in [0, 1, 511] {
            let mut seen = vec![false; READ_KEYS];
            for seq in 0..READ_KEYS as u64 {
                seen[pick(c, seq)] = true;
            }
            assert!(seen.iter().all(|&s| s), "client {c} misses keys");
        }
    }

    #[test]
    fn clients_start_at_different_keys() {
        assert_ne!(pick(0, 0), pick(1, 0));
        assert_ne!(pick(1, 0), pick(2, 0));
    }
}
