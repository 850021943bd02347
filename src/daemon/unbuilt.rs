//! The product's phase workers until the sync and p2p layers exist: they say so and fail.
//!
//! Owns the honest answer "not built yet". The daemon starts (metrics endpoint, signal handler,
//! Startup), the startup worker reports that the peer pool and sync pipeline are missing, and the
//! machine shuts down with an error (exit 1). It must never pretend to sync.

use super::event::Event;
use super::workers::{
    FastSyncTarget, FinalizePlan, FollowPlan, PhaseWorkers, SHUTDOWN_WORKER, ShutdownCause,
    StoppedWorker, WorkerContext, WorkerError, WorkerHandle,
};

/// What is missing, in one line.
pub const MISSING: &str =
    "the devp2p peer pool and the fetch/verify/store pipeline are not wired into the daemon yet";

/// Workers for a build without the sync layer.
#[derive(Debug, Default)]
pub struct UnbuiltWorkers;

fn not_built(name: &'static str, ctx: WorkerContext) -> WorkerHandle {
    WorkerHandle::spawn(name, ctx, |_| async {
        Err(WorkerError::NotBuilt { what: MISSING })
    })
}

impl PhaseWorkers for UnbuiltWorkers {
    fn start_peer_pool(&mut self, ctx: WorkerContext) -> WorkerHandle {
        // The startup worker reports what is missing; this one just holds its slot until cancelled.
        WorkerHandle::spawn("peer_pool", ctx, |ctx| async move {
            ctx.cancel.cancelled().await;
            Ok(())
        })
    }

    fn start_head_tracker(&mut self, ctx: WorkerContext) -> WorkerHandle {
        WorkerHandle::spawn("head_tracker", ctx, |ctx| async move {
            ctx.cancel.cancelled().await;
            Ok(())
        })
    }

    fn start_startup(&mut self, ctx: WorkerContext) -> WorkerHandle {
        not_built("startup", ctx)
    }

    fn start_fastsync(&mut self, ctx: WorkerContext, _target: FastSyncTarget) -> WorkerHandle {
        not_built("fast_sync", ctx)
    }

    fn start_finalizing(&mut self, ctx: WorkerContext, _plan: FinalizePlan) -> WorkerHandle {
        not_built("finalizing", ctx)
    }

    fn start_follow(&mut self, ctx: WorkerContext, _plan: FollowPlan) -> WorkerHandle {
        not_built("follow", ctx)
    }

    fn start_rpc(&mut self, ctx: WorkerContext) -> WorkerHandle {
        not_built("rpc", ctx)
    }

    fn start_shutdown(&mut self, ctx: WorkerContext, _cause: ShutdownCause) -> WorkerHandle {
        WorkerHandle::spawn(SHUTDOWN_WORKER, ctx, |ctx| async move {
            let WorkerContext {
                events, previous, ..
            } = ctx;
            StoppedWorker::join_all(previous).await;
            events.send(Event::Stopped).await;
            Ok(())
        })
    }
}
