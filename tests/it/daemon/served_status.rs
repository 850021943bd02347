//! The range our Status announces follows storage after a rollback: a real pool on loopback,
//! serving a real store, with the node's `ServedAnnouncer`. Peers connected before the rollback
//! hear it (eth/69 `BlockRangeUpdate`), and the Status a new session reads (eth/69 range, eth/68
//! best hash) names the block rolled back to, not the abandoned tip. Growth alone still waits for
//! `STEP` blocks.

use std::sync::Arc;
use std::time::Duration;

use histd::daemon::node::history::HandleHistory;
use histd::daemon::node::network::served_range;
use histd::daemon::node::peer_cache::HandlePeerCache;
use histd::daemon::node::served::ServedAnnouncer;
use histd::p2p::discovery::NodeRecord;
use histd::p2p::eth::{BlockRange, EthVersion};
use histd::p2p::node_key::NodeKey;
use histd::p2p::pool::{PeerPool, PoolConfig, PoolDeps, PoolHandle};
use histd::p2p::rlpx::PeerId;
use histd::p2p::session::{EmptyHistory, PeerConfig, SessionHandle};
use histd::primitives::BlockNumber;
use histd::storage::{OpenOptions, Retention, StoreHandle};
use histd::testkit::pool::{TestChain, TestPeer};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// The range of `chain` from 0 to `latest`, as storage reads it.
fn range_to(chain: &TestChain, latest: u64) -> BlockRange {
    let b = &chain.blocks[latest as usize];
    BlockRange {
        earliest: BlockNumber(0),
        latest: b.number(),
        latest_hash: b.hash(),
    }
}

/// Polls `done` until it holds or [`WAIT`] passes.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new peer offering `versions` dials `ours` and returns the Status it read from us.
async fn status_seen_by(
    chain: &TestChain,
    ours: NodeRecord,
    versions: &[EthVersion],
) -> (TestPeer, SessionHandle) {
    let mut config = PeerConfig::new(NodeKey::random(), chain.inputs_at(0));
    config.versions = versions.to_vec();
    let peer = TestPeer::start_with(config, Arc::new(EmptyHistory)).await;
    let session = peer.dial(ours).await.expect("session");
    (peer, session)
}

async fn wait_in_pool(pool: &PoolHandle, id: PeerId) {
    eventually("the peer is in the pool", || {
        pool.snapshot().peers.iter().any(|p| p.id == id)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_rollback_our_status_and_range_updates_name_the_new_tip() {
    let chain = TestChain::new(83, 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let options = OpenOptions {
        chain_id: chain.spec.chain_id,
        genesis_hash: chain.spec.genesis_hash,
        shard_size: 16,
        retention: Retention::default(),
    };
    let store = StoreHandle::open(dir.path(), options).await.expect("open");
    let blocks = chain.blocks.clone();
    store
        .write("storing the test chain", move |s| s.put_unordered(&blocks))
        .await
        .expect("put");
    let spec = chain.spec.clone();
    let served = store
        .read("reading the stored range", move |s| {
            Ok::<_, std::convert::Infallible>(served_range(s, &spec))
        })
        .await
        .expect("range");
    assert_eq!(served, range_to(&chain, 19));

    // Wired as the network worker wires it.
    let (served_now, served_rx) = watch::channel(served);
    let stored_tip = watch::Sender::new(Some(BlockNumber(19)));
    let mut announcer = ServedAnnouncer::new(served_now, stored_tip.subscribe());
    let key = NodeKey::random();
    let mut peer = PeerConfig::new(key.clone(), chain.inputs_claiming(served));
    peer.served_now = Some(served_rx);
    let cancel = CancellationToken::new();
    let pool = PeerPool::spawn(
        PoolConfig::new(10, 1, Some("127.0.0.1:0".parse().expect("addr"))),
        PoolDeps {
            peer,
            provider: Arc::new(HandleHistory::new(store.clone(), &chain.spec)),
            discovered: None,
            cache: Arc::new(HandlePeerCache(store.clone())),
        },
        cancel.clone(),
    )
    .await
    .expect("pool");
    let addr = pool.listen_addr.expect("listening");
    let ours = NodeRecord::new(key.id(), addr.ip(), addr.port());

    let (early, before) = status_seen_by(&chain, ours, &[EthVersion::Eth69]).await;
    assert_eq!(before.snapshot().status.block_range(), Some(served));
    wait_in_pool(&pool.handle, early.id()).await;

    // Rolled back to 10, as follow (or the check at start) does, which then publishes the tip.
    store
        .write("rolling back", |s| s.rollback_to(BlockNumber(10)))
        .await
        .expect("rollback");
    stored_tip.send_replace(Some(BlockNumber(10)));
    let rolled = range_to(&chain, 10);
    announcer.tick(0, &store, &chain.spec, &pool.handle).await;

    eventually("the early peer hears the rollback", || {
        before.snapshot().served == Some(rolled)
    })
    .await;
    let (_late, after) = status_seen_by(&chain, ours, &[EthVersion::Eth69]).await;
    assert_eq!(after.snapshot().status.block_range(), Some(rolled));
    let (_late68, after68) = status_seen_by(&chain, ours, &[EthVersion::Eth68]).await;
    assert_eq!(after68.snapshot().version, EthVersion::Eth68);
    assert_eq!(after68.snapshot().status.best_hash(), rolled.latest_hash);

    // Blocks stored again on top: fewer than STEP, so nothing new is announced yet.
    let again = chain.blocks[11..=12].to_vec();
    store
        .write("storing two blocks", move |s| s.put_unordered(&again))
        .await
        .expect("put");
    stored_tip.send_replace(Some(BlockNumber(12)));
    announcer.tick(2, &store, &chain.spec, &pool.handle).await;
    let (_later, later) = status_seen_by(&chain, ours, &[EthVersion::Eth69]).await;
    assert_eq!(later.snapshot().status.block_range(), Some(rolled));

    cancel.cancel();
    tokio::time::timeout(WAIT, pool.task)
        .await
        .expect("the pool stops in time")
        .expect("the pool task ends normally");
}
