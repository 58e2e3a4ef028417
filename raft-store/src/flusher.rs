//! Group commit: one WAL sync for every append that is waiting on one.
//!
//! openraft's contract is that an append's `LogFlushed` callback fires only once the entries
//! are on disk, but `append` itself should return as soon as they are readable. So
//! `append` writes its batch without syncing and hands the callback here. A dedicated
//! thread takes everything queued, syncs the WAL once, then fires the callbacks in order.
//! While one sync runs, openraft can already issue (and queue) the next appends; they share
//! the next sync. A thread, not a tokio task, because the sync blocks for milliseconds.
//!
//! A failed sync is sticky: after an fsync error the kernel may have dropped the dirty pages
//! it could not write and report the next sync as clean, so no later sync is trusted. Every
//! queued and future callback gets the error, and writers check [`Flusher::failure`] before
//! touching the database.

use std::io;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use tokio::sync::mpsc;

/// What to run once the WAL sync covering an append has finished (or failed).
pub(crate) type Completion = Box<dyn FnOnce(Result<(), io::Error>) + Send>;

/// Appends that may wait on the flusher at once; beyond this, `submit` waits, which pushes
/// back on Raft instead of queueing without bound. It also caps how many callbacks one sync
/// serves.
const QUEUE_CAPACITY: usize = 1024;

/// The flusher has stopped: its thread is gone, so nothing queued would ever complete.
#[derive(Debug, thiserror::Error)]
#[error("the WAL flusher thread has stopped")]
pub(crate) struct FlusherStopped;

/// Owns the flusher thread; dropping it drains the queue and joins the thread.
pub(crate) struct Flusher {
    tx: Option<mpsc::Sender<Completion>>,
    failure: Arc<OnceLock<String>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("failure", &self.failure.get())
            .finish_non_exhaustive()
    }
}

impl Flusher {
    /// Starts the flusher thread; `sync_wal` makes everything written so far durable.
    pub(crate) fn spawn<S>(sync_wal: S) -> io::Result<Self>
    where
        S: FnMut() -> Result<(), String> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let failure = Arc::new(OnceLock::new());
        let thread = std::thread::Builder::new()
            .name("moor-wal-flusher".into())
            .spawn({
                let failure = Arc::clone(&failure);
                move || run(rx, sync_wal, &failure)
            })?;
        Ok(Self {
            tx: Some(tx),
            failure,
            thread: Some(thread),
        })
    }

    /// The first WAL sync failure, if any. Once set, the log must not be written again.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Queues `completion` to run after the next WAL sync. The caller must already have
    /// written what the completion acknowledges.
    pub(crate) async fn submit(&self, completion: Completion) -> Result<(), FlusherStopped> {
        let tx = self.tx.as_ref().ok_or(FlusherStopped)?;
        tx.send(completion).await.map_err(|_| FlusherStopped)
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Closing the channel lets the thread finish the queued completions and exit; joining
        // it makes sure it has released the database before a caller reopens the directory.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the WAL flusher thread panicked");
            }
        }
    }
}

fn run<S>(mut rx: mpsc::Receiver<Completion>, mut sync_wal: S, failure: &OnceLock<String>)
where
    S: FnMut() -> Result<(), String>,
{
    let mut batch: Vec<Completion> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < QUEUE_CAPACITY {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let result = match failure.get() {
            Some(earlier) => Err(earlier.clone()),
            None => sync_wal().inspect_err(|e| {
                tracing::error!(error = %e, "WAL sync failed: the log is no longer writable");
                // Only the first failure is kept: it is the one an operator needs.
                let _ = failure.set(e.clone());
            }),
        };
        for completion in batch.drain(..) {
            completion(result.clone().map_err(io::Error::other));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc as std_mpsc, Mutex};

    use super::*;

    type Outcomes = Arc<Mutex<Vec<(usize, bool)>>>;

    fn recorder(outcomes: &Outcomes, i: usize, done: &std_mpsc::Sender<()>) -> Completion {
        let outcomes = Arc::clone(outcomes);
        let done = done.clone();
        Box::new(move |r| {
            outcomes.lock().expect("outcomes lock").push((i, r.is_ok()));
            let _ = done.send(());
        })
    }

    /// While one sync runs, every append queued behind it shares the next sync.
    #[tokio::test]
    async fn appends_queued_during_a_sync_share_the_next_one() {
        let syncs = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = std_mpsc::channel::<()>();
        let (release_tx, release_rx) = std_mpsc::channel::<()>();
        let flusher = Flusher::spawn({
            let syncs = Arc::clone(&syncs);
            move || {
                // The first sync blocks until the test has queued the others behind it.
                if syncs.fetch_add(1, Ordering::SeqCst) == 0 {
                    started_tx.send(()).map_err(|e| e.to_string())?;
                    release_rx.recv().map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        })
        .expect("spawn flusher");

        let outcomes: Outcomes = Arc::default();
        let (done_tx, done_rx) = std_mpsc::channel();
        flusher
            .submit(recorder(&outcomes, 0, &done_tx))
            .await
            .expect("submit");
        started_rx.recv().expect("first sync started");
        for i in 1..=10 {
            flusher
                .submit(recorder(&outcomes, i, &done_tx))
                .await
                .expect("submit");
        }
        release_tx.send(()).expect("release first sync");
        for _ in 0..=10 {
            done_rx.recv().expect("completion");
        }

        assert_eq!(syncs.load(Ordering::SeqCst), 2, "11 appends, 2 syncs");
        let outcomes = outcomes.lock().expect("outcomes lock").clone();
        assert_eq!(
            outcomes,
            (0..=10).map(|i| (i, true)).collect::<Vec<_>>(),
            "in order, all ok"
        );
    }

    /// A failed sync fails its callbacks and every later one, without trusting a new sync.
    #[tokio::test]
    async fn a_sync_failure_is_sticky() {
        let syncs = Arc::new(AtomicUsize::new(0));
        let flusher = Flusher::spawn({
            let syncs = Arc::clone(&syncs);
            move || {
                syncs.fetch_add(1, Ordering::SeqCst);
                Err("EIO".to_string())
            }
        })
        .expect("spawn flusher");

        let outcomes: Outcomes = Arc::default();
        let (done_tx, done_rx) = std_mpsc::channel();
        flusher
            .submit(recorder(&outcomes, 0, &done_tx))
            .await
            .expect("submit");
        done_rx.recv().expect("completion");
        assert_eq!(flusher.failure(), Some("EIO"));

        flusher
            .submit(recorder(&outcomes, 1, &done_tx))
            .await
            .expect("submit");
        done_rx.recv().expect("completion");
        assert_eq!(
            syncs.load(Ordering::SeqCst),
            1,
            "no sync is attempted after a failure"
        );
        assert_eq!(
            *outcomes.lock().expect("outcomes lock"),
            vec![(0, false), (1, false)]
        );
    }

    /// Dropping the flusher completes what was queued instead of losing the callbacks.
    #[tokio::test]
    async fn drop_drains_the_queue() {
        let flusher = Flusher::spawn(|| Ok(())).expect("spawn flusher");
        let outcomes: Outcomes = Arc::default();
        let (done_tx, _done_rx) = std_mpsc::channel();
        for i in 0..5 {
            flusher
                .submit(recorder(&outcomes, i, &done_tx))
                .await
                .expect("submit");
        }
        drop(flusher);
        assert_eq!(outcomes.lock().expect("outcomes lock").len(), 5);
    }
}
