//! [`Tasks`]: the named, tracked tasks of one network service (the peer pool, discovery).
//!
//! Owns spawning a service's background tasks on a [`TaskTracker`] under a name, and stopping
//! them: [`Tasks::shutdown`] closes the tracker and waits a bounded time; a task still running
//! then is logged by name and aborted, never leaked silently. It never decides when a service
//! stops (its owner cancels first, then shuts the tasks down).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::task::TaskTracker;

#[derive(Debug, Default)]
struct Live {
    names: HashMap<u64, (String, Option<AbortHandle>)>,
}

#[derive(Debug)]
struct Inner {
    /// The owning service, for logs.
    owner: &'static str,
    tracker: TaskTracker,
    live: Mutex<Live>,
    next: AtomicU64,
}

impl Inner {
    fn live(&self) -> MutexGuard<'_, Live> {
        // A panic elsewhere while holding the map leaves it usable: it is only names.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes a task's name when the task ends (returns, panics or is aborted).
struct Registered {
    inner: Weak<Inner>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.live().names.remove(&self.id);
        }
    }
}

/// The tracked tasks of one service; clones share them.
#[derive(Debug, Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

impl Tasks {
    /// No tasks yet; `owner` names the service in logs.
    pub fn new(owner: &'static str) -> Self {
        Self {
            inner: Arc::new(Inner {
                owner,
                tracker: TaskTracker::new(),
                live: Mutex::new(Live::default()),
                next: AtomicU64::new(0),
            }),
        }
    }

    fn register(&self, name: String) -> Registered {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.inner.live().names.insert(id, (name, None));
        Registered {
            inner: Arc::downgrade(&self.inner),
            id,
        }
    }

    /// Spawns `fut` as a task named `name`. Tasks spawned after [`Self::shutdown`] began still
    /// run and are still awaited.
    pub fn spawn<F>(&self, name: impl Into<String>, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let registered = self.register(name.into());
        let id = registered.id;
        let handle = self.inner.tracker.spawn(async move {
            let _registered = registered;
            fut.await
        });
        if let Some(entry) = self.inner.live().names.get_mut(&id) {
            entry.1 = Some(handle.abort_handle());
        }
        handle
    }

    /// Runs `f` on the blocking pool as a task named `name` (it cannot be aborted; shutdown
    /// waits for it and names it if it overruns).
    pub fn spawn_blocking<T, F>(&self, name: impl Into<String>, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let registered = self.register(name.into());
        self.inner.tracker.spawn_blocking(move || {
            let _registered = registered;
            f()
        })
    }

    /// How many tasks are still running.
    pub fn running(&self) -> usize {
        self.inner.tracker.len()
    }

    /// The names of the tasks still running, sorted.
    pub fn running_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .live()
            .names
            .values()
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Waits up to `limit` for every task to end (their owner has already told them to stop).
    /// Tasks still running then are logged by name and aborted, and awaited once more for
    /// `limit`. Returns the names of the tasks that had to be aborted.
    pub async fn shutdown(&self, limit: Duration) -> Vec<String> {
        let tracker = &self.inner.tracker;
        tracker.close();
        if tokio::time::timeout(limit, tracker.wait()).await.is_ok() {
            return Vec::new();
        }
        let stuck: Vec<(String, Option<AbortHandle>)> = self
            .inner
            .live()
            .names
            .values()
            .map(|(n, a)| (n.clone(), a.clone()))
            .collect();
        let mut names = Vec::with_capacity(stuck.len());
        for (name, abort) in stuck {
            tracing::warn!(service = self.inner.owner, task = %name, after = ?limit, "task did not stop in time; aborting it");
            if let Some(abort) = abort {
                abort.abort();
            }
            names.push(name);
        }
        if tokio::time::timeout(limit, tracker.wait()).await.is_err() {
            tracing::warn!(service = self.inner.owner, tasks = ?self.running_names(), "tasks still running after abort (blocking work cannot be aborted)");
        }
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finished_tasks_leave_and_stuck_ones_are_named_and_aborted() {
        let tasks = Tasks::new("test");
        let quick = tasks.spawn("quick", async {});
        quick.await.expect("quick");
        assert!(tasks.running_names().is_empty());
        let stuck = tasks.spawn("stuck forever", std::future::pending::<()>());
        let ended = tasks.spawn_blocking("blocking", || 7);
        assert_eq!(ended.await.expect("blocking"), 7);
        assert_eq!(tasks.running_names(), vec!["stuck forever".to_string()]);
        let aborted = tasks.shutdown(Duration::from_millis(50)).await;
        assert_eq!(aborted, vec!["stuck forever".to_string()]);
        assert!(stuck.await.expect_err("aborted").is_cancelled());
        assert_eq!(tasks.running(), 0);
        assert!(tasks.running_names().is_empty());
    }

    #[tokio::test]
    async fn shutdown_waits_for_tasks_that_end() {
        let tasks = Tasks::new("test");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn("waits for a message", async move {
            let _ = rx.await;
        });
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        assert!(tasks.shutdown(Duration::from_secs(5)).await.is_empty());
        assert_eq!(tasks.running(), 0);
    }
}
