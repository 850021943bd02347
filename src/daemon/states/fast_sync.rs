//! FastSync: backfill up to the target (fixed `end_block`, or the moving safe head).
//!
//! Transitions: `CaughtUp` ⇒ Finalizing; `ShutdownRequested` ⇒ Finalizing with the intent
//! downgraded to exit (never Follow); `ReorgTooDeep` (the restart check of a follow node's stored
//! tip) ⇒ ShuttingDown (error); everything else goes to the Syncing superstate (progress,
//! peer loss) and on to Running (`Fatal` ⇒ ShuttingDown, head reports moving the target).

use super::{Shared, Step, Target};
use crate::daemon::event::Event;
use crate::daemon::intent::SyncMode;
use crate::daemon::workers::{FastSyncTarget, WorkerSlot};

/// Entry: start the fast-sync worker on its target.
pub fn enter(s: &mut Shared, worker: &mut WorkerSlot) {
    let start = s.settings.start_block;
    let target = match s.settings.mode {
        SyncMode::Range { end } => FastSyncTarget::Range { start, end },
        SyncMode::Follow => FastSyncTarget::SafeHead {
            start,
            safe_head: s.head.watch_safe_head(),
        },
    };
    let ctx = s.worker_context();
    worker.fill(s.workers.start_fastsync(ctx, target), &mut s.stopped);
}

/// Events in FastSync.
pub fn on_event(s: &mut Shared, event: &Event) -> Step {
    match event {
        Event::CaughtUp { tip } => {
            s.switch_tip = Some(*tip);
            Step::Go(Target::Finalizing, format!("caught up at block {tip}"))
        }
        Event::ShutdownRequested { signal } => {
            s.intent.downgrade(*signal);
            Step::Go(
                Target::Finalizing,
                format!(
                    "{signal} during fast-sync: finalizing what was written, then exit (Ctrl-C again forces exit)"
                ),
            )
        }
        Event::ReorgTooDeep { depth, limit } => super::follow::reorg_too_deep(*depth, *limit),
        _ => Step::Super,
    }
}
