//! Finalizing: drain fast-sync, flush, compact and seal; then follow or exit per the intent.
//!
//! Transitions: `Finalized` ⇒ Follow when the intent is still follow, ⇒ ShuttingDown otherwise.
//! `ShutdownRequested` downgrades the intent and stays: what was written is finalized first.
//! Everything else goes to the Syncing superstate (progress, peer loss) and on to Running
//! (`Fatal` ⇒ ShuttingDown; head reports, which no longer move the frozen switch tip).

use super::{Shared, Step, Target};
use crate::daemon::event::Event;
use crate::daemon::intent::{AfterFinalize, ExitAfterFinalize};
use crate::daemon::workers::{FinalizePlan, ShutdownCause, WorkerSlot};

/// Entry: start the finalizing worker; it waits for the fast-sync worker first.
pub fn enter(s: &mut Shared, worker: &mut WorkerSlot) {
    let plan = FinalizePlan {
        switch_tip: s.switch_tip,
        intent: s.intent.watch(),
    };
    let ctx = s.worker_context();
    worker.fill(s.workers.start_finalizing(ctx, plan), &mut s.stopped);
}

/// Events in Finalizing.
pub fn on_event(s: &mut Shared, event: &Event) -> Step {
    match event {
        Event::Finalized { last_indexed } => {
            s.observe_progress(*last_indexed);
            match s.intent.get() {
                AfterFinalize::Follow => Step::Go(
                    Target::Follow,
                    format!("finalized up to block {last_indexed}; following the chain"),
                ),
                AfterFinalize::Exit(ExitAfterFinalize::RangeComplete { end }) => Step::Go(
                    Target::ShuttingDown(ShutdownCause::RangeComplete { end }),
                    format!("finalized up to block {last_indexed}; range ending at {end} complete"),
                ),
                AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested { signal }) => Step::Go(
                    Target::ShuttingDown(ShutdownCause::Requested { signal }),
                    format!(
                        "finalized up to block {last_indexed}; exiting as requested by {signal}"
                    ),
                ),
            }
        }
        Event::ShutdownRequested { signal } => {
            s.intent.downgrade(*signal);
            tracing::info!(%signal, "stop requested while finalizing: will exit after finalizing (Ctrl-C again forces exit)");
            Step::Stay
        }
        _ => Step::Super,
    }
}
