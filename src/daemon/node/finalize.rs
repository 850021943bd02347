//! The finalizing worker: compacts dirty shards and seals the complete ones below the safe point,
//! then reports `Finalized`.
//!
//! Owns choosing what may be sealed: only shards entirely at or below the end block (range mode)
//! or the safe head (`head_seen − rollback_window`, follow mode), since a sealed shard cannot be
//! rolled back. `head_seen` there is this run's live value from the peer pool, never the persisted
//! one (a hint that a liar may have raised in an earlier run). The work is one write through the
//! [`StoreHandle`] (so no other writer runs meanwhile). It never fetches and never decides phases.

use crate::daemon::event::{Event, EventSender};
use crate::daemon::intent::SyncMode;
use crate::daemon::workers::{FinalizePlan, StoppedWorker, WorkerError};
use crate::primitives::BlockNumber;
use crate::storage::{StoreError, StoreHandle};

/// The highest block whose shard may be sealed now, if any.
pub fn seal_bound(
    mode: SyncMode,
    head_seen: Option<BlockNumber>,
    rollback_window: u64,
) -> Option<BlockNumber> {
    match mode {
        SyncMode::Range { end } => Some(end),
        SyncMode::Follow => head_seen
            .and_then(|h| h.get().checked_sub(rollback_window))
            .map(BlockNumber),
    }
}

fn failed(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> WorkerError {
    WorkerError::Failed {
        context: context.to_string(),
        source: Box::new(e),
    }
}

/// Compact, seal, report. `store` is `None` when storage never opened (nothing to finalize);
/// `head_seen` is the pool's live head of this run (`None`: no live evidence, nothing sealed in
/// follow mode).
pub async fn run(
    store: Option<StoreHandle>,
    previous: Vec<StoppedWorker>,
    mode: SyncMode,
    head_seen: Option<BlockNumber>,
    rollback_window: u64,
    plan: FinalizePlan,
    events: EventSender,
) -> Result<(), WorkerError> {
    // Nothing may still be writing when we compact.
    StoppedWorker::join_all(previous).await;
    let Some(store) = store else {
        return Err(WorkerError::Failed {
            context: "finalizing".into(),
            source: "the data directory was never opened".into(),
        });
    };
    let finalized = store
        .write("finalizing", move |s| {
            let compacted = s
                .compact_dirty()
                .map_err(|e| failed("compacting dirty shards", e))?;
            let sealed = match seal_bound(mode, head_seen, rollback_window) {
                Some(bound) => s
                    .seal_complete(bound)
                    .map_err(|e| failed("sealing complete shards", e))?,
                None => Vec::new(),
            };
            let last = s
                .last_contiguous()
                .map_err(|e| failed("reading the last stored block", e))?;
            Ok::<_, WorkerError>((compacted.len(), sealed, last))
        })
        .await;
    let (compacted, sealed, last) = match finalized {
        Ok(done) => done,
        Err(StoreError::Storage { source, .. }) => return Err(source),
        Err(e) => return Err(failed("finalizing", e)),
    };
    tracing::info!(
        compacted,
        sealed = sealed.len(),
        first_sealed = sealed.first().copied(),
        last_sealed = sealed.last().copied(),
        switch_tip = plan.switch_tip.map(BlockNumber::get),
        "finalized"
    );
    let last_indexed = last.or(plan.switch_tip).unwrap_or(BlockNumber(0));
    events.send(Event::Finalized { last_indexed }).await;
    Ok(())
}
