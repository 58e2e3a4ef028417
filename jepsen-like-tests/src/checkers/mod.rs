//! Checkers: read what a run left behind and say which invariants of GUIDE.md §4 held.
//!
//! - [`journal`]: WF2 (at most one effect per step and site), WF3 (monotonic fencing per site)
//!   and WF5 (no phantom completion) over a `moor-sitesim` journal, given the steps Moor
//!   recorded as done. Run against a sitesim started with `--unsafe-no-fencing-no-dedupe`, it
//!   must report WF2 violations: that is the WF6 negative control.
//! - [`effects`]: the real effects of the `rollout-agents` workload (command runs in each
//!   agent's `effects.log`) against the agent's journal and the steps Moor counts as done.
//! - [`linearizable`]: per-key linearizability of register histories (Wing–Gong–Lowe search
//!   with a configuration cache, bounded; unknown writes may or may not have happened).
//! - [`set`]: acked-write durability of a grow-only set against its final read.

pub mod effects;
pub mod journal;
pub mod linearizable;
pub mod set;
