//! Follow: in-order sync at the real head; RPC starts on the first `UpToDate`.
//!
//! Transitions: `ShutdownRequested` ⇒ ShuttingDown; `ReorgTooDeep` ⇒ ShuttingDown (error);
//! everything else goes to the Syncing superstate (progress, peer loss) and on to Running
//! (`Fatal` ⇒ ShuttingDown (error), head reports). Only reachable from Finalizing with a follow
//! intent.

use super::{Shared, Step, Target};
use crate::daemon::event::Event;
use crate::daemon::workers::{FollowPlan, ShutdownCause, WorkerSlot};
use crate::primitives::BlockNumber;

/// Entry: start the follow worker after the last finalized block.
pub fn enter(s: &mut Shared, worker: &mut WorkerSlot) {
    let plan = FollowPlan {
        last_indexed: s.last_indexed.unwrap_or(BlockNumber::ZERO),
        rollback_window: s.settings.rollback_window,
    };
    let ctx = s.worker_context();
    worker.fill(s.workers.start_follow(ctx, plan), &mut s.stopped);
}

/// A reorg deeper than the window (in Follow, or found by the restart check in FastSync): stop
/// with the error (exit code 3).
pub fn reorg_too_deep(depth: u64, limit: u64) -> Step {
    let reason = format!("reorg of depth {depth} exceeds rollback_window {limit}; stopping");
    Step::Go(
        Target::ShuttingDown(ShutdownCause::Failed {
            reason: reason.clone(),
        }),
        reason,
    )
}

/// Events in Follow.
pub fn on_event(s: &mut Shared, event: &Event) -> Step {
    match event {
        Event::ShutdownRequested { signal } => Step::Go(
            Target::ShuttingDown(ShutdownCause::Requested { signal: *signal }),
            format!("{signal} while following"),
        ),
        Event::ReorgTooDeep { depth, limit } => reorg_too_deep(*depth, *limit),
        Event::UpToDate { head } => {
            if !s.rpc.is_running() {
                tracing::info!(%head, "up to date with the network for the first time: starting JSON-RPC");
                let ctx = s.side_context();
                let rpc = s.workers.start_rpc(ctx);
                s.rpc.fill(rpc, &mut s.stopped);
            }
            Step::Stay
        }
        _ => Step::Super,
    }
}
