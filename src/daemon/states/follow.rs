//! Follow: in-order sync at the real head; RPC starts on the first `UpToDate`.
//!
//! Transitions: `ShutdownRequested` ⇒ ShuttingDown; `ReorgTooDeep` ⇒ ShuttingDown (error);
//! `Fatal` ⇒ ShuttingDown (error). Only reachable from Finalizing with a follow intent.

use super::{Shared, Step, Target, ignored};
use crate::daemon::event::Event;
use crate::daemon::phase::Phase;
use crate::daemon::workers::{FollowPlan, ShutdownCause, WorkerSlot};
use crate::primitives::BlockNumber;

/// Entry: start the follow worker after the last finalized block.
pub fn enter(s: &mut Shared, worker: &mut WorkerSlot) {
    let plan = FollowPlan {
        last_indexed: s.last_indexed.unwrap_or(BlockNumber::ZERO),
        rollback_window: s.settings.rollback_window,
    };
    let ctx = s.worker_context();
    if let Some(old) = worker.fill(s.workers.start_follow(ctx, plan)) {
        s.stopped.push(old);
    }
}

/// Events in Follow.
pub fn on_event(s: &mut Shared, event: &Event) -> Step {
    match event {
        Event::ShutdownRequested { signal } => Step::Go(
            Target::ShuttingDown(ShutdownCause::Requested { signal: *signal }),
            format!("{signal} while following"),
        ),
        Event::ReorgTooDeep { depth, limit } => {
            let reason =
                format!("reorg of depth {depth} exceeds rollback_window {limit}; stopping");
            Step::Go(
                Target::ShuttingDown(ShutdownCause::Failed {
                    reason: reason.clone(),
                }),
                reason,
            )
        }
        Event::Fatal(e) => Step::Go(
            Target::ShuttingDown(ShutdownCause::Failed {
                reason: e.to_string(),
            }),
            format!("fatal: {e}"),
        ),
        Event::UpToDate { head } => {
            if !s.rpc.is_running() {
                tracing::info!(%head, "up to date with the network for the first time: starting JSON-RPC");
                let ctx = s.side_context();
                let rpc = s.workers.start_rpc(ctx);
                s.rpc.fill(rpc);
            }
            Step::Stay
        }
        Event::HeadAdvanced { head_seen } => {
            s.observe_head(*head_seen);
            Step::Stay
        }
        Event::Progress { last_indexed } => {
            s.observe_progress(*last_indexed);
            Step::Stay
        }
        Event::PeersLost { peers } => {
            tracing::warn!(
                peers,
                "peers lost while following; waiting for peers to return"
            );
            Step::Stay
        }
        other => ignored(Phase::Follow, other),
    }
}
