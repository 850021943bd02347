//! Syncing: the superstate over the phases that move blocks (FastSync, Finalizing, Follow), nested
//! in Running; their shared handling of worker progress and peer loss is written once here.
//!
//! Transitions: none of its own; everything it does not handle goes on to Running. Startup is not
//! part of it: its worker is itself waiting for `min_peers`, so peer loss there is no news, and it
//! stores nothing, so it reports no progress.

use super::{Shared, Step};
use crate::daemon::event::Event;

/// Events deferred by FastSync, Finalizing or Follow.
pub fn on_event(s: &mut Shared, event: &Event) -> Step {
    match event {
        Event::Progress { last_indexed } => {
            s.observe_progress(*last_indexed);
            Step::Stay
        }
        Event::PeersLost { peers } => {
            // The workers keep their place and wait for peers; nothing to decide here.
            tracing::warn!(
                phase = %s.phase,
                peers,
                "peers lost; workers wait for peers to return"
            );
            Step::Stay
        }
        _ => Step::Super,
    }
}
