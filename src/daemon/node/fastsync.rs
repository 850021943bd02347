//! The fast-sync worker of `histd run`: hands the sync layer what it needs from the node's
//! services and config, and turns its outcome into daemon events.
//!
//! Owns the mapping only: target (range or moving safe head) → [`Target`], the operator's and the
//! chain spec's checkpoints → the anchor's trust list, the contiguous stored tip → periodic
//! `Progress` events (the machine's `last_indexed`, systemd's STATUS), [`Outcome::CaughtUp`] →
//! `CaughtUp`. The pipeline itself is [`crate::sync::fastsync`]; this module never fetches or
//! verifies.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::services::{NodeServices, wait_services};
use crate::config::Config;
use crate::daemon::event::Event;
use crate::daemon::event::EventSender;
use crate::daemon::exit;
use crate::daemon::workers::{FastSyncTarget, WorkerContext, WorkerError};
use crate::primitives::BlockNumber;
use crate::sync::fastsync::{FastSync, Limits, Outcome, Target};

/// How often the machine hears how far the contiguous stored range reaches (when it moved).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The worker's body.
pub async fn run(
    config: Arc<Config>,
    mut services: watch::Receiver<Option<NodeServices>>,
    target: FastSyncTarget,
    ctx: WorkerContext,
) -> Result<(), WorkerError> {
    let Some(services) = wait_services(&mut services, &ctx.cancel).await else {
        return Ok(());
    };
    let (start, target) = match target {
        FastSyncTarget::Range { start, end } => (start, Target::Range(end)),
        FastSyncTarget::SafeHead { start, safe_head } => {
            // A reorg while stopped may have left the stored top on an abandoned branch.
            if !super::follow::preflight(&config, &services, &ctx.cancel, &ctx.events).await? {
                return Ok(());
            }
            (start, Target::SafeHead(safe_head))
        }
    };
    // The operator's checkpoint first, then the chain's own.
    let checkpoints = config
        .sync
        .anchor
        .into_iter()
        .chain(services.spec.checkpoints().iter().copied())
        .collect();
    let sync = FastSync {
        genesis: services.spec.genesis_hash,
        store: services.store.clone(),
        pool: services.pool.clone(),
        start,
        target,
        checkpoints,
        anchor_quorum: config.sync.anchor_quorum as usize,
        stats: services.stats.clone(),
        limits: Limits {
            max_bytes: config.sync.max_inflight_mib * crate::config::MIB,
            headers_ahead: config.sync.headers_ahead,
            ..Limits::default()
        },
        stored_range: Some(services.stored_tip.clone()),
    };
    let progress = report_progress(services.stored_tip.subscribe(), ctx.events.clone());
    let outcome = tokio::select! {
        outcome = sync.run(ctx.cancel.clone()) => outcome,
        never = progress => match never {},
    };
    match outcome {
        Ok(Outcome::CaughtUp { tip }) => {
            ctx.events.send(Event::CaughtUp { tip }).await;
            Ok(())
        }
        Ok(Outcome::Cancelled) => Ok(()),
        Err(e) => {
            let e = WorkerError::Failed {
                context: "fast-sync".into(),
                source: Box::new(e),
            };
            if exit::is_disk_full(&e) {
                log_disk_full(services.store.data_dir());
            }
            Err(e)
        }
    }
}

/// Sends `Progress` with the contiguous stored tip every [`PROGRESS_EVERY`] while it moves; runs
/// until dropped (with the sync it accompanies). A full event queue skips a report rather than
/// hold anything up: the next one carries the newer tip anyway.
async fn report_progress(
    tip: watch::Receiver<Option<BlockNumber>>,
    events: EventSender,
) -> std::convert::Infallible {
    let mut sent = None;
    let mut every = tokio::time::interval(PROGRESS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = *tip.borrow();
        if let Some(last_indexed) = now
            && now != sent
            && events.try_send(Event::Progress { last_indexed })
        {
            sent = now;
        }
    }
}

/// The disk-full policy's one ERROR line (README "Storage"): where, how much is left, what to do.
/// Fast-sync stops instead of retrying, and the run goes straight to ShuttingDown (a `Fatal`):
/// Finalizing would compact, which needs free space. What was committed stays consistent; a
/// restart after freeing space resumes without refetching it. The exit code is 4.
fn log_disk_full(data_dir: &Path) {
    ::metrics::counter!(crate::metrics::DISK_FULL).increment(1);
    let free = crate::storage::free_bytes(data_dir).map_or_else(
        |e| format!("unknown ({e})"),
        |b| format!("{} MiB", b / (1024 * 1024)),
    );
    tracing::error!(
        data_dir = %data_dir.display(),
        free = %free,
        "disk full: fast-sync stopped; free space under the data directory, then restart (nothing committed is lost)"
    );
}
