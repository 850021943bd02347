//! The peer cache across a restart: a pool that found two peers through discovery saves them in
//! the data directory's redb index on shutdown; a new pool on the reopened directory, with no
//! discovery at all, connects to the same two peers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use histd::daemon::node::peer_cache::StoragePeerCache;
use histd::p2p::discovery::dns::resolver::MapResolver;
use histd::p2p::discovery::{DiscoverySettings, start_discovery};
use histd::p2p::node_key::NodeKey;
use histd::p2p::pool::{PeerCache, PeerPool, PoolConfig, PoolDeps};
use histd::p2p::session::{EmptyHistory, PeerConfig};
use histd::storage::{DEFAULT_SHARD_SIZE, OpenOptions, Retention, Storage, TxRetention};
use histd::testkit::pool::{TestChain, TestPeer};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

fn open(dir: &std::path::Path, chain: &TestChain) -> Arc<Storage> {
    let opts = OpenOptions {
        chain_id: chain.spec.chain_id,
        genesis_hash: chain.spec.genesis_hash,
        shard_size: DEFAULT_SHARD_SIZE,
        retention: Retention {
            transactions: TxRetention::Full,
        },
    };
    Arc::new(Storage::open(dir, opts).unwrap())
}

fn config() -> PoolConfig {
    PoolConfig {
        dial_interval: Duration::from_millis(20),
        head_interval: Duration::from_millis(50),
        ..PoolConfig::new(10, 2, None)
    }
}

async fn connected_ids(pool: &histd::p2p::pool::RunningPool, n: usize) -> BTreeSet<[u8; 64]> {
    let mut rx = pool.handle.subscribe();
    let snap = tokio::time::timeout(WAIT, rx.wait_for(|s| s.usable == n))
        .await
        .unwrap_or_else(|_| panic!("{:#?}", pool.handle.snapshot()))
        .unwrap()
        .clone();
    snap.peers.iter().map(|p| p.id.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peer_cache_brings_back_the_previous_peers_without_discovery() {
    let chain = TestChain::new(11, 20);
    let provider = Arc::new(chain.history_to(19));
    let a = TestPeer::start(chain.inputs_at(19), provider.clone()).await;
    let b = TestPeer::start(chain.inputs_at(19), provider).await;
    let dir = tempfile::tempdir().unwrap();
    let key = NodeKey::random();

    // First run: peers come from discovery (static peers of the config, through the real feed).
    let storage = open(dir.path(), &chain);
    let cancel = CancellationToken::new();
    let discovery = start_discovery(
        DiscoverySettings {
            static_peers: vec![a.record, b.record],
            dns: vec![],
            dns_refresh: Duration::from_secs(3600),
            discv4: None,
            capacity: 8,
        },
        MapResolver::new(),
        cancel.clone(),
    )
    .await
    .unwrap();
    let pool = PeerPool::spawn(
        config(),
        PoolDeps {
            peer: PeerConfig::new(key.clone(), chain.inputs_at(0)),
            provider: Arc::new(EmptyHistory),
            discovered: Some(discovery.records),
            cache: Arc::new(StoragePeerCache(storage.clone())),
        },
        cancel.clone(),
    )
    .await
    .unwrap();
    let first = connected_ids(&pool, 2).await;
    cancel.cancel();
    tokio::time::timeout(WAIT, pool.task)
        .await
        .unwrap()
        .unwrap();
    drop(pool.handle);
    let saved = StoragePeerCache(storage.clone()).load().unwrap();
    assert_eq!(saved.len(), 2);
    drop(storage);

    // Second run on the reopened directory: no discovery at all.
    let storage = open(dir.path(), &chain);
    let cancel = CancellationToken::new();
    let pool = PeerPool::spawn(
        config(),
        PoolDeps {
            peer: PeerConfig::new(key, chain.inputs_at(0)),
            provider: Arc::new(EmptyHistory),
            discovered: None,
            cache: Arc::new(StoragePeerCache(storage.clone())),
        },
        cancel.clone(),
    )
    .await
    .unwrap();
    let second = connected_ids(&pool, 2).await;
    assert_eq!(first, second);
    assert_eq!(pool.handle.snapshot().dials, 2);
    assert_eq!(
        (
            a.accepted_eventually(2).await,
            b.accepted_eventually(2).await
        ),
        (2, 2)
    );
    cancel.cancel();
    tokio::time::timeout(WAIT, pool.task)
        .await
        .unwrap()
        .unwrap();
}

fn statics(peers: Vec<histd::p2p::discovery::NodeRecord>) -> DiscoverySettings {
    DiscoverySettings {
        static_peers: peers,
        dns: vec![],
        dns_refresh: Duration::from_secs(3600),
        discv4: None,
        capacity: 8,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_for_bad_data_outlives_a_restart() {
    let chain = TestChain::new(12, 20);
    let provider = Arc::new(chain.history_to(19));
    let liar = TestPeer::start(chain.inputs_at(19), provider.clone()).await;
    let honest = TestPeer::start(chain.inputs_at(19), provider).await;
    let dir = tempfile::tempdir().unwrap();
    let key = NodeKey::random();
    let run = |storage: Arc<Storage>, cancel: CancellationToken| {
        let (key, chain_inputs) = (key.clone(), chain.inputs_at(0));
        let peers = vec![liar.record, honest.record];
        async move {
            let discovery = start_discovery(statics(peers), MapResolver::new(), cancel.clone())
                .await
                .unwrap();
            PeerPool::spawn(
                config(),
                PoolDeps {
                    peer: PeerConfig::new(key, chain_inputs),
                    provider: Arc::new(EmptyHistory),
                    discovered: Some(discovery.records),
                    cache: Arc::new(StoragePeerCache(storage)),
                },
                cancel,
            )
            .await
            .unwrap()
        }
    };

    // First run: both connect; the sync layer reports the liar's data as bad.
    let storage = open(dir.path(), &chain);
    let cancel = CancellationToken::new();
    let pool = run(storage.clone(), cancel.clone()).await;
    connected_ids(&pool, 2).await;
    assert!(
        pool.handle
            .report(liar.id(), histd::p2p::pool::Misbehaviour::BadData)
            .is_some()
    );
    cancel.cancel();
    tokio::time::timeout(WAIT, pool.task)
        .await
        .unwrap()
        .unwrap();
    drop(pool.handle);
    let saved = StoragePeerCache(storage.clone()).load_bans().unwrap();
    assert!(
        saved
            .iter()
            .any(|b| b.target == histd::p2p::pool::saved_bans::BanTarget::Node(liar.id())),
        "{saved:?}"
    );
    drop(storage);

    // Second run on the reopened directory, the liar offered again: only the honest peer.
    let storage = open(dir.path(), &chain);
    let cancel = CancellationToken::new();
    let pool = run(storage, cancel.clone()).await;
    let ids = connected_ids(&pool, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snap = pool.handle.snapshot();
    assert_eq!(ids, BTreeSet::from([honest.id().0]));
    assert!(
        snap.peer(&liar.id()).is_none() && snap.is_banned(&liar.id()),
        "{snap:#?}"
    );
    cancel.cancel();
    tokio::time::timeout(WAIT, pool.task)
        .await
        .unwrap()
        .unwrap();
}
