//! The finalizing worker on a real store: dirty shards are compacted, only complete shards below
//! the safe point are sealed, and `Finalized` reports the last contiguous block. A huge
//! persisted `head_seen` (a liar's, from an earlier run) is only a hint: neither the finalizer
//! nor the head tracker trusts it. A shard whose blocks do not hash-link is reported and skipped,
//! never stopping the others; the boundary line carries every field.

use histd::daemon::event::{self, Event};
use histd::daemon::node::finalize;
use histd::daemon::{AfterFinalize, ExitAfterFinalize, FinalizePlan, StopSignal, SyncMode};
use histd::primitives::BlockNumber;
use histd::storage::{OpenOptions, Retention, ShardState, Storage, StoreHandle};
use histd::testkit::pool::TestChain;

fn opened(dir: &std::path::Path, chain: &TestChain) -> StoreHandle {
    let storage = Storage::open(
        dir,
        OpenOptions {
            chain_id: chain.spec.chain_id,
            genesis_hash: chain.spec.genesis_hash,
            shard_size: 16,
            retention: Retention::default(),
        },
    )
    .unwrap();
    storage.put_unordered(&chain.blocks).unwrap();
    StoreHandle::new(storage)
}

/// Finalizes, then closes the store and opens it again (the lock must be free at once) for the
/// checks.
async fn finalize(
    store: StoreHandle,
    dir: &std::path::Path,
    mode: SyncMode,
    head_seen: Option<BlockNumber>,
    window: u64,
) -> (Event, Storage) {
    let (tx, mut rx) = event::channel();
    let plan = FinalizePlan::fixed(None, AfterFinalize::Follow);
    finalize::run(
        Some(store.clone()),
        vec![],
        mode,
        head_seen,
        window,
        plan,
        tx,
    )
    .await
    .unwrap();
    store.close().await;
    (
        rx.recv().await.unwrap(),
        Storage::open_existing(dir).unwrap(),
    )
}

#[tokio::test]
async fn range_mode_seals_complete_shards_up_to_the_end_block() {
    let chain = TestChain::new(91, 40);
    let dir = tempfile::tempdir().unwrap();
    let node = opened(dir.path(), &chain);
    let (ev, s) = finalize(
        node,
        dir.path(),
        SyncMode::Range {
            end: BlockNumber(39),
        },
        None,
        64,
    )
    .await;
    assert_eq!(
        ev,
        Event::Finalized {
            last_indexed: BlockNumber(39)
        }
    );
    assert_eq!(
        s.shard_state(s.shard_of(BlockNumber(0))).unwrap(),
        ShardState::Sealed
    );
    assert_eq!(
        s.shard_state(s.shard_of(BlockNumber(16))).unwrap(),
        ShardState::Sealed
    );
    // 32 ..= 39 is partial: compacted, never sealed.
    assert_eq!(
        s.shard_state(s.shard_of(BlockNumber(32))).unwrap(),
        ShardState::Sorted
    );
}

#[tokio::test]
async fn follow_mode_seals_only_shards_below_the_safe_head() {
    let chain = TestChain::new(92, 40);
    let dir = tempfile::tempdir().unwrap();
    let node = opened(dir.path(), &chain);
    // head_seen 39, window 20: safe head 19, so only shard 0 (0 ..= 15) may be sealed.
    node.write("persisting head_seen", |s| s.set_head_seen(BlockNumber(39)))
        .await
        .unwrap();
    let (ev, s) = finalize(
        node,
        dir.path(),
        SyncMode::Follow,
        Some(BlockNumber(39)),
        20,
    )
    .await;
    assert_eq!(
        ev,
        Event::Finalized {
            last_indexed: BlockNumber(39)
        }
    );
    assert_eq!(
        s.shard_state(s.shard_of(BlockNumber(0))).unwrap(),
        ShardState::Sealed
    );
    assert_eq!(
        s.shard_state(s.shard_of(BlockNumber(16))).unwrap(),
        ShardState::Sorted
    );
    assert_eq!(
        s.shard_state(s.shard_of(BlockNumber(32))).unwrap(),
        ShardState::Sorted
    );
}

#[test]
fn without_a_known_head_follow_mode_seals_nothing() {
    assert_eq!(finalize::seal_bound(SyncMode::Follow, None, 64), None);
    assert_eq!(
        finalize::seal_bound(SyncMode::Follow, Some(BlockNumber(10)), 64),
        None
    );
    assert_eq!(
        finalize::seal_bound(SyncMode::Follow, Some(BlockNumber(100)), 64),
        Some(BlockNumber(36))
    );
}

/// A liar's head persisted by an earlier run (10^15): without a live head nothing is sealed in
/// follow mode, and with one the live head bounds sealing, not the persisted value.
#[tokio::test]
async fn a_huge_persisted_head_seen_does_not_seal_anything() {
    let chain = TestChain::new(93, 40);
    let dir = tempfile::tempdir().unwrap();
    let node = opened(dir.path(), &chain);
    node.write("persisting head_seen", |s| {
        s.set_head_seen(BlockNumber(1_000_000_000_000_000))
    })
    .await
    .unwrap();
    let (_, s) = finalize(node, dir.path(), SyncMode::Follow, None, 20).await;
    for b in [0, 16, 32] {
        assert_ne!(
            s.shard_state(s.shard_of(BlockNumber(b))).unwrap(),
            ShardState::Sealed,
            "shard of block {b}"
        );
    }
    // Live head 39, window 20: only shard 0 (0 ..= 15), as if nothing were persisted.
    let node = StoreHandle::new(s);
    let (_, s) = finalize(
        node,
        dir.path(),
        SyncMode::Follow,
        Some(BlockNumber(39)),
        20,
    )
    .await;
    assert_eq!(
        s.shard_state(s.shard_of(BlockNumber(0))).unwrap(),
        ShardState::Sealed
    );
    assert_eq!(
        s.shard_state(s.shard_of(BlockNumber(16))).unwrap(),
        ShardState::Sorted
    );
}

/// After a restart over a huge persisted `head_seen`, the head tracker still reports the live
/// head the pool confirms (the persisted value is no floor), and never lowers the stored hint.
#[tokio::test]
async fn the_head_tracker_reports_live_heads_below_a_huge_persisted_one() {
    use histd::daemon::node::head_tracker;
    use tokio::sync::watch;
    use tokio_util::sync::CancellationToken;

    let chain = TestChain::new(94, 40);
    let dir = tempfile::tempdir().unwrap();
    let node = opened(dir.path(), &chain);
    let huge = BlockNumber(1_000_000_000_000_000);
    node.write("persisting head_seen", move |s| s.set_head_seen(huge))
        .await
        .unwrap();
    let (heads_tx, heads_rx) = watch::channel(None);
    let (tx, mut rx) = event::channel();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(head_tracker::track(
        node.clone(),
        heads_rx,
        tx,
        cancel.clone(),
    ));
    heads_tx.send_replace(Some(BlockNumber(39)));
    let ev = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a HeadAdvanced in time")
        .unwrap();
    assert_eq!(
        ev,
        Event::HeadAdvanced {
            head_seen: BlockNumber(39)
        }
    );
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(
        node.read("reading head_seen", |s| s.head_seen())
            .await
            .unwrap(),
        Some(huge)
    );
}

/// The `key=value` fields of the one captured log line containing every needle (the process's
/// log is shared by all tests: the needles pick this test's line).
fn logged_fields(needles: &[&str]) -> std::collections::HashMap<String, String> {
    let text = histd::testkit::logs::logs().text();
    let line = text
        .lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with {needles:?} in:\n{text}"));
    line.split_whitespace()
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Two dirty shards and a third, one of them corrupted so its blocks do not hash-link: the
/// others are compacted and sealed, `Finalized` still comes (with what storage holds), and the
/// boundary line names the failed shard and carries every field; a WARN names the remedy.
#[tokio::test]
async fn a_broken_shard_is_reported_and_the_others_are_finalized() {
    let chain = TestChain::new(95, 48);
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(
        dir.path(),
        OpenOptions {
            chain_id: chain.spec.chain_id,
            genesis_hash: chain.spec.genesis_hash,
            shard_size: 16,
            retention: Retention::default(),
        },
    )
    .unwrap();
    // Block 20 (shard 1) swapped for a block of another chain: shard 1 cannot link.
    let other = TestChain::new(96, 48);
    let mut blocks = chain.blocks.clone();
    blocks[20] = other.blocks[20].clone();
    storage.put_unordered(&blocks).unwrap();
    let store = StoreHandle::new(storage);

    histd::testkit::logs::logs();
    let (tx, mut rx) = event::channel();
    let (intent_tx, intent) = tokio::sync::watch::channel(AfterFinalize::Follow);
    // A stop during Finalizing: the line must say what really follows.
    intent_tx.send_replace(AfterFinalize::Exit(ExitAfterFinalize::ShutdownRequested {
        signal: StopSignal::Sigint,
    }));
    let plan = FinalizePlan {
        switch_tip: Some(BlockNumber(47)),
        intent,
    };
    finalize::run(
        Some(store.clone()),
        vec![],
        SyncMode::Follow,
        Some(BlockNumber(100)),
        20,
        plan,
        tx,
    )
    .await
    .unwrap();
    store.close().await;
    assert_eq!(
        rx.recv().await.unwrap(),
        Event::Finalized {
            last_indexed: BlockNumber(47)
        }
    );
    let s = Storage::open_existing(dir.path()).unwrap();
    assert_eq!(s.shard_state(0).unwrap(), ShardState::Sealed);
    assert_eq!(s.shard_state(1).unwrap(), ShardState::Filling);
    assert_eq!(s.shard_state(2).unwrap(), ShardState::Sealed);

    let line = logged_fields(&["finalizing done", "switch_tip=47 "]);
    for field in [
        "follow_after",
        "shutdown_requested",
        "switch_tip",
        "last_indexed",
        "head_seen",
        "safe_head",
        "dirty_shards",
        "total_wal_mib",
        "drain_workers_ms",
        "compact_all_dirty_ms",
        "seal_completed_ms",
        "failed_shards",
    ] {
        assert!(line.contains_key(field), "{field} missing: {line:?}");
    }
    assert_eq!(line["follow_after"], "false", "{line:?}");
    assert_eq!(line["shutdown_requested"], "true", "{line:?}");
    assert_eq!(line["last_indexed"], "47");
    assert_eq!(line["head_seen"], "100");
    assert_eq!(line["safe_head"], "80");
    assert_eq!(line["dirty_shards"], "3");
    assert_eq!(line["dirty_shards_after"], "1");
    assert!(
        line["total_wal_mib"].parse::<f64>().unwrap() > 0.0,
        "{line:?}"
    );
    assert_eq!(line["failed_shards"], "[1]");
    assert_eq!(line["sealed"], "2");
    let warn = logged_fields(&["WARN", "shard left dirty", "shard=1 "]);
    assert_eq!(warn["broken_link"], "true", "{warn:?}");
    let text = histd::testkit::logs::logs().text();
    assert!(
        text.lines()
            .any(|l| l.contains("shard=1 ") && l.contains("--drop-broken")),
        "the WARN names the remedy"
    );
}

/// Nothing stored (a stop before any block arrived) with a switch tip set: `Finalized` reports
/// what storage holds (nothing: block 0), never the switch tip, so follow cannot start above a
/// gap; the boundary line says `last_indexed` is unknown.
#[tokio::test]
async fn with_nothing_stored_last_indexed_is_not_the_switch_tip() {
    let chain = TestChain::new(97, 4);
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(
        dir.path(),
        OpenOptions {
            chain_id: chain.spec.chain_id,
            genesis_hash: chain.spec.genesis_hash,
            shard_size: 16,
            retention: Retention::default(),
        },
    )
    .unwrap();
    let store = StoreHandle::new(storage);
    histd::testkit::logs::logs();
    let (tx, mut rx) = event::channel();
    finalize::run(
        Some(store.clone()),
        vec![],
        SyncMode::Follow,
        None,
        20,
        FinalizePlan::fixed(Some(BlockNumber(500)), AfterFinalize::Follow),
        tx,
    )
    .await
    .unwrap();
    store.close().await;
    assert_eq!(
        rx.recv().await.unwrap(),
        Event::Finalized {
            last_indexed: BlockNumber(0)
        }
    );
    let line = logged_fields(&["finalizing done", "switch_tip=500 "]);
    assert_eq!(line["last_indexed"], "none", "{line:?}");
    assert_eq!(line["follow_after"], "true");
    assert_eq!(line["dirty_shards"], "0");
}
