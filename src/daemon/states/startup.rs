//! Startup: start the peer pool, the head tracker (follow mode) and the startup worker; wait for
//! peers.
//!
//! Transitions: `PeersReady` ⇒ FastSync; `ShutdownRequested` ⇒ ShuttingDown; everything else goes
//! to the Running superstate (`Fatal` ⇒ ShuttingDown, head reports). It must never start syncing
//! itself.

use super::{Shared, Step, Target};
use crate::daemon::event::Event;
use crate::daemon::intent::SyncMode;
use crate::daemon::workers::{ShutdownCause, WorkerSlot};

/// Entry: the long-running services first (peer pool; head tracker only in follow mode: range
/// mode has no head tracking), then the startup worker.
pub fn enter(s: &mut Shared, worker: &mut WorkerSlot) {
    let ctx = s.side_context();
    let pool = s.workers.start_peer_pool(ctx);
    s.peer_pool.fill(pool, &mut s.stopped);
    if s.settings.mode == SyncMode::Follow {
        let ctx = s.side_context();
        let tracker = s.workers.start_head_tracker(ctx);
        s.head_tracker.fill(tracker, &mut s.stopped);
    }
    let ctx = s.worker_context();
    worker.fill(s.workers.start_startup(ctx), &mut s.stopped);
}

/// Events in Startup.
pub fn on_event(s: &mut Shared, event: &Event) -> Step {
    match event {
        Event::PeersReady { peers, best_head } => {
            s.observe_head(*best_head);
            Step::Go(
                Target::FastSync,
                format!("{peers} peers ready, best head {best_head}"),
            )
        }
        Event::ShutdownRequested { signal } => Step::Go(
            Target::ShuttingDown(ShutdownCause::Requested { signal: *signal }),
            format!("{signal} before sync started"),
        ),
        _ => Step::Super,
    }
}
