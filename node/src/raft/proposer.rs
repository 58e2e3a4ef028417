//! Leader-side batching of writes: concurrent writes are gathered into one Raft entry
//! (`Command::Batch`), so one log append, one fsync and one replication round serve many
//! writes. Several batches may be in flight at once, and writes arriving meanwhile form the
//! next batch, so batching costs no latency when the load is light. A batch also stops at
//! `raft.max_append_bytes` of encoded commands, so an entry replicates within one
//! AppendEntries call's deadline (a single larger write still goes, alone).

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
    /// The command's encoded length.
    bytes: usize,
    reply: oneshot::Sender<Proposed>,
}

/// Handle to the batching task.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<Pending>,
}

impl Proposer {
    /// Starts the batching task for `raft`; each entry must commit within `timeout` and
    /// holds at most `max_bytes` of encoded commands unless one command alone is larger.
    pub fn start(
        raft: Raft,
        timeout: Duration,
        max_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Proposer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(raft, rx, timeout, max_bytes, metrics));
        Proposer { tx }
    }

    /// Proposes `command` and waits for it to be committed and applied.
    pub async fn propose(&self, command: Command) -> Proposed {
        let (reply, rx) = oneshot::channel();
        // A command that cannot be encoded fails when its entry is written; until then it
        // counts as too large to share an entry.
        let bytes = moor_domain::codec::encoded_len("command", &command).unwrap_or(usize::MAX);
        self.tx
            .send(Pending {
                command,
                bytes,
                reply,
            })
            .await
            .map_err(|_| ProposeError::Stopped)?;
        rx.await.unwrap_or(Err(ProposeError::StoppedInFlight))
    }
}

async fn run(
    raft: Raft,
    mut rx: mpsc::Receiver<Pending>,
    timeout: Duration,
    max_bytes: usize,
    metrics: Arc<Metrics>,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // A write taken from the queue that did not fit the previous batch: it starts the next.
    let mut carry: Option<Pending> = None;
    loop {
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        // Wait for room first: while entries are in flight, more writes queue up and the
        // next batch gets fuller.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let (batch, rest) = gather(first, &mut rx, max_bytes);
        carry = rest;
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

/// `first` and the writes queued behind it, up to [`MAX_BATCH`] of them and `max_bytes` of
/// encoded commands (`first` goes whatever its size); the write that would overflow the
/// batch is returned to start the next one.
fn gather(
    first: Pending,
    rx: &mut mpsc::Receiver<Pending>,
    max_bytes: usize,
) -> (Vec<Pending>, Option<Pending>) {
    let mut bytes = first.bytes;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(p) if bytes.saturating_add(p.bytes) > max_bytes => return (batch, Some(p)),
            Ok(p) => {
                bytes += p.bytes;
                batch.push(p);
            }
            Err(_) => break,
        }
    }
    (batch, None)
}

fn reply_all(batch: Vec<Pending>, result: Proposed) {
    for p in batch {
        let _ = p.reply.send(result.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moor_domain::kv::KvCommand;

    fn pending(bytes: usize) -> Pending {
        let (reply, _) = oneshot::channel();
        Pending {
            command: Command::Kv(KvCommand::Delete { key: "k".into() }),
            bytes,
            reply,
        }
    }

    fn sizes(batch: &[Pending]) -> Vec<usize> {
        batch.iter().map(|p| p.bytes).collect()
    }

    /// Batches stop at the byte bound, keep the write that did not fit for the next batch,
    /// let a write larger than the bound go alone, and stop at MAX_BATCH writes.
    #[tokio::test]
    async fn batches_stop_at_the_byte_bound_and_keep_the_overflow() {
        let (tx, mut rx) = mpsc::channel(QUEUE);
        for bytes in [300, 300, 300, 5_000, 10, 10] {
            tx.try_send(pending(bytes)).expect("room");
        }
        let (batch, carry) = gather(pending(300), &mut rx, 1_000);
        assert_eq!(sizes(&batch), vec![300, 300, 300]);
        let carry = carry.expect("the 4th write did not fit");
        assert_eq!(carry.bytes, 300);
        let (batch, carry) = gather(carry, &mut rx, 1_000);
        assert_eq!(sizes(&batch), vec![300]);
        let big = carry.expect("the large write waits for its own batch");
        assert_eq!(big.bytes, 5_000);
        let (batch, carry) = gather(big, &mut rx, 1_000);
        assert_eq!(sizes(&batch), vec![5_000]);
        let (batch, carry2) = gather(carry.expect("next"), &mut rx, 1_000);
        assert_eq!(sizes(&batch), vec![10, 10]);
        assert!(carry2.is_none());

        for _ in 0..MAX_BATCH + 5 {
            tx.try_send(pending(1)).expect("room");
        }
        let (batch, carry) = gather(pending(1), &mut rx, usize::MAX);
        assert_eq!(batch.len(), MAX_BATCH);
        assert!(carry.is_none(), "the rest stays queued");
        // A command that could not be measured shares no entry.
        tx.try_send(pending(1)).expect("room");
        let (batch, carry) = gather(pending(usize::MAX), &mut rx, 1 << 20);
        assert_eq!(batch.len(), 1);
        assert!(carry.is_some());
    }
}
