//! `StorageHistory`: what a node serves to peers comes from its real store. Blocks are written to
//! a real redb + shard directory, a real RLPx session (loopback) asks for them, and the answers
//! must equal the chain (headers by number and hash, skip, reverse, stop at a gap; bodies;
//! receipts), and nothing we do not have. The genesis header the node announces is served from the
//! chain spec when the spec carries it, stored or not.

use std::sync::Arc;

use alloy_primitives::{B256, hex};
use histd::daemon::node::history::StorageHistory;
use histd::p2p::chain::ChainSpec;
use histd::p2p::eth::{BlockHashOrNumber, GetBlockHeaders};
use histd::p2p::node_key::NodeKey;
use histd::p2p::session::{PeerConfig, SessionHandle};
use histd::primitives::BlockNumber;
use histd::storage::{OpenOptions, Retention, Storage, TxRetention};
use histd::testkit::pool::{TestChain, TestPeer};

fn open(dir: &std::path::Path, chain: &TestChain, tx: TxRetention) -> Storage {
    Storage::open(
        dir,
        OpenOptions {
            chain_id: chain.spec.chain_id,
            genesis_hash: chain.spec.genesis_hash,
            shard_size: 16,
            retention: Retention { transactions: tx },
        },
    )
    .unwrap()
}

/// A peer serving `storage`, a second peer, and its session to the first.
async fn serve(
    chain: &TestChain,
    head: u64,
    storage: Storage,
) -> (TestPeer, TestPeer, SessionHandle) {
    let server = TestPeer::start(
        chain.inputs_at(head),
        Arc::new(StorageHistory::new(Arc::new(storage), &chain.spec)),
    )
    .await;
    let client = TestPeer::start_with(
        PeerConfig::new(NodeKey::random(), chain.inputs_at(0)),
        Arc::new(histd::p2p::session::EmptyHistory),
    )
    .await;
    let session = client.dial(server.record).await.unwrap();
    (server, client, session)
}

fn by_number(start: u64, limit: u64, skip: u64, reverse: bool) -> GetBlockHeaders {
    GetBlockHeaders {
        start: BlockHashOrNumber::Number(BlockNumber(start)),
        limit,
        skip,
        reverse,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_gets_exactly_what_the_store_holds() {
    let chain = TestChain::new(81, 40);
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), &chain, TxRetention::Full);
    // 0 ..= 29 and 32 ..= 39 stored (a gap at 30, 31); the first shards compacted into
    // segments, the rest still in the WAL: both read paths serve.
    storage.put_unordered(&chain.blocks[..30]).unwrap();
    storage.compact_dirty().unwrap();
    storage.put_unordered(&chain.blocks[32..]).unwrap();
    let (_server, _client, s) = serve(&chain, 29, storage).await;
    let header = |n: usize| chain.blocks[n].header().clone();

    let got = s.get_headers(by_number(3, 5, 0, false)).await.unwrap();
    assert_eq!(got, (3..8).map(header).collect::<Vec<_>>());
    let got = s.get_headers(by_number(20, 4, 2, true)).await.unwrap();
    assert_eq!(got, [20, 17, 14, 11].map(header).to_vec());
    // Stops at the first block we do not have.
    let got = s.get_headers(by_number(26, 10, 0, false)).await.unwrap();
    assert_eq!(got, (26..30).map(header).collect::<Vec<_>>());
    let got = s
        .get_headers(GetBlockHeaders {
            start: BlockHashOrNumber::Hash(chain.blocks[33].hash()),
            limit: 3,
            skip: 0,
            reverse: false,
        })
        .await
        .unwrap();
    assert_eq!(got, (33..36).map(header).collect::<Vec<_>>());
    let got = s
        .get_headers(GetBlockHeaders {
            start: BlockHashOrNumber::Hash(chain.blocks[30].hash()),
            limit: 3,
            skip: 0,
            reverse: false,
        })
        .await
        .unwrap();
    assert!(got.is_empty(), "block 30 is not stored");

    let hashes: Vec<B256> = [1usize, 15, 16, 35]
        .iter()
        .map(|&n| chain.blocks[n].hash())
        .collect();
    let bodies = s.get_bodies(hashes.clone()).await.unwrap();
    let want: Vec<_> = [1usize, 15, 16, 35]
        .iter()
        .map(|&n| chain.blocks[n].body().clone())
        .collect();
    assert_eq!(bodies, want);
    let receipts = s.get_receipts(hashes).await.unwrap();
    let want: Vec<_> = [1usize, 15, 16, 35]
        .iter()
        .map(|&n| chain.blocks[n].receipts().to_vec())
        .collect();
    assert_eq!(receipts, want);

    // The answer ends at the first block we do not have.
    let hashes = vec![
        chain.blocks[2].hash(),
        chain.blocks[31].hash(),
        chain.blocks[3].hash(),
    ];
    assert_eq!(s.get_bodies(hashes.clone()).await.unwrap().len(), 1);
    assert_eq!(s.get_receipts(hashes).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_keeping_only_transaction_hashes_serves_no_bodies() {
    let chain = TestChain::new(82, 10);
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), &chain, TxRetention::Hashes);
    storage.put_unordered(&chain.blocks).unwrap();
    let (_server, _client, s) = serve(&chain, 9, storage).await;
    let hashes: Vec<B256> = chain.blocks[1..4].iter().map(|b| b.hash()).collect();
    assert_eq!(
        s.get_headers(by_number(0, 10, 0, false))
            .await
            .unwrap()
            .len(),
        10
    );
    assert!(
        s.get_bodies(hashes.clone()).await.unwrap().is_empty(),
        "bodies cannot be rebuilt from hashes: none served"
    );
    assert_eq!(s.get_receipts(hashes).await.unwrap().len(), 3);
}

/// `chain` with a custom spec built from its genesis header (as a `genesis_header` spec file
/// gives), so the spec carries block 0's header.
fn with_genesis_header_spec(mut chain: TestChain) -> TestChain {
    let rlp = hex::encode_prefixed(alloy_rlp::encode(chain.blocks[0].header()));
    let spec = ChainSpec::from_toml_str(&format!(
        "name = \"genesis-served\"\nchain_id = {}\ntotal_difficulty = \"0x1\"\ngenesis_header = \"{rlp}\"\n",
        chain.spec.chain_id
    ))
    .unwrap();
    assert_eq!(spec.genesis_hash, chain.blocks[0].hash());
    assert!(spec.genesis_header().is_some());
    chain.spec = spec;
    chain
}

fn by_hash(hash: B256, limit: u64, reverse: bool) -> GetBlockHeaders {
    GetBlockHeaders {
        start: BlockHashOrNumber::Hash(hash),
        limit,
        skip: 0,
        reverse,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_announced_genesis_header_is_served_from_the_spec() {
    let chain = with_genesis_header_spec(TestChain::new(83, 10));
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), &chain, TxRetention::Full);
    // Block 0 is not stored; 1 ..= 3 and 6 ..= 9 are.
    storage.put_unordered(&chain.blocks[1..4]).unwrap();
    storage.put_unordered(&chain.blocks[6..]).unwrap();
    let (_server, _client, s) = serve(&chain, 3, storage).await;
    let header = |n: usize| chain.blocks[n].header().clone();
    let genesis = chain.blocks[0].hash();

    let got = s.get_headers(by_number(0, 1, 0, false)).await.unwrap();
    assert_eq!(got, vec![header(0)]);
    let got = s.get_headers(by_hash(genesis, 1, false)).await.unwrap();
    assert_eq!(got, vec![header(0)]);
    // Genesis joins the stored blocks after it, and ends a reverse walk, by number or hash.
    let got = s.get_headers(by_number(0, 10, 0, false)).await.unwrap();
    assert_eq!(got, (0..4).map(header).collect::<Vec<_>>());
    let got = s.get_headers(by_hash(genesis, 10, false)).await.unwrap();
    assert_eq!(got, (0..4).map(header).collect::<Vec<_>>());
    let got = s.get_headers(by_number(3, 10, 0, true)).await.unwrap();
    assert_eq!(got, [3, 2, 1, 0].map(header).to_vec());
    let got = s.get_headers(by_number(0, 3, 2, false)).await.unwrap();
    assert_eq!(got, [0, 3, 6].map(header).to_vec());
    // Only block 0 comes from the spec: the gap at 4 still ends the answer.
    let got = s.get_headers(by_number(2, 10, 0, false)).await.unwrap();
    assert_eq!(got, (2..4).map(header).collect::<Vec<_>>());
    // Headers only: the genesis body and receipts are not stored, so not served.
    assert!(s.get_bodies(vec![genesis]).await.unwrap().is_empty());
    assert!(s.get_receipts(vec![genesis]).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_with_only_the_genesis_hash_serves_genesis_only_when_stored() {
    // TestChain's spec is built from the hash alone, like the built-in chains.
    let chain = TestChain::new(84, 6);
    assert!(chain.spec.genesis_header().is_none());
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), &chain, TxRetention::Full);
    storage.put_unordered(&chain.blocks[1..]).unwrap();
    let (_server, _client, s) = serve(&chain, 5, storage).await;
    assert!(
        s.get_headers(by_number(0, 3, 0, false))
            .await
            .unwrap()
            .is_empty()
    );
    let got = s
        .get_headers(by_hash(chain.blocks[0].hash(), 3, false))
        .await
        .unwrap();
    assert!(got.is_empty());
}
