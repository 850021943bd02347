//! The interface between the machine and the code that does the work of each phase.
//!
//! Owns [`PhaseWorkers`] (what each phase starts), [`WorkerContext`] (what a worker gets),
//! [`WorkerHandle`] (a running named task with its cancellation token) and the plans handed to
//! each phase. Workers are ordinary `tokio::spawn` tasks: they report only through events and stop
//! when their token is cancelled. This module must never decide a transition, and the machine must
//! never await a worker: handlers only start and cancel.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::event::{Event, EventSender, FailureKind, FatalError};
use super::intent::{AfterFinalize, SyncMode};
use crate::primitives::BlockNumber;

/// Why a worker gave up. Reported to the machine as [`Event::Fatal`].
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// This part of histd does not exist yet; said plainly instead of pretending.
    #[error("not built yet: {what}")]
    NotBuilt { what: &'static str },
    /// Anything else, with its source.
    #[error("{context}: {source}")]
    Failed {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A worker that was cancelled when its phase ended; the next phase may wait for it to finish
/// (Finalizing drains fast-sync before flushing; ShuttingDown drains everything).
#[derive(Debug)]
pub struct StoppedWorker {
    name: &'static str,
    join: JoinHandle<()>,
}

impl StoppedWorker {
    /// The worker's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Wait until the task has returned (its panics were already reported as `Fatal`).
    pub async fn join(self) {
        let _ = self.join.await;
    }

    /// Wait for all of them.
    pub async fn join_all(stopped: Vec<StoppedWorker>) {
        for w in stopped {
            w.join().await;
        }
    }
}

/// Everything a worker is given when its phase starts.
#[derive(Debug)]
pub struct WorkerContext {
    /// Report here; the only way to influence the machine.
    pub events: EventSender,
    /// Cancelled when the phase that started this worker ends. Stop promptly at a safe point.
    pub cancel: CancellationToken,
    /// Workers of the previous phase(s), already cancelled, possibly still finishing.
    pub previous: Vec<StoppedWorker>,
    /// Follow or range mode.
    pub mode: SyncMode,
}

/// A running worker: named, cancellable, awaited by the phase after it.
#[derive(Debug)]
pub struct WorkerHandle {
    name: &'static str,
    cancel: CancellationToken,
    join: JoinHandle<()>,
}

impl WorkerHandle {
    /// Spawn `work(ctx)` as a named tokio task. An `Err` or a panic becomes [`Event::Fatal`]
    /// naming the worker, so a failure is never a silent hole. An `Err` returned after the worker
    /// was cancelled is only logged (it is the cancellation, not a failure); a panic always counts.
    pub fn spawn<F, Fut>(name: &'static str, ctx: WorkerContext, work: F) -> Self
    where
        F: FnOnce(WorkerContext) -> Fut,
        Fut: Future<Output = Result<(), WorkerError>> + Send + 'static,
    {
        let cancel = ctx.cancel.clone();
        let events = ctx.events.clone();
        let fut = work(ctx);
        let token = cancel.clone();
        let join = tokio::spawn(async move {
            let fatal = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(Ok(())) => return,
                // An error while being cancelled (an aborted request, a closed channel) is the
                // cancellation itself, not a failure of the next phase: log it, don't escalate.
                Ok(Err(e)) if token.is_cancelled() => {
                    tracing::warn!(worker = name, error = %e, "worker ended with an error after cancellation");
                    return;
                }
                // Classified here, once: the kind travels with the event to the exit code.
                Ok(Err(e)) => FatalError::new(name, super::exit::failure_kind(&e), &e),
                Err(panic) => FatalError::new(
                    name,
                    FailureKind::Restart,
                    format_args!("panicked: {}", panic_message(&panic)),
                ),
            };
            tracing::error!(worker = name, error = %fatal.message, "worker failed");
            events.send(Event::Fatal(fatal)).await;
        });
        Self { name, cancel, join }
    }

    /// The worker's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Cancel it; the returned value can be awaited by whoever must wait for it to finish.
    pub fn cancel(self) -> StoppedWorker {
        self.cancel.cancel();
        StoppedWorker {
            name: self.name,
            join: self.join,
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// A phase's worker slot in state-local storage: filled by the entry action, emptied (cancelled)
/// by the exit action.
#[derive(Debug, Default)]
pub struct WorkerSlot(Option<WorkerHandle>);

impl WorkerSlot {
    /// Nothing running yet (the entry action fills it).
    pub fn idle() -> Self {
        Self(None)
    }

    /// Hold `handle`, the worker just started. A worker already held is cancelled and handed
    /// over to `stopped`, so the next worker to start waits for it instead of racing it.
    pub fn fill(&mut self, handle: WorkerHandle, stopped: &mut Vec<StoppedWorker>) {
        if let Some(old) = self.0.replace(handle) {
            stopped.push(old.cancel());
        }
    }

    /// Cancel the held worker, if any, and hand it over to `stopped` (to be awaited by the next
    /// worker to start).
    pub fn cancel_into(&mut self, stopped: &mut Vec<StoppedWorker>) {
        if let Some(old) = self.0.take() {
            stopped.push(old.cancel());
        }
    }

    /// Whether a worker is held.
    pub fn is_running(&self) -> bool {
        self.0.is_some()
    }
}

/// What fast-sync must reach.
#[derive(Debug, Clone)]
pub enum FastSyncTarget {
    /// Range mode: `start ..= end`, fixed.
    Range {
        start: BlockNumber,
        end: BlockNumber,
    },
    /// Follow mode: `start ..= safe_head`, where the safe head keeps moving; report `CaughtUp`
    /// once everything up to the current value is stored and nothing is in flight.
    SafeHead {
        start: BlockNumber,
        safe_head: watch::Receiver<BlockNumber>,
    },
}

/// What Finalizing works with.
#[derive(Debug, Clone)]
pub struct FinalizePlan {
    /// The fast-sync tip when it caught up; `None` when Finalizing was entered by a stop request
    /// (finalize whatever was written).
    pub switch_tip: Option<BlockNumber>,
    /// What follows Finalizing, live (a stop during Finalizing downgrades it), so the worker's
    /// boundary log line says what really happens next.
    pub intent: watch::Receiver<AfterFinalize>,
}

impl FinalizePlan {
    /// A plan whose intent never changes (tests and tools that drive a worker by hand).
    pub fn fixed(switch_tip: Option<BlockNumber>, intent: AfterFinalize) -> Self {
        Self {
            switch_tip,
            intent: watch::channel(intent).1,
        }
    }
}

/// What Follow starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowPlan {
    /// Last block stored contiguously, as reported by `Finalized`.
    pub last_indexed: BlockNumber,
    /// Deepest reorg follow may roll back; deeper is `ReorgTooDeep`.
    pub rollback_window: u64,
}

/// The name `start_shutdown` must spawn its worker under: if that worker fails, the machine exits
/// without waiting for a `Stopped` that will never come.
pub const SHUTDOWN_WORKER: &str = "shutdown";

/// Why the daemon is shutting down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShutdownCause {
    /// A stop signal (exit 0).
    Requested { signal: super::event::StopSignal },
    /// Range mode finished (exit 0).
    RangeComplete { end: BlockNumber },
    /// Something failed (exit non-zero).
    Failed { reason: String },
}

/// The code behind each phase. The machine calls exactly one `start_*` per phase entry (plus
/// `start_rpc` once, on the first `UpToDate` in Follow) and cancels what it started when the phase
/// ends. Implementations spawn with [`WorkerHandle::spawn`] and report through `ctx.events`.
///
/// Not `Send`: it lives on the machine's task. What it spawns must be `Send`.
pub trait PhaseWorkers {
    /// The peer pool, from Startup until ShuttingDown: dialing, sessions, discovery; emits
    /// `PeersLost` when the count falls below `min_peers`.
    fn start_peer_pool(&mut self, ctx: WorkerContext) -> WorkerHandle;
    /// The head tracker, from Startup until ShuttingDown, follow mode only (never started in range
    /// mode): emits `HeadAdvanced` (about once a second) when the best head reported by peers rises.
    fn start_head_tracker(&mut self, ctx: WorkerContext) -> WorkerHandle;
    /// Startup: open storage (repairing interrupted shards), wait for `min_peers` peers and a first
    /// head, then emit `PeersReady`.
    fn start_startup(&mut self, ctx: WorkerContext) -> WorkerHandle;
    /// FastSync: backfill `target` out of order into the WAL; emit `Progress`, then `CaughtUp`.
    fn start_fastsync(&mut self, ctx: WorkerContext, target: FastSyncTarget) -> WorkerHandle;
    /// Finalizing: wait for `ctx.previous`, flush, compact dirty shards, seal complete ones; emit
    /// `Finalized`.
    fn start_finalizing(&mut self, ctx: WorkerContext, plan: FinalizePlan) -> WorkerHandle;
    /// Follow: in-order writes at the real head with reorg rollback; emit `Progress`,
    /// `UpToDate`, `ReorgTooDeep`.
    fn start_follow(&mut self, ctx: WorkerContext, plan: FollowPlan) -> WorkerHandle;
    /// The JSON-RPC server, started once on the first `UpToDate`; cancelled in ShuttingDown.
    fn start_rpc(&mut self, ctx: WorkerContext) -> WorkerHandle;
    /// ShuttingDown: wait for `ctx.previous` (every other worker, cancelled), flush, persist the
    /// peer cache, write the final report; emit `Stopped`.
    fn start_shutdown(&mut self, ctx: WorkerContext, cause: ShutdownCause) -> WorkerHandle;
    /// The counters this run's sync workers record into, for the run report (`None`: these
    /// workers keep none).
    fn sync_stats(&self) -> Option<crate::sync::stats::SyncStats> {
        None
    }
}
