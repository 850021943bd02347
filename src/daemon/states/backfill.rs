//! Backfill: the superstate over FastSync and Finalizing; handling they share is written once here.
//!
//! Transitions: `Fatal` ⇒ ShuttingDown (from either child). A `ShutdownRequested` that reaches the
//! superstate (from Finalizing) downgrades the post-finalize intent and stays. Head reports keep
//! the safe head (the fast-sync target) moving; once in Finalizing nothing reads it, so the target
//! is frozen while the tracker goes on.

use super::{Shared, Step, Target, ignored};
use crate::daemon::event::Event;
use crate::daemon::phase::Phase;
use crate::daemon::workers::ShutdownCause;

/// Events deferred by FastSync or Finalizing.
pub fn on_event(s: &mut Shared, event: &Event) -> Step {
    match event {
        Event::HeadAdvanced { head_seen } => {
            s.observe_head(*head_seen);
            Step::Stay
        }
        Event::Progress { last_indexed } => {
            s.observe_progress(*last_indexed);
            Step::Stay
        }
        Event::ShutdownRequested { signal } => {
            s.intent.downgrade(*signal);
            tracing::info!(%signal, "stop requested while finalizing: will exit after finalizing (Ctrl-C again forces exit)");
            Step::Stay
        }
        Event::PeersLost { peers } => {
            tracing::warn!(
                peers,
                "peers lost during backfill; workers wait for peers to return"
            );
            Step::Stay
        }
        Event::Fatal(e) => Step::Go(
            Target::ShuttingDown(ShutdownCause::Failed {
                reason: e.to_string(),
            }),
            format!("fatal: {e}"),
        ),
        // `Phase::FastSync` names the superstate's children collectively in the debug log.
        other => ignored(Phase::FastSync, other),
    }
}
