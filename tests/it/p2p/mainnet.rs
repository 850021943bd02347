//! Real mainnet blocks through a real session: our responder serves the published blocks of
//! `shared/testdata/mainnet/blocks` (mainnet chain spec and fork id), our initiator fetches
//! headers, bodies and receipts over eth/68 and eth/69, and every block verifies
//! (`transactionsRoot`, `ommersHash`, `withdrawalsRoot`, `receiptsRoot`, bloom rebuilt for eth/69).

use std::sync::Arc;

use histd::p2p::chain::{ChainSpec, ForkHead};
use histd::p2p::eth::{BlockHashOrNumber, BlockRange, EthVersion, GetBlockHeaders};
use histd::p2p::node_key::NodeKey;
use histd::p2p::session::{self, EmptyHistory, PeerConfig, SessionConfig, StatusInputs};
use histd::primitives::BlockNumber;
use histd::testkit::history::MemoryHistory;
use histd::testkit::mainnet::load_blocks;
use histd::verify::{SealedHeader, verify_block};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn fetch_and_verify_mainnet_blocks_with_both_versions() {
    let raw = load_blocks();
    let mut history = MemoryHistory::default();
    for b in &raw {
        history.insert(b.header.clone(), b.body.clone(), b.receipts.clone());
    }
    let history = Arc::new(history);
    let last = raw.last().unwrap();
    let spec = ChainSpec::mainnet();
    let status = StatusInputs {
        filter: spec.fork_filter(ForkHead::new(last.header.number, last.header.timestamp)),
        served: BlockRange {
            earliest: BlockNumber(raw[0].header.number),
            latest: BlockNumber(last.header.number),
            latest_hash: last.header.hash_slow(),
        },
        spec,
    };
    for version in EthVersion::ALL {
        let server_cfg = PeerConfig::new(NodeKey::random(), status.clone());
        let mut client_cfg = PeerConfig::new(NodeKey::random(), status.clone());
        client_cfg.versions = vec![version];
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server_id = server_cfg.key.id();
        let provider = history.clone();
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let eth = session::accept(s, &server_cfg).await.unwrap();
            session::spawn(eth, provider, SessionConfig::default())
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let eth = session::dial(tcp, server_id, &client_cfg).await.unwrap();
        assert_eq!(eth.version(), version);
        let (client, _task) = session::spawn(eth, Arc::new(EmptyHistory), SessionConfig::default());
        let _server = server.await.unwrap();

        let head = client.head().await.unwrap();
        assert_eq!(head.number.get(), last.header.number);

        let mut headers = Vec::new();
        for b in &raw {
            let h = client
                .get_headers(GetBlockHeaders {
                    start: BlockHashOrNumber::Hash(b.header.hash_slow()),
                    limit: 1,
                    skip: 0,
                    reverse: false,
                })
                .await
                .unwrap();
            assert_eq!(h.len(), 1);
            headers.push(SealedHeader::seal(h.into_iter().next().unwrap()));
        }
        let hashes: Vec<_> = headers.iter().map(|h| h.hash).collect();
        let bodies = client.get_bodies(hashes.clone()).await.unwrap();
        let receipts = client.get_receipts(hashes).await.unwrap();
        assert_eq!((bodies.len(), receipts.len()), (raw.len(), raw.len()));
        for ((h, b), r) in headers.into_iter().zip(bodies).zip(receipts) {
            let n = h.header.number;
            verify_block(h, b, r).unwrap_or_else(|e| panic!("{version} block {n}: {e}"));
        }
    }
}
