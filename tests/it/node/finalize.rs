//! The finalizing worker on a real store: dirty shards are compacted, only complete shards below
//! the safe point are sealed, and `Finalized` reports the last contiguous block.

use std::sync::Arc;

use histd::daemon::event::{self, Event};
use histd::daemon::node::finalize;
use histd::daemon::node::open::Opened;
use histd::daemon::{FinalizePlan, SyncMode};
use histd::p2p::node_key::NodeKey;
use histd::primitives::BlockNumber;
use histd::storage::{OpenOptions, Retention, ShardState, Storage};
use histd::testkit::pool::TestChain;

fn opened(dir: &std::path::Path, chain: &TestChain) -> Arc<Opened> {
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
    Arc::new(Opened {
        spec: chain.spec.clone(),
        storage: Arc::new(storage),
        key: NodeKey::random(),
    })
}

async fn finalize(node: Arc<Opened>, mode: SyncMode, window: u64) -> Event {
    let (tx, mut rx) = event::channel();
    let plan = FinalizePlan { switch_tip: None };
    finalize::run(Some(node), vec![], mode, window, plan, tx)
        .await
        .unwrap();
    rx.recv().await.unwrap()
}

#[tokio::test]
async fn range_mode_seals_complete_shards_up_to_the_end_block() {
    let chain = TestChain::new(91, 40);
    let dir = tempfile::tempdir().unwrap();
    let node = opened(dir.path(), &chain);
    let ev = finalize(
        node.clone(),
        SyncMode::Range {
            end: BlockNumber(39),
        },
        64,
    )
    .await;
    assert_eq!(
        ev,
        Event::Finalized {
            last_indexed: BlockNumber(39)
        }
    );
    let s = &node.storage;
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
    node.storage.set_head_seen(BlockNumber(39)).unwrap();
    let ev = finalize(node.clone(), SyncMode::Follow, 20).await;
    assert_eq!(
        ev,
        Event::Finalized {
            last_indexed: BlockNumber(39)
        }
    );
    let s = &node.storage;
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
