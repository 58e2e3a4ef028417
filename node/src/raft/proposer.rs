//! Leader-side batching of writes: concurrent writes are gathered into one Raft entry
//! (`Command::Batch`), so one log append, one fsync and one replication round serve many
//! writes. Several batches may be in flight at once, and writes arriving meanwhile form the
//! next batch, so batching costs no latency when the load is light.

use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::raft::types::{MemberId, Raft};
use moor_domain::command::{Command, CommandResult};
use openraft::error::{ClientWriteError, RaftError};
use openraft::BasicNode;

/// Most commands in one entry.
pub const MAX_BATCH: usize = 256;
/// Most entries proposed and not yet committed at once.
const MAX_IN_FLIGHT: usize = 8;
/// Queued writes waiting for a batch (back-pressure beyond this).
const QUEUE: usize = 4096;

/// What a caller gets back: the entry's index and its command's result, or openraft's error
/// (shared by the whole batch), or a timeout.
pub type Proposed = Result<(u64, CommandResult), ProposeError>;

/// Why a proposal failed.
#[derive(Debug, Clone)]
pub enum ProposeError {
    Raft(Box<RaftError<MemberId, ClientWriteError<MemberId, BasicNode>>>),
    /// Not committed within the deadline: the outcome is unknown.
    Timeout,
    /// The proposer had stopped before taking the write (the member is shutting down): it
    /// was never proposed.
    Stopped,
    /// The member stopped after the write was handed to Raft: it may have been committed.
    StoppedInFlight,
}

struct Pending {
    command: Command,
    reply: oneshot::Sender<Proposed>,
}

/// Handle to the batching task.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<Pending>,
}

impl Proposer {
    /// Starts the batching task for `raft`; each entry must commit within `timeout`.
    pub fn start(raft: Raft, timeout: Duration, metrics: Arc<Metrics>) -> Proposer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(raft, rx, timeout, metrics));
        Proposer { tx }
    }

    /// Proposes `command` and waits for it to be committed and applied.
    pub async fn propose(&self, command: Command) -> Proposed {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending { command, reply })
            .await
            .map_err(|_| ProposeError::Stopped)?;
        rx.await.unwrap_or(Err(ProposeError::StoppedInFlight))
    }
}

async fn run(
    raft: Raft,
    mut rx: mpsc::Receiver<Pending>,
    timeout: Duration,
    metrics: Arc<Metrics>,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for room first: while entries are in flight, more writes queue up and the
        // next batch gets fuller.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        metrics.proposer_entries.inc();
        metrics.proposer_commands.inc_by(batch.len() as u64);
        let raft = raft.clone();
        tokio::spawn(async move {
            commit(&raft, batch, timeout).await;
            drop(permit);
        });
    }
}

async fn commit(raft: &Raft, mut batch: Vec<Pending>, timeout: Duration) {
    let command = if batch.len() == 1 {
        batch[0].command.clone()
    } else {
        Command::Batch(batch.iter().map(|p| p.command.clone()).collect())
    };
    let outcome = tokio::time::timeout(timeout, raft.client_write(command)).await;
    match outcome {
        Err(_) => reply_all(batch, Err(ProposeError::Timeout)),
        Ok(Err(e)) => reply_all(batch, Err(ProposeError::Raft(Box::new(e)))),
        Ok(Ok(resp)) => {
            let index = resp.log_id.index;
            match resp.data {
                CommandResult::Batch(results) if batch.len() > 1 => {
                    assert_eq!(
                        results.len(),
                        batch.len(),
                        "a batch yields one result per command"
                    );
                    for (p, r) in batch.drain(..).zip(results) {
                        let _ = p.reply.send(Ok((index, r)));
                    }
                }
                single => {
                    assert_eq!(
                        batch.len(),
                        1,
                        "a batch of {} got a single result",
                        batch.len()
                    );
                    let p = batch.pop().expect("one pending write");
                    let _ = p.reply.send(Ok((index, single)));
                }
            }
        }
    }
}

fn reply_all(batch: Vec<Pending>, result: Proposed) {
    for p in batch {
        let _ = p.reply.send(result.clone());
    }
}
