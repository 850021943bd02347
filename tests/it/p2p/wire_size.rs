//! The size an answer arrives with is the message the peer sent: a real session fetching
//! mainnet-like blocks from a testnet peer, whose own session counts every answer it sends. The
//! receiving side reports the same RLP size (after snappy) and the same RLPx frame data size,
//! so the fetch counters and the request sizing see what crossed the wire, not a re-measure of
//! decoded items.

use std::time::Duration;

use alloy_primitives::B256;
use alloy_rlp::Encodable;
use histd::p2p::eth::{BlockHashOrNumber, GetBlockHeaders};
use histd::p2p::session::WireSize;
use histd::primitives::BlockNumber;
use histd::testkit::testnet::{ChainKind, Testnet, TestnetConfig, client_session};

const BLOCKS: u64 = 48;

#[tokio::test]
async fn answer_sizes_are_the_messages_the_peer_sent() {
    let net = Testnet::start(TestnetConfig::new(ChainKind::Mainnet, BLOCKS, 1))
        .await
        .expect("testnet");
    let peer = client_session(&net.spec, net.peers[0].enode, Duration::from_secs(10)).await;
    peer.head().await.expect("head");
    let before = net.peers[0].counts();

    let headers = peer
        .get_headers_sized(GetBlockHeaders {
            start: BlockHashOrNumber::Number(BlockNumber(1)),
            limit: BLOCKS,
            skip: 0,
            reverse: false,
        })
        .await
        .expect("headers");
    assert_eq!(headers.items.len() as u64, BLOCKS);
    let hashes: Vec<B256> = headers.items.iter().map(|h| h.hash_slow()).collect();

    // Answers are capped at about 2 MiB, so the blocks come in several prefixes: sum them.
    let (mut blocks, mut decoded, mut answers) = (WireSize::default(), 0u64, 0u64);
    let mut got = 0;
    while got < hashes.len() {
        let a = peer
            .get_bodies_sized(hashes[got..].to_vec())
            .await
            .expect("bodies");
        assert!(!a.items.is_empty(), "an honest peer makes progress");
        got += a.items.len();
        decoded += a.items.iter().map(|b| b.length() as u64).sum::<u64>();
        blocks.add(a.size);
        answers += 1;
    }
    let mut got = 0;
    while got < hashes.len() {
        let a = peer
            .get_receipts_sized(hashes[got..].to_vec())
            .await
            .expect("receipts");
        assert!(!a.items.is_empty(), "an honest peer makes progress");
        got += a.items.len();
        blocks.add(a.size);
        answers += 1;
    }

    let after = net.peers[0].counts();
    assert_eq!(
        headers.size.rlp,
        after.header_bytes_sent - before.header_bytes_sent
    );
    assert_eq!(
        headers.size.frame,
        after.header_frame_bytes_sent - before.header_frame_bytes_sent
    );
    assert_eq!(blocks.rlp, after.block_bytes_sent - before.block_bytes_sent);
    assert_eq!(
        blocks.frame,
        after.block_frame_bytes_sent - before.block_frame_bytes_sent
    );
    assert!(answers > 2, "several prefixes: {answers}");
    // The RLP holds the items plus a few bytes of framing per message (request id, lists).
    assert!(blocks.rlp > decoded, "{blocks:?} vs {decoded}");
    // Snappy shrinks real block data: the frames are smaller than the RLP they carry.
    assert!(blocks.frame > 0 && blocks.frame < blocks.rlp, "{blocks:?}");
}
