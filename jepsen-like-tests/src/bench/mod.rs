//! Benchmark building blocks for `moor-bench`: the physical floor (fsync and loopback round
//! trip), a closed-loop key/value workload (writes, or linearizable reads of preloaded keys)
//! with latency histograms, and a 3-member etcd cluster driven with the identical workload for
//! comparison, failover timing, a bulk rollout against the ideal time, the cost of drift
//! checks, the size and time of a backup and a restore, and issue 15's targets in one table.

pub mod backup;
pub mod drift;
pub mod etcd;
pub mod failover;
pub mod floor;
pub mod hooks;
pub mod kv;
pub mod reads;
pub mod rollout;
pub mod targets;
pub mod workload;

/// CPU seconds (user + system) a process has used, from /proc (Linux).
pub(crate) fn cpu_s(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz.max(1.0)
}
