//! Running: the superstate over every phase but ShuttingDown (Startup, and Syncing's FastSync,
//! Finalizing, Follow); what all of them do alike is written once here.
//!
//! Transitions: `Fatal` ⇒ ShuttingDown (from any running phase; ShuttingDown handles its own).
//! Head reports feed the head state in every running phase: in FastSync they move the fast-sync
//! target (the safe head); in Finalizing nothing reads the target, so it is frozen while the
//! tracker goes on; in Follow they are the head the follow worker chases. Any other event that
//! reaches this superstate is no business of the current phase and is only logged. It must never
//! handle an event whose meaning depends on the phase: that belongs to the phase or to Syncing.

use super::{Shared, Step, Target, ignored};
use crate::daemon::event::Event;
use crate::daemon::workers::ShutdownCause;

/// Events deferred by a running phase (directly, or through Syncing).
pub fn on_event(s: &mut Shared, event: &Event) -> Step {
    match event {
        Event::Fatal(e) => Step::Go(
            Target::ShuttingDown(ShutdownCause::Failed {
                reason: e.to_string(),
            }),
            format!("fatal: {e}"),
        ),
        Event::HeadAdvanced { head_seen } => {
            s.observe_head(*head_seen);
            Step::Stay
        }
        other => ignored(s.phase, other),
    }
}
