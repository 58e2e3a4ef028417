//! Benchmark building blocks for `moor-bench`: the physical floor (fsync and loopback round
//! trip), a closed-loop key/value write workload with latency histograms, and a 3-member
//! etcd cluster driven with the identical workload for comparison.

pub mod etcd;
pub mod failover;
pub mod floor;
pub mod workload;
