//! Benchmark building blocks for `moor-bench`: the physical floor (fsync and loopback round
//! trip), a closed-loop key/value workload (writes, or linearizable reads of preloaded keys)
//! with latency histograms, and a 3-member etcd cluster driven with the identical workload for
//! comparison, failover timing, a bulk rollout against the ideal time, the cost of drift
//! checks, and the size and time of a backup and a restore.

pub mod backup;
pub mod drift;
pub mod etcd;
pub mod failover;
pub mod floor;
pub mod hooks;
pub mod reads;
pub mod rollout;
pub mod workload;
