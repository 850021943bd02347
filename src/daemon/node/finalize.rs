//! The finalizing worker: compacts dirty shards and seals the complete ones below the safe point,
//! then reports `Finalized` with the last block storage holds contiguously.
//!
//! Owns choosing what may be sealed: only shards entirely at or below the end block (range mode)
//! or the safe head (`head_seen − rollback_window`, follow mode), since a sealed shard cannot be
//! rolled back. `head_seen` there is this run's live value from the peer pool, never the persisted
//! one (a hint that a liar may have raised in an earlier run). The work is one write through the
//! [`StoreHandle`] (so no other writer runs meanwhile). One shard that cannot be compacted (a
//! storage fault) is reported and skipped; it never stops the others. At the end it logs the one
//! structured boundary line (`finalizing done`) and sets the dirty-shard, WAL and sealed-shard
//! gauges before and after. It must never fetch and never decide phases.

use std::time::{Duration, Instant};

use crate::daemon::event::{Event, EventSender};
use crate::daemon::intent::{AfterFinalize, ExitAfterFinalize, SyncMode};
use crate::daemon::workers::{FinalizePlan, StoppedWorker, WorkerError};
use crate::primitives::BlockNumber;
use crate::storage::{CompactFailure, ShardState, Storage, StoreError, StoreHandle};

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

/// Dirty shards, their WAL bytes and sealed shards, as storage says now.
fn dirty(s: &Storage) -> Result<(u64, u64, u64), WorkerError> {
    let stats = s
        .stats()
        .map_err(|e| failed("reading the shard states", e))?;
    let count = |f: fn(ShardState) -> bool| stats.shards.iter().filter(|sh| f(sh.state)).count();
    let dirty = count(ShardState::awaits_compaction) as u64;
    let sealed = count(|st| st == ShardState::Sealed) as u64;
    Ok((dirty, stats.wal_bytes, sealed))
}

/// The dirty-shard, WAL and sealed-shard gauges.
fn publish_dirty((shards, wal_bytes, sealed): (u64, u64, u64)) {
    metrics::gauge!(crate::metrics::DIRTY_SHARDS).set(shards as f64);
    metrics::gauge!(crate::metrics::WAL_BYTES).set(wal_bytes as f64);
    metrics::gauge!(crate::metrics::SEALED_SHARDS).set(sealed as f64);
}

/// A block number for the boundary line, `none` when unknown: every field is always there, so
/// the line reads (and greps) the same in every run.
fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "none".to_string(), |n| n.to_string())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What the write under the store's writer did.
struct Done {
    before: (u64, u64, u64),
    after: (u64, u64, u64),
    compacted: usize,
    failed: Vec<CompactFailure>,
    sealed: Vec<u64>,
    last: Option<BlockNumber>,
    compact_ms: u64,
    seal_ms: u64,
}

/// Compact, seal, report. `store` is `None` when storage never opened (nothing to finalize);
/// `head_seen` is the pool's live head of this run (`None`: no live evidence, nothing sealed in
/// follow mode).
///
/// A shard whose compaction fails (its blocks do not hash-link: a storage fault) is reported, in
/// the boundary line and a WARN naming the remedy, and skipped by sealing; every other shard is
/// still compacted and sealed. The boundary line (message `finalizing done`) is the one
/// structured record of the fast-sync → follow/exit boundary.
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
    let drain = Instant::now();
    StoppedWorker::join_all(previous).await;
    let drain_ms = ms(drain.elapsed());
    let Some(store) = store else {
        return Err(WorkerError::Failed {
            context: "finalizing".into(),
            source: "the data directory was never opened".into(),
        });
    };
    let finalized = store
        .write("finalizing", move |s| {
            let before = dirty(s)?;
            publish_dirty(before);
            let started = Instant::now();
            let report = s
                .compact_dirty()
                .map_err(|e| failed("compacting dirty shards", e))?;
            let compact_ms = ms(started.elapsed());
            let started = Instant::now();
            let sealed = match seal_bound(mode, head_seen, rollback_window) {
                Some(bound) => s
                    .seal_complete_except(bound, &report.failed_shards())
                    .map_err(|e| failed("sealing complete shards", e))?,
                None => Vec::new(),
            };
            let seal_ms = ms(started.elapsed());
            let after = dirty(s)?;
            publish_dirty(after);
            let last = s
                .last_contiguous()
                .map_err(|e| failed("reading the last stored block", e))?;
            Ok::<_, WorkerError>(Done {
                before,
                after,
                compacted: report.compacted.len(),
                failed: report.failed,
                sealed,
                last,
                compact_ms,
                seal_ms,
            })
        })
        .await;
    let done = match finalized {
        Ok(done) => done,
        Err(StoreError::Storage { source, .. }) => return Err(source),
        Err(e) => return Err(failed("finalizing", e)),
    };
    let failed_shards: Vec<u64> = done.failed.iter().map(|f| f.shard).collect();
    for f in &done.failed {
        tracing::warn!(
            shard = f.shard,
            broken_link = f.is_broken_link(),
            error = %f.error,
            "shard left dirty: its compaction failed (the others were compacted); stop histd and run `histd db repair --drop-broken` to drop its blocks so fast-sync fetches them again"
        );
    }
    let intent = *plan.intent.borrow();
    // What storage holds, never the switch tip: blocks below it may be missing (a stop during
    // fast-sync), and follow starts after this.
    let last_indexed = done.last;
    tracing::info!(
        follow_after = intent == AfterFinalize::Follow,
        shutdown_requested = matches!(
            intent,
            AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested { .. })
        ),
        switch_tip = %opt(plan.switch_tip.map(BlockNumber::get)),
        last_indexed = %opt(last_indexed.map(BlockNumber::get)),
        head_seen = %opt(head_seen.map(BlockNumber::get)),
        safe_head = %opt(head_seen.and_then(|h| h.get().checked_sub(rollback_window))),
        dirty_shards = done.before.0,
        total_wal_mib = done.before.1 as f64 / (1024.0 * 1024.0),
        dirty_shards_after = done.after.0,
        compacted = done.compacted,
        failed_shards = ?failed_shards,
        sealed = done.sealed.len(),
        first_sealed = %opt(done.sealed.first().copied()),
        last_sealed = %opt(done.sealed.last().copied()),
        drain_workers_ms = drain_ms,
        compact_all_dirty_ms = done.compact_ms,
        seal_completed_ms = done.seal_ms,
        "finalizing done"
    );
    // Nothing stored: block 0 (genesis, never stored) is the last "indexed" one, so follow
    // starts at block 1 rather than above a gap.
    let last_indexed = last_indexed.unwrap_or(BlockNumber::ZERO);
    events.send(Event::Finalized { last_indexed }).await;
    Ok(())
}
