//! eth/69 (EIP-7642) against an implementation we did not write: `@ethereumjs/devp2p` ships eth/62–68
//! only, so `tests/interop/eth69.mjs` adds eth/69 on its RLPx `Protocol` plug-in (written from the
//! spec), and `peer.mjs --eth 69` offers it next to eth/68. The same fetch checks as the eth/68 tests
//! (`ethereumjs.rs`), in both directions, over histd's real session code:
//!
//! - ethereumjs ↔ ethereumjs first (the JS layer, independently of histd);
//! - below the session: negotiation, histd's eth/69 codec (Status, `BlockRangeUpdate`, receipts)
//!   against the JS layer, and an impossible range refused by it;
//! - histd dials ethereumjs: the head comes from the Status range (no probe), every request shape,
//!   every root verified; a `BlockRangeUpdate` moves the head; a lying peer is caught;
//! - ethereumjs fetches from a histd responder and gets the eth/69 receipts the JS side built on its
//!   own from the published files (`peer.mjs dump`), and histd's `BlockRangeUpdate`;
//! - the mainnet blocks of every fork (typed and blob receipts), both directions.
//!
//! Needs Node.js and the npm packages (`scripts/setup-interop.sh`), like `ethereumjs.rs`.

use std::sync::Arc;
use std::time::Duration;

use alloy_consensus::constants::MAINNET_GENESIS_HASH;
use alloy_primitives::B256;
use alloy_rlp::Decodable;
use secp256k1::SecretKey;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use histd::p2p::base::{DisconnectReason, P2pError};
use histd::p2p::chain::{ChainSpec, ForkHead};
use histd::p2p::eth::{
    BlockHashOrNumber, BlockRange, EthMessage, EthVersion, GetBlockHeaders as GetHeaders,
    RequestPair, Status, validate_status,
};
use histd::p2p::node_key::NodeKey;
use histd::p2p::session::{
    self, EmptyHistory, EthStreamError, HistoryProvider, PeerConfig, SessionConfig, SessionHandle,
    StatusInputs,
};
use histd::primitives::{BlockNumber, Header, VerifiedBlock, decode_body};
use histd::testkit::ethereumjs::{
    NodePeer, STEP_TIMEOUT, dial_ethereumjs_expecting, ethereumjs_dump,
    ethereumjs_server_with_chain, frontier_fork_id, hex_bytes, mainnet_blocks_dir, parse_enode,
    recv_eth_as, send_eth_as,
};
use histd::testkit::frontier::{self, FrontierBlock};
use histd::testkit::history::MemoryHistory;
use histd::testkit::mainnet::decode_eth69_receipts;
use histd::verify::{self, SealedHeader, VerifyError};

fn status_inputs(filter_head: ForkHead, served: BlockRange) -> StatusInputs {
    let spec = ChainSpec::mainnet();
    StatusInputs {
        filter: spec.fork_filter(filter_head),
        spec,
        served,
    }
}

fn range_json(r: &BlockRange) -> (String, String, String) {
    (
        r.earliest.get().to_string(),
        r.latest.get().to_string(),
        r.latest_hash.to_string(),
    )
}

fn json_range(v: &Value) -> (String, String, String) {
    let s = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no `{k}` in {v}"))
            .to_owned()
    };
    (s("earliest"), s("latest"), s("latestHash"))
}

fn frontier_range(blocks: &[FrontierBlock]) -> BlockRange {
    let head = blocks.last().expect("blocks");
    BlockRange {
        earliest: BlockNumber(frontier::FIRST),
        latest: BlockNumber(head.header.number),
        latest_hash: head.hash,
    }
}

/// An eth/69 Status as ethereumjs printed it: mainnet, mainnet genesis, the frontier fork id and
/// the announced range; no total difficulty or best hash.
fn assert_eth69_status(status: &Value, range: &BlockRange) {
    let (fork_hash, next) = frontier_fork_id();
    assert_eq!(status["networkId"], "1", "{status}");
    assert_eq!(
        status["genesisHash"],
        MAINNET_GENESIS_HASH.to_string(),
        "{status}"
    );
    assert_eq!(status["forkId"][0], fork_hash, "{status}");
    assert_eq!(status["forkId"][1], next.to_string(), "{status}");
    assert!(
        status.get("td").is_none() && status.get("bestHash").is_none(),
        "{status}"
    );
    assert_eq!(json_range(status), range_json(range), "{status}");
}

/// The `item` lines of one request of `peer.mjs client`, in index order.
fn client_items(lines: &[Value], req: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<(u64, Vec<u8>)> = lines
        .iter()
        .filter(|l| l["event"] == "item" && l["req"] == req)
        .map(|l| (l["index"].as_u64().expect("index"), hex_bytes(&l["rlp"])))
        .collect();
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, b)| b).collect()
}

/// Checks what an eth/69 `peer.mjs client --from 1000001 --count 30` printed: headers (every
/// request shape) and bodies byte for byte against the published blocks, receipts byte for byte
/// against the eth/69 lists the JS side built from the published files (`dump`), then decodes it
/// all with histd's decoders and verifies every root.
fn check_frontier_client_output(lines: &[Value], blocks: &[FrontierBlock], dump: &[Value]) {
    let raw_headers = |idx: Vec<usize>| -> Vec<Vec<u8>> {
        idx.into_iter()
            .map(|i| blocks[i].raw_header.clone())
            .collect()
    };
    let n = blocks.len();
    assert_eq!(
        client_items(lines, "headers_by_number"),
        raw_headers((0..n).collect())
    );
    assert_eq!(
        client_items(lines, "headers_by_hash_reverse"),
        raw_headers((0..n).rev().collect())
    );
    assert_eq!(
        client_items(lines, "headers_skip"),
        raw_headers((0..n).step_by(3).collect())
    );
    assert_eq!(
        client_items(lines, "headers_by_hash_skip_reverse"),
        raw_headers((0..n).rev().step_by(5).take(5).collect())
    );
    let bodies = client_items(lines, "bodies");
    let receipts = client_items(lines, "receipts");
    let wire_bodies: Vec<Vec<u8>> = blocks.iter().map(|b| b.wire_body.clone()).collect();
    assert_eq!(bodies, wire_bodies, "bodies");
    let dumped: Vec<Vec<u8>> = dump.iter().map(|d| hex_bytes(&d["receipts69"])).collect();
    assert_eq!(receipts, dumped, "eth/69 receipts");

    let headers: Vec<Header> = client_items(lines, "headers_by_number")
        .iter()
        .map(|h| Header::decode(&mut &h[..]).expect("header RLP"))
        .collect();
    let sealed = verify::seal_chain(headers).expect("fetched headers link");
    for ((h, body), receipts) in sealed.into_iter().zip(&bodies).zip(&receipts) {
        let body = decode_body(&mut &body[..]).expect("body RLP");
        verify::verify_block(h, body, decode_eth69_receipts(receipts))
            .expect("fetched block verifies");
    }
}

#[tokio::test]
async fn ethereumjs_serves_the_frontier_chain_over_eth69_to_an_ethereumjs_client() {
    // The stepping stone: both ends run our JS eth/69 layer, so this checks it, the JS receipt
    // conversion and the checks below independently of histd's devp2p stack.
    let blocks = frontier::load_frontier();
    let dump = ethereumjs_dump(&frontier::frontier_dir()).await;
    let dir = frontier::frontier_dir();
    let (_server, listening) = ethereumjs_server_with_chain(&dir, &["--eth", "69"]).await;
    let enode = listening["enode"].as_str().expect("enode").to_owned();
    let client = NodePeer::spawn(&[
        "client", &enode, "--eth", "69", "--from", "1000001", "--count", "30",
    ]);
    let lines = client.run_to_end().await;
    let status = lines
        .iter()
        .find(|l| l["event"] == "status")
        .expect("client saw the server's Status");
    assert_eq!(status["version"], 69);
    assert_eth69_status(&status["peer"], &frontier_range(&blocks));
    check_frontier_client_output(&lines, &blocks, &dump);
}

#[tokio::test]
async fn histd_eth69_codec_and_the_ethereumjs_eth69_layer_agree_below_the_session() {
    // histd's RLPx, Hello and eth/69 codec without the session, so a failure names the layer.
    let blocks = frontier::load_frontier();
    let dir = frontier::frontier_dir();
    let (mut server, listening) = ethereumjs_server_with_chain(&dir, &["--eth", "69"]).await;
    let enode = parse_enode(listening["enode"].as_str().expect("enode"));
    let key = SecretKey::new(&mut secp256k1::rand::rng());
    // We offer eth/69 and eth/68, so does ethereumjs with `--eth 69`: eth/69 is negotiated.
    let mut p2p = dial_ethereumjs_expecting(&enode, &key, EthVersion::Eth69).await;

    let EthMessage::Status(theirs) = recv_eth_as(&mut p2p, EthVersion::Eth69).await else {
        panic!("expected Status first")
    };
    assert_eq!(theirs.block_range(), Some(frontier_range(&blocks)));
    let spec = ChainSpec::mainnet();
    let filter = spec.fork_filter(ForkHead::default());
    let ours = Status::ours(
        EthVersion::Eth69,
        &spec,
        &filter,
        BlockRange::genesis(&spec),
    );
    validate_status(&ours, &theirs, &filter)
        .unwrap_or_else(|e| panic!("histd rejects ethereumjs's eth/69 Status: {e}"));
    send_eth_as(&mut p2p, EthVersion::Eth69, &EthMessage::Status(ours)).await;
    let seen = server.expect_event("status").await;
    assert_eq!(seen["version"], 69, "{seen}");

    // histd's BlockRangeUpdate, read by the JS layer.
    let range = frontier_range(&blocks);
    send_eth_as(
        &mut p2p,
        EthVersion::Eth69,
        &EthMessage::BlockRangeUpdate(range),
    )
    .await;
    let update = server.expect_event("block_range_update").await;
    assert_eq!(json_range(&update), range_json(&range));

    // eth/69 receipts built by the JS side, read by histd's eth/69 codec: the published receipts.
    let hashes: Vec<B256> = blocks.iter().map(|b| b.hash).collect();
    send_eth_as(
        &mut p2p,
        EthVersion::Eth69,
        &EthMessage::GetReceipts(RequestPair::new(7, hashes)),
    )
    .await;
    let EthMessage::Receipts(receipts) = recv_eth_as(&mut p2p, EthVersion::Eth69).await else {
        panic!("expected Receipts")
    };
    assert_eq!(receipts.request_id, 7);
    let published: Vec<_> = blocks.iter().map(|b| b.receipts.clone()).collect();
    assert_eq!(receipts.message, published);

    // A range with earliest > latest breaks EIP-7642: the JS layer drops us for it.
    let mut bad = vec![0xe3, 0x05, 0x01, 0xa0];
    bad.extend_from_slice(range.latest_hash.as_slice());
    p2p.send(0x11, &bad).await.expect("send");
    let refused = server.expect_event("peer_error").await;
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("earliestBlock 5 > latestBlock 1")),
        "{refused}"
    );
    let err = tokio::time::timeout(STEP_TIMEOUT, p2p.recv())
        .await
        .expect("ethereumjs reacts")
        .expect_err("ethereumjs disconnects");
    assert!(
        matches!(
            err,
            P2pError::Disconnected {
                reason: DisconnectReason::SubprotocolSpecific
            }
        ),
        "{err}"
    );
    drop(p2p);
    let removed = server.expect_event("peer_removed").await;
    assert_eq!(removed["reason"], "SUBPROTOCOL_ERROR", "{removed}");
    assert_eq!(removed["by_us"], true, "{removed}");
}

/// histd dials the ethereumjs eth/69 server that printed `listening` (a fresh histd: genesis fork
/// id and range) and starts the session.
async fn dial_eth69(
    listening: &Value,
) -> (
    SessionHandle,
    tokio::task::JoinHandle<Result<(), EthStreamError>>,
) {
    let spec = ChainSpec::mainnet();
    let enode = parse_enode(listening["enode"].as_str().expect("enode"));
    let config = PeerConfig::new(
        NodeKey::random(),
        status_inputs(ForkHead::default(), BlockRange::genesis(&spec)),
    );
    let tcp = TcpStream::connect(enode.addr).await.expect("connect");
    let eth = session::dial(tcp, enode.id, &config)
        .await
        .unwrap_or_else(|e| panic!("histd dials ethereumjs over eth/69: {e}"));
    assert_eq!(eth.version(), EthVersion::Eth69, "highest common version");
    assert!(eth.client_id().starts_with("ethereumjs-devp2p"));
    session::spawn(eth, Arc::new(EmptyHistory), SessionConfig::default())
}

#[tokio::test]
async fn histd_session_fetches_and_verifies_the_frontier_chain_from_ethereumjs_over_eth69() {
    let blocks = frontier::load_frontier();
    let head = blocks.last().expect("blocks");
    let dir = frontier::frontier_dir();
    let (mut server, listening) = ethereumjs_server_with_chain(&dir, &["--eth", "69"]).await;
    let (handle, _task) = dial_eth69(&listening).await;

    // ethereumjs accepted histd's eth/69 Status (genesis range, genesis fork id).
    let seen = server.expect_event("status").await;
    assert_eq!(seen["version"], 69);
    assert_eq!(
        json_range(&seen["peer"]),
        range_json(&BlockRange::genesis(&ChainSpec::mainnet()))
    );
    // eth/69 Status carries the head: known at once, with the range the peer serves.
    let snap = handle.snapshot();
    assert_eq!(snap.served, Some(frontier_range(&blocks)));
    let peer_head = tokio::time::timeout(STEP_TIMEOUT, handle.head())
        .await
        .expect("head known")
        .expect("session alive");
    assert_eq!(
        (peer_head.number, peer_head.hash),
        (BlockNumber(head.header.number), head.hash)
    );

    let query = |start: BlockHashOrNumber, limit: u64, skip: u64, reverse: bool| GetHeaders {
        start,
        limit,
        skip,
        reverse,
    };
    let first = BlockHashOrNumber::Number(BlockNumber(frontier::FIRST));
    let last = BlockHashOrNumber::Hash(head.hash);
    let n = blocks.len() as u64;
    let numbers = |headers: &[Header]| -> Vec<u64> { headers.iter().map(|h| h.number).collect() };
    let all: Vec<u64> = blocks.iter().map(|b| b.header.number).collect();
    let headers = handle
        .get_headers(query(first, n, 0, false))
        .await
        .expect("headers");
    assert_eq!(numbers(&headers), all);
    let reversed = handle
        .get_headers(query(last, n, 0, true))
        .await
        .expect("reverse");
    assert_eq!(
        numbers(&reversed),
        all.iter().rev().copied().collect::<Vec<_>>()
    );
    let skipped = handle
        .get_headers(query(first, 10, 2, false))
        .await
        .expect("skip");
    assert_eq!(
        numbers(&skipped),
        all.iter().step_by(3).copied().collect::<Vec<_>>()
    );
    let hash_skip_rev = handle
        .get_headers(query(last, 5, 4, true))
        .await
        .expect("by hash");
    assert_eq!(
        numbers(&hash_skip_rev),
        all.iter()
            .rev()
            .step_by(5)
            .take(5)
            .copied()
            .collect::<Vec<_>>()
    );

    let sealed = verify::seal_chain(headers).expect("fetched headers link");
    let hashes: Vec<B256> = sealed.iter().map(|h| h.hash).collect();
    let bodies = handle.get_bodies(hashes.clone()).await.expect("bodies");
    let receipts = handle.get_receipts(hashes).await.expect("receipts");
    assert_eq!((bodies.len(), receipts.len()), (blocks.len(), blocks.len()));
    for (((h, body), receipts), b) in sealed.into_iter().zip(bodies).zip(receipts).zip(&blocks) {
        assert_eq!(h.hash, b.hash);
        let v = verify::verify_block(h, body, receipts)
            .unwrap_or_else(|e| panic!("block from ethereumjs fails verification: {e}"));
        assert_eq!((v.body(), v.receipts()), (&b.body, &b.receipts[..]));
    }

    handle.disconnect(DisconnectReason::ClientQuitting).await;
    let removed = server.expect_event("peer_removed").await;
    assert_eq!(removed["reason"], "CLIENT_QUITTING", "{removed}");
    assert_eq!(removed["by_us"], false, "{removed}");
}

#[tokio::test]
async fn ethereumjs_client_fetches_the_frontier_chain_over_eth69_from_a_histd_responder() {
    let blocks = frontier::load_frontier();
    let dump = ethereumjs_dump(&frontier::frontier_dir()).await;
    let verified = frontier::verified_frontier();
    let full = frontier_range(&blocks);
    // histd announces one block less than it has, then tells the client with a BlockRangeUpdate
    // (as it does when sync moves the range).
    let before = &blocks[blocks.len() - 2];
    let announced = BlockRange {
        latest: BlockNumber(before.header.number),
        latest_hash: before.hash,
        ..full
    };
    let config = PeerConfig::new(
        NodeKey::random(),
        status_inputs(
            ForkHead::new(BlockNumber(before.header.number), before.header.timestamp),
            announced,
        ),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let enode = format!(
        "enode://{}@{}",
        alloy_primitives::hex::encode(config.key.id()),
        listener.local_addr().expect("addr")
    );
    let client = NodePeer::spawn(&[
        "client",
        &enode,
        "--eth",
        "69",
        "--from",
        "1000001",
        "--count",
        "30",
        "--await-range-update",
        "1",
    ]);
    let (tcp, _) = tokio::time::timeout(STEP_TIMEOUT, listener.accept())
        .await
        .expect("ethereumjs dials")
        .expect("accept");
    let eth = session::accept(tcp, &config)
        .await
        .unwrap_or_else(|e| panic!("histd accepts ethereumjs over eth/69: {e}"));
    assert_eq!(eth.version(), EthVersion::Eth69);
    // The client holds nothing: its Status range is genesis.
    assert_eq!(
        eth.their_status().block_range(),
        Some(BlockRange::genesis(&ChainSpec::mainnet()))
    );
    let provider: Arc<dyn HistoryProvider> = Arc::new(MemoryHistory::from_verified(&verified));
    let (handle, _task) = session::spawn(eth, provider, SessionConfig::default());
    handle.update_served(full).await;

    let lines = client.run_to_end().await;
    let status = lines
        .iter()
        .find(|l| l["event"] == "status")
        .expect("client saw histd's Status");
    assert_eq!(status["version"], 69);
    assert_eth69_status(&status["peer"], &announced);
    let update = lines
        .iter()
        .find(|l| l["event"] == "block_range_update")
        .expect("client saw histd's BlockRangeUpdate");
    assert_eq!(json_range(update), range_json(&full));
    assert!(lines.iter().any(|l| l["event"] == "done"));
    check_frontier_client_output(&lines, &blocks, &dump);
}

#[tokio::test]
async fn altered_data_from_ethereumjs_over_eth69_fails_histd_verification() {
    let blocks = frontier::load_frontier();
    let dir = frontier::frontier_dir();
    let altered = BlockNumber(1_000_010);
    for what in ["body", "receipts"] {
        let (_server, listening) =
            ethereumjs_server_with_chain(&dir, &["--eth", "69", "--tamper", what]).await;
        let (handle, _task) = dial_eth69(&listening).await;
        let headers = handle
            .get_headers(GetHeaders {
                start: BlockHashOrNumber::Number(BlockNumber(frontier::FIRST)),
                limit: blocks.len() as u64,
                skip: 0,
                reverse: false,
            })
            .await
            .expect("headers");
        let sealed = verify::seal_chain(headers).expect("headers are untouched");
        let hashes: Vec<B256> = sealed.iter().map(|h| h.hash).collect();
        let bodies = handle.get_bodies(hashes.clone()).await.expect("bodies");
        let receipts = handle.get_receipts(hashes).await.expect("receipts");
        let mut failures = Vec::new();
        for ((h, body), receipts) in sealed.into_iter().zip(bodies).zip(receipts) {
            if let Err(e) = verify::verify_block(h, body, receipts) {
                failures.push(e);
            }
        }
        match (what, failures.as_slice()) {
            ("body", [VerifyError::TransactionsRoot { number, .. }])
            | ("receipts", [VerifyError::ReceiptsRoot { number, .. }]) => {
                assert_eq!(*number, altered)
            }
            _ => panic!("--tamper {what}: unexpected verification result {failures:?}"),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Every fork: the mainnet blocks of `shared/testdata/mainnet/blocks` (typed and blob transactions,
// withdrawals, requests hash), whose published receipts are eth/69 already. Not consecutive, so
// each header is asked for by hash.

fn verified_mainnet_blocks() -> Vec<VerifiedBlock> {
    histd::testkit::mainnet::load_blocks()
        .into_iter()
        .map(|b| {
            verify::verify_block(SealedHeader::seal(b.header), b.body, b.receipts)
                .unwrap_or_else(|e| panic!("{}: {e}", b.file.display()))
        })
        .collect()
}

#[tokio::test]
async fn histd_session_fetches_mainnet_blocks_of_every_fork_from_ethereumjs_over_eth69() {
    let blocks = verified_mainnet_blocks();
    let head = blocks.last().expect("blocks");
    let before = &blocks[blocks.len() - 2];
    let dir = mainnet_blocks_dir();
    // --late-head: Status announces the block before the head, a BlockRangeUpdate the head.
    let (mut server, listening) = ethereumjs_server_with_chain(
        &dir,
        &["--eth", "69", "--hardfork", "prague", "--late-head", "1"],
    )
    .await;
    let (handle, _task) = dial_eth69(&listening).await;
    let first = blocks.first().expect("blocks");
    let announced = BlockRange {
        earliest: first.number(),
        latest: before.number(),
        latest_hash: before.hash(),
    };
    assert_eq!(handle.snapshot().status.block_range(), Some(announced));
    let update = server.expect_event("sent_range_update").await;
    let full = BlockRange {
        latest: head.number(),
        latest_hash: head.hash(),
        ..announced
    };
    assert_eq!(json_range(&update), range_json(&full));
    // The update moves the session's view of the peer: its served range and head.
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    while handle.snapshot().served != Some(full) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "BlockRangeUpdate not applied: {:?}",
            handle.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let peer_head = handle.snapshot().head.expect("head");
    assert_eq!(
        (peer_head.number, peer_head.hash),
        (head.number(), head.hash())
    );

    let mut sealed = Vec::new();
    for b in &blocks {
        let got = handle
            .get_headers(GetHeaders {
                start: BlockHashOrNumber::Hash(b.hash()),
                limit: 1,
                skip: 0,
                reverse: false,
            })
            .await
            .expect("header");
        assert_eq!(got.len(), 1, "block {}", b.number());
        let h = SealedHeader::seal(got.into_iter().next().expect("one"));
        assert_eq!(h.hash, b.hash());
        sealed.push(h);
    }
    let hashes: Vec<B256> = blocks.iter().map(|b| b.hash()).collect();
    let bodies = handle.get_bodies(hashes.clone()).await.expect("bodies");
    let receipts = handle.get_receipts(hashes).await.expect("receipts");
    assert_eq!((bodies.len(), receipts.len()), (blocks.len(), blocks.len()));
    for (((h, body), receipts), b) in sealed.into_iter().zip(bodies).zip(receipts).zip(&blocks) {
        let number = h.header.number;
        let v = verify::verify_block(h, body, receipts)
            .unwrap_or_else(|e| panic!("block {number} from ethereumjs fails verification: {e}"));
        assert_eq!((v.body(), v.receipts()), (b.body(), b.receipts()));
    }
    handle.disconnect(DisconnectReason::ClientQuitting).await;
    server.expect_event("peer_removed").await;
}

#[tokio::test]
async fn ethereumjs_client_fetches_mainnet_blocks_of_every_fork_over_eth69_from_a_histd_responder()
{
    let blocks = verified_mainnet_blocks();
    let head = blocks.last().expect("blocks");
    let first = blocks.first().expect("blocks");
    // The bytes the JS side builds for these blocks from the published files, without histd.
    let dump = ethereumjs_dump(&mainnet_blocks_dir()).await;
    assert_eq!(dump.len(), blocks.len());

    let served = BlockRange {
        earliest: first.number(),
        latest: head.number(),
        latest_hash: head.hash(),
    };
    let config = PeerConfig::new(
        NodeKey::random(),
        status_inputs(
            ForkHead::new(head.number(), head.header().timestamp),
            served,
        ),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let enode = format!(
        "enode://{}@{}",
        alloy_primitives::hex::encode(config.key.id()),
        listener.local_addr().expect("addr")
    );
    let hashes: Vec<String> = blocks.iter().map(|b| b.hash().to_string()).collect();
    let hashes = hashes.join(",");
    let client = NodePeer::spawn(&["client", &enode, "--eth", "69", "--hashes", &hashes]);
    let (tcp, _) = tokio::time::timeout(STEP_TIMEOUT, listener.accept())
        .await
        .expect("ethereumjs dials")
        .expect("accept");
    let eth = session::accept(tcp, &config)
        .await
        .unwrap_or_else(|e| panic!("histd accepts ethereumjs over eth/69: {e}"));
    assert_eq!(eth.version(), EthVersion::Eth69);
    let provider: Arc<dyn HistoryProvider> = Arc::new(MemoryHistory::from_verified(&blocks));
    let (_handle, _task) = session::spawn(eth, provider, SessionConfig::default());

    let lines = client.run_to_end().await;
    let status = lines
        .iter()
        .find(|l| l["event"] == "status")
        .expect("client saw histd's Status");
    assert_eq!(status["version"], 69);
    assert_eq!(json_range(&status["peer"]), range_json(&served));
    let expected =
        |key: &str| -> Vec<Vec<u8>> { dump.iter().map(|d| hex_bytes(&d[key])).collect() };
    assert_eq!(
        client_items(&lines, "headers_by_hash"),
        expected("header"),
        "headers"
    );
    assert_eq!(client_items(&lines, "bodies"), expected("body"), "bodies");
    // The published eth/69 receipts, re-encoded by the JS side: typed ones as plain lists, no bloom.
    assert_eq!(
        client_items(&lines, "receipts"),
        expected("receipts69"),
        "eth/69 receipts"
    );
}
