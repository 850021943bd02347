//! [`StoreHandle`]: the cloneable, async face of [`Storage`] that the daemon's workers share.
//!
//! Owns the one decision of how blocking storage work leaves the async runtime: reads run on the
//! blocking pool, any number at once; writes run on the blocking pool one at a time (a single
//! writer, so two workers can never write concurrently); code already on a blocking thread (a
//! peer session's history lookups, the peer cache) uses the `blocking_*` forms under the same
//! rules. Every call holds a read guard of a gate around the store for as long as it runs, so
//! [`StoreHandle::close`] can wait for in-flight work and then drop redb (releasing the
//! data-directory lock) at a known moment instead of whenever the last clone happens to go.
//! After `close`, calls fail with [`StoreError::Closed`]. It must never hand out the store
//! itself beyond one call, and never decide what is read or written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard, OwnedRwLockReadGuard, RwLock};

use super::{OpenError, OpenOptions, Storage};

/// Why a storage call through the handle failed. `what` names the operation, so the error says
/// what was being done, not only what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError<E: std::error::Error + 'static> {
    /// The store was closed (shutdown) before the call ran.
    #[error("{what}: the data directory {} is closed", dir.display())]
    Closed { what: &'static str, dir: PathBuf },
    /// The blocking task running the call was lost (it panicked).
    #[error("{what}: the blocking task failed: {reason}")]
    Task { what: &'static str, reason: String },
    /// The storage operation itself failed.
    #[error("{what}: {source}")]
    Storage {
        what: &'static str,
        #[source]
        source: E,
    },
}

/// What callers hold: the store, or nothing once closed. An `Arc` only so that adapters written
/// against `Arc<Storage>` can borrow it for one call ([`StoreHandle::blocking_read_shared`]).
type Gate = RwLock<Option<Arc<Storage>>>;

#[derive(Debug)]
struct Inner {
    gate: Arc<Gate>,
    /// Held (owned) for the whole of each write: the single writer.
    writer: Arc<Mutex<()>>,
    dir: PathBuf,
}

/// A cheap, cloneable handle to an open [`Storage`].
#[derive(Debug, Clone)]
pub struct StoreHandle {
    inner: Arc<Inner>,
}

impl StoreHandle {
    /// Wraps an open store.
    pub fn new(storage: Storage) -> Self {
        let dir = storage.data_dir().to_path_buf();
        Self {
            inner: Arc::new(Inner {
                gate: Arc::new(RwLock::new(Some(Arc::new(storage)))),
                writer: Arc::new(Mutex::new(())),
                dir,
            }),
        }
    }

    /// Opens (and repairs) the store in `dir` on the blocking pool.
    pub async fn open(dir: &Path, opts: OpenOptions) -> Result<Self, StoreError<OpenError>> {
        const WHAT: &str = "opening the data directory";
        let task_dir = dir.to_path_buf();
        let storage = tokio::task::spawn_blocking(move || Storage::open(&task_dir, opts))
            .await
            .map_err(|e| StoreError::Task {
                what: WHAT,
                reason: e.to_string(),
            })?
            .map_err(|source| StoreError::Storage { what: WHAT, source })?;
        Ok(Self::new(storage))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Runs `f` on the blocking pool; reads may run concurrently with each other and with a
    /// write (the store itself keeps readers consistent).
    pub async fn read<T, E, F>(&self, what: &'static str, f: F) -> Result<T, StoreError<E>>
    where
        T: Send + 'static,
        E: std::error::Error + Send + 'static,
        F: FnOnce(&Storage) -> Result<T, E> + Send + 'static,
    {
        let guard = self.inner.gate.clone().read_owned().await;
        self.run_blocking(what, guard, None, f).await
    }

    /// Runs `f` on the blocking pool as the only writer: a second write waits until the first
    /// has returned.
    pub async fn write<T, E, F>(&self, what: &'static str, f: F) -> Result<T, StoreError<E>>
    where
        T: Send + 'static,
        E: std::error::Error + Send + 'static,
        F: FnOnce(&Storage) -> Result<T, E> + Send + 'static,
    {
        // Writer first, then the gate: a queued close never waits behind a writer that itself
        // waits for the gate.
        let writer = self.inner.writer.clone().lock_owned().await;
        let guard = self.inner.gate.clone().read_owned().await;
        self.run_blocking(what, guard, Some(writer), f).await
    }

    async fn run_blocking<T, E, F>(
        &self,
        what: &'static str,
        guard: OwnedRwLockReadGuard<Option<Arc<Storage>>>,
        writer: Option<OwnedMutexGuard<()>>,
        f: F,
    ) -> Result<T, StoreError<E>>
    where
        T: Send + 'static,
        E: std::error::Error + Send + 'static,
        F: FnOnce(&Storage) -> Result<T, E> + Send + 'static,
    {
        if guard.is_none() {
            return Err(self.closed(what));
        }
        // The guards move into the task: if our caller stops waiting, the work still finishes
        // under them, and `close` still waits for it.
        let joined = tokio::task::spawn_blocking(move || {
            let _writer = writer;
            match guard.as_ref() {
                Some(storage) => f(storage).map_err(|source| StoreError::Storage { what, source }),
                None => Err(StoreError::Task {
                    what,
                    reason: "store closed".into(),
                }),
            }
        })
        .await;
        joined.unwrap_or_else(|e| {
            Err(StoreError::Task {
                what,
                reason: e.to_string(),
            })
        })
    }

    /// [`Self::read`] for code already on a blocking thread (never call it from async code:
    /// it blocks while `close` is draining).
    pub fn blocking_read<T, E, F>(&self, what: &'static str, f: F) -> Result<T, StoreError<E>>
    where
        E: std::error::Error + 'static,
        F: FnOnce(&Storage) -> Result<T, E>,
    {
        let guard = self.inner.gate.blocking_read();
        match guard.as_ref() {
            Some(storage) => f(storage).map_err(|source| StoreError::Storage { what, source }),
            None => Err(self.closed(what)),
        }
    }

    /// [`Self::write`] for code already on a blocking thread (never call it from async code).
    pub fn blocking_write<T, E, F>(&self, what: &'static str, f: F) -> Result<T, StoreError<E>>
    where
        E: std::error::Error + 'static,
        F: FnOnce(&Storage) -> Result<T, E>,
    {
        let _writer = self.inner.writer.blocking_lock();
        self.blocking_read(what, f)
    }

    /// Like [`Self::blocking_read`] (or, with `write`, [`Self::blocking_write`]) for adapters
    /// built on `Arc<Storage>` (the history served to peers, the peer cache): `f` may clone the
    /// `Arc` for the length of the call but must not keep it, or `close` cannot release the
    /// data directory (it says so in the log).
    pub fn blocking_shared<T>(
        &self,
        what: &'static str,
        write: bool,
        f: impl FnOnce(&Arc<Storage>) -> T,
    ) -> Result<T, StoreError<std::convert::Infallible>> {
        let _writer = write.then(|| self.inner.writer.blocking_lock());
        let guard = self.inner.gate.blocking_read();
        match guard.as_ref() {
            Some(storage) => Ok(f(storage)),
            None => Err(self.closed(what)),
        }
    }

    /// Waits for every call in flight, then closes the store on the blocking pool (redb is
    /// flushed and the data-directory lock released before this returns). Later calls, through
    /// any clone, fail with [`StoreError::Closed`]. Closing twice is harmless.
    pub async fn close(&self) {
        let storage = self.inner.gate.write().await.take();
        let Some(storage) = storage else {
            return;
        };
        let dir = self.inner.dir.clone();
        // Every call has ended (we hold the gate's write side), so ours is the last reference
        // unless an adapter kept a clone against the rule of `blocking_shared`.
        let storage = match Arc::try_unwrap(storage) {
            Ok(storage) => storage,
            Err(kept) => {
                tracing::warn!(dir = %dir.display(), references = Arc::strong_count(&kept), "storage still referenced at close; it closes when the last reference goes");
                return;
            }
        };
        match tokio::task::spawn_blocking(move || drop(storage)).await {
            Ok(()) => tracing::info!(dir = %dir.display(), "data directory closed"),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "closing the data directory failed")
            }
        }
    }

    fn closed<E: std::error::Error + 'static>(&self, what: &'static str) -> StoreError<E> {
        StoreError::Closed {
            what,
            dir: self.inner.dir.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use alloy_primitives::B256;

    use super::*;
    use crate::primitives::BlockNumber;
    use crate::storage::Retention;

    fn options() -> OpenOptions {
        OpenOptions {
            chain_id: 1,
            genesis_hash: B256::repeat_byte(7),
            shard_size: 100,
            retention: Retention::default(),
        }
    }

    #[tokio::test]
    async fn close_waits_for_work_and_releases_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StoreHandle::open(dir.path(), options())
            .await
            .expect("open");
        store
            .write("persisting head_seen", |s| s.set_head_seen(BlockNumber(42)))
            .await
            .expect("write");
        // A slow read in flight when close starts: close must wait for it, not cut it off.
        let slow = store.clone();
        let reading = tokio::spawn(async move {
            slow.read("slow read", |s| {
                std::thread::sleep(Duration::from_millis(200));
                s.head_seen()
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.close().await;
        assert!(
            reading.is_finished(),
            "close returned before the read ended"
        );
        let head = reading.await.expect("join").expect("read");
        assert_eq!(head, Some(BlockNumber(42)));
        // The lock is free at once: another open succeeds without waiting.
        let again = Storage::open(dir.path(), options()).expect("reopen right after close");
        assert_eq!(again.head_seen().expect("head_seen"), Some(BlockNumber(42)));
        // The closed handle says so, naming the call.
        let err = store
            .read("late read", |s| s.head_seen())
            .await
            .expect_err("closed");
        assert!(
            matches!(
                err,
                StoreError::Closed {
                    what: "late read",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_never_overlap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StoreHandle::open(dir.path(), options())
            .await
            .expect("open");
        let active = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for i in 0..8u64 {
            let (store, active) = (store.clone(), active.clone());
            writers.push(tokio::spawn(async move {
                store
                    .write("persisting head_seen", move |s| {
                        assert_eq!(
                            active.fetch_add(1, Ordering::SeqCst),
                            0,
                            "two writers at once"
                        );
                        std::thread::sleep(Duration::from_millis(10));
                        let r = s.set_head_seen(BlockNumber(i));
                        active.fetch_sub(1, Ordering::SeqCst);
                        r
                    })
                    .await
            }));
        }
        for w in writers {
            w.await.expect("join").expect("write");
        }
        let err: StoreError<std::io::Error> = store
            .write("failing write", |_| {
                Err::<(), _>(std::io::Error::other("boom"))
            })
            .await
            .expect_err("fails");
        assert!(err.to_string().starts_with("failing write: "), "{err}");
        store.close().await;
    }
}
