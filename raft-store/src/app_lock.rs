//! The application's lock, taken without stalling the async runtime.
//!
//! Apply takes the application's write lock; queries and snapshot builds take its read lock.
//! A snapshot build holds the read lock for as long as encoding the whole state takes (seconds
//! at 100,000 environments). A task that blocks on the lock meanwhile — apply waiting to write,
//! or a query waiting to read behind that waiting writer — would block its tokio worker
//! thread, and with two workers (one per core on these machines) two such tasks freeze the
//! runtime: no heartbeat goes out and the followers elect a new leader. So the lock is tried
//! first, and only when it is contended is the wait moved off the worker
//! ([`tokio::task::block_in_place`], on a multi-threaded runtime: the worker's other tasks move
//! to another thread while this one waits). Uncontended, it costs what the lock costs.

use std::fmt;
use std::sync::{Arc, LockResult, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use tokio::runtime::{Handle, RuntimeFlavor};

/// The application state, shared between the state machine and the node's queries.
pub struct AppLock<A>(Arc<RwLock<A>>);

impl<A> AppLock<A> {
    /// `app`, behind a new lock.
    pub fn new(app: A) -> AppLock<A> {
        AppLock(Arc::new(RwLock::new(app)))
    }

    /// The read lock; a contended wait does not hold up the runtime's other tasks.
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, A>> {
        match self.0.try_read() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Err(poisoned),
            Err(TryLockError::WouldBlock) => off_the_runtime(|| self.0.read()),
        }
    }

    /// The write lock; a contended wait does not hold up the runtime's other tasks.
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, A>> {
        match self.0.try_write() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(poisoned)) => Err(poisoned),
            Err(TryLockError::WouldBlock) => off_the_runtime(|| self.0.write()),
        }
    }
}

impl<A> Clone for AppLock<A> {
    fn clone(&self) -> AppLock<A> {
        AppLock(Arc::clone(&self.0))
    }
}

impl<A: Default> Default for AppLock<A> {
    fn default() -> AppLock<A> {
        AppLock::new(A::default())
    }
}

impl<A> From<Arc<RwLock<A>>> for AppLock<A> {
    fn from(app: Arc<RwLock<A>>) -> AppLock<A> {
        AppLock(app)
    }
}

impl<A> fmt::Debug for AppLock<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppLock").finish_non_exhaustive()
    }
}

/// Runs `f`, which may block for long, so that the tokio worker running the caller hands
/// its other tasks to another thread first. Outside a multi-threaded runtime (a test's
/// current-thread runtime, a plain thread) it simply runs `f`.
pub fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// A long reader (a snapshot build), a writer waiting behind it (apply) and a reader
    /// waiting behind that writer (a query), on a runtime with two workers: a third task (a
    /// heartbeat) must still run. With plain blocking waits both workers would be stuck until
    /// the build ends; the build here ends only when the heartbeat ran, or after 20 s.
    #[test]
    fn waiting_for_the_lock_leaves_the_runtime_running() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let lock = AppLock::new(0u64);
        let (reading, read_started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let builder = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                let guard = lock.read().unwrap();
                reading.send(()).unwrap();
                let heartbeat_ran = released.recv_timeout(Duration::from_secs(20)).is_ok();
                drop(guard);
                heartbeat_ran
            })
        };
        read_started.recv().unwrap();
        let raw = Arc::clone(&lock.0);
        let query_value = runtime.block_on(async move {
            let apply = {
                let lock = lock.clone();
                tokio::spawn(async move {
                    *lock.write().unwrap() += 1;
                })
            };
            // The writer is queued once a new reader is refused (only the builder reads).
            while raw.try_read().is_ok() {
                tokio::task::yield_now().await;
            }
            let (querying, query_started) = mpsc::channel();
            let query = {
                let lock = lock.clone();
                tokio::spawn(async move {
                    querying.send(()).unwrap();
                    let value = *lock.read().unwrap();
                    value
                })
            };
            // This thread is not a worker: waiting here blocks neither.
            query_started.recv().unwrap();
            // The heartbeat (after a stall the builder has stopped listening: no error here).
            tokio::spawn(async move {
                let _ = release.send(());
            })
            .await
            .unwrap();
            apply.await.unwrap();
            query.await.unwrap()
        });
        assert!(
            builder.join().unwrap(),
            "the runtime stalled while the lock was waited for"
        );
        assert!(query_value <= 1);
    }
}
