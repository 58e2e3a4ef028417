//! The seam between Raft storage and the application it replicates.
//!
//! The store persists the log and snapshots but knows nothing of what a command means: the
//! node plugs its domain state machine in through [`Application`]. Keeping the application
//! in memory and persisting only snapshots means `apply` never waits on disk; a restarted
//! member restores the last snapshot and replays the log after it.

use openraft::{LogId, RaftTypeConfig};

/// The application's in-memory state, driven by committed Raft entries.
///
/// Every member applies the same entries in the same order, so `apply` must be
/// deterministic: no clock, no I/O, no randomness. Whatever varies (time, ids) is stamped
/// into the command by the leader before it is proposed.
pub trait Application<C: RaftTypeConfig>: Send + Sync + 'static {
    /// Applies one committed command deterministically (no clock, I/O, randomness).
    fn apply(&mut self, log_id: &LogId<C::NodeId>, command: &C::D) -> C::R;

    /// The response for a blank or membership entry.
    fn empty_response(&self) -> C::R;

    /// Serialises the whole state for a snapshot.
    fn snapshot(&self) -> Result<Vec<u8>, String>;

    /// Replaces the whole state with a snapshot's content.
    fn restore(&mut self, data: &[u8]) -> Result<(), String>;
}
