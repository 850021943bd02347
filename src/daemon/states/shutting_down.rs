//! ShuttingDown: terminal. Stop everything, let the shutdown worker flush, then exit.
//!
//! Transitions: none (terminal). `Stopped` from the shutdown worker sets the exit status; a second
//! SIGINT is handled by the signal task (forced exit), not here.

use super::{Shared, Step, ignored};
use crate::daemon::event::Event;
use crate::daemon::phase::Phase;
use crate::daemon::workers::{SHUTDOWN_WORKER, ShutdownCause, WorkerSlot};

/// How the process ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// Stopped as asked, or range complete: exit code 0.
    Clean,
    /// Stopped because something failed: exit code 1.
    Failed { reason: String },
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            ExitStatus::Clean => 0,
            ExitStatus::Failed { .. } => 1,
        }
    }
}

/// Entry: cancel RPC, head tracker and peer pool; hand every stopped worker to the shutdown worker.
pub fn enter(s: &mut Shared, worker: &mut WorkerSlot, cause: &ShutdownCause) {
    s.rpc.cancel_into(&mut s.stopped);
    s.head_tracker.cancel_into(&mut s.stopped);
    s.peer_pool.cancel_into(&mut s.stopped);
    let ctx = s.worker_context();
    worker.fill(s.workers.start_shutdown(ctx, cause.clone()), &mut s.stopped);
}

/// Events in ShuttingDown.
pub fn on_event(s: &mut Shared, cause: &ShutdownCause, event: &Event) -> Step {
    match event {
        Event::Stopped => {
            let status = match cause {
                ShutdownCause::Requested { .. } | ShutdownCause::RangeComplete { .. } => {
                    ExitStatus::Clean
                }
                ShutdownCause::Failed { reason } => ExitStatus::Failed {
                    reason: reason.clone(),
                },
            };
            s.exit.get_or_insert(status);
            Step::Stay
        }
        Event::ShutdownRequested { signal } => {
            tracing::info!(%signal, "already shutting down (Ctrl-C again forces exit)");
            Step::Stay
        }
        Event::Fatal(e) if e.worker == SHUTDOWN_WORKER => {
            // The shutdown worker will not send `Stopped`: exit now, with the failure.
            s.exit.get_or_insert(ExitStatus::Failed {
                reason: format!("shutdown did not complete: {e}"),
            });
            Step::Stay
        }
        Event::Fatal(e) => {
            // The cause stays what it was; a failure while stopping is still worth a line.
            tracing::error!(error = %e, "worker failed while shutting down");
            Step::Stay
        }
        other => ignored(Phase::ShuttingDown, other),
    }
}
