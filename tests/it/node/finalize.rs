//! The finalizing worker on a real store: dirty shards are compacted, only complete shards below
//! the safe point are sealed, and `Finalized` reports the last contiguous block. A huge
//! persisted `head_seen` (a liar's, from an earlier run) is only a hint: neither the finalizer
//! nor the head tracker trusts it.

use histd::daemon::event::{self, Event};
use histd::daemon::node::finalize;
use histd::daemon::{FinalizePlan, SyncMode};
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
    let plan = FinalizePlan { switch_tip: None };
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
