//! Interop with an implementation nobody here wrote: `@ethereumjs/devp2p` (npm), driven through
//! `tests/interop/peer.mjs` over real loopback TCP, serving and fetching the 30 real mainnet blocks
//! 1000001–1000030 (`testkit::frontier`), through the driver in `testkit::ethereumjs`.
//!
//! - ethereumjs ↔ ethereumjs: the JS peer itself serves the chain correctly (checked byte for byte
//!   against the published blocks and verified by histd's verifier).
//! - Below the session: histd's RLPx handshake, Hello negotiation (we offer eth/69 and eth/68, it
//!   has eth/68), snappy, both Disconnect forms and the eth/68 codec and Status/fork-id checks, in
//!   both roles, so a failure names the layer.
//! - Sessions, the product path: histd dials ethereumjs, resolves its head, fetches every request
//!   shape and verifies every root; ethereumjs fetches the chain from a histd responder serving a
//!   `HistoryProvider`; keep-alive both ways; a lying ethereumjs peer is caught by the verifier.
//!
//! Needs Node.js >= 20.15 and the npm packages: run `scripts/setup-interop.sh` once (the project's
//! test script does). The whole file runs in about 8 s.

use std::sync::Arc;
use std::time::Duration;

use alloy_consensus::constants::MAINNET_GENESIS_HASH;
use alloy_primitives::{B256, U256};
use alloy_rlp::Decodable;
use secp256k1::SecretKey;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use histd::p2p::base::{DisconnectReason, P2pError};
use histd::p2p::chain::{ChainSpec, ForkHead};
use histd::p2p::eth::{
    BlockHashOrNumber, BlockRange, EthMessage, EthVersion, GetBlockHeaders as GetHeaders,
    RequestPair, Status, StatusBlocks, validate_status,
};
use histd::p2p::node_key::NodeKey;
use histd::p2p::session::{
    self, EmptyHistory, EthStreamError, HistoryProvider, PeerConfig, SessionConfig, StatusInputs,
};
use histd::primitives::{BlockNumber, Header, Receipt, decode_body};
use histd::testkit::ethereumjs::{
    GENESIS_TD, NodePeer, STEP_TIMEOUT, dial_ethereumjs, ethereumjs_dials_histd, ethereumjs_server,
    ethereumjs_server_with, ethereumjs_server_with_chain, fetch_headers, frontier_fork_id,
    frontier_status, hex_bytes, mainnet_blocks_dir, parse_enode, recv_eth, send_eth,
};
use histd::testkit::frontier::{self, FrontierBlock};
use histd::testkit::history::MemoryHistory;
use histd::verify::{self, SealedHeader, VerifyError};

fn assert_frontier_status(status: &Value, blocks: &[FrontierBlock]) {
    let head = blocks.last().expect("blocks");
    let (fork_hash, next) = frontier_fork_id();
    assert_eq!(status["networkId"], "1", "{status}");
    assert_eq!(
        status["genesisHash"],
        MAINNET_GENESIS_HASH.to_string(),
        "{status}"
    );
    assert_eq!(status["bestHash"], head.hash.to_string(), "{status}");
    assert_eq!(status["forkId"][0], fork_hash, "{status}");
    assert_eq!(status["forkId"][1], next.to_string(), "{status}");
}

/// Checks what `peer.mjs client` printed against the published blocks, byte for byte, then decodes
/// it with histd's decoders and verifies every root and parent link.
fn check_client_output(lines: &[Value], blocks: &[FrontierBlock]) {
    let items = |req: &str| -> Vec<Vec<u8>> {
        let mut v: Vec<(u64, Vec<u8>)> = lines
            .iter()
            .filter(|l| l["event"] == "item" && l["req"] == req)
            .map(|l| (l["index"].as_u64().expect("index"), hex_bytes(&l["rlp"])))
            .collect();
        v.sort_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, b)| b).collect()
    };
    let raw_headers = |idx: &[usize]| -> Vec<Vec<u8>> {
        idx.iter().map(|&i| blocks[i].raw_header.clone()).collect()
    };
    let all: Vec<usize> = (0..blocks.len()).collect();
    let reversed: Vec<usize> = all.iter().rev().copied().collect();
    let skip2: Vec<usize> = all.iter().step_by(3).copied().collect();
    let skip4_reverse: Vec<usize> = reversed.iter().step_by(5).take(5).copied().collect();
    assert_eq!(
        items("headers_by_number"),
        raw_headers(&all),
        "headers by number"
    );
    assert_eq!(
        items("headers_by_hash_reverse"),
        raw_headers(&reversed),
        "reverse by hash"
    );
    assert_eq!(items("headers_skip"), raw_headers(&skip2), "skip 2");
    assert_eq!(
        items("headers_by_hash_skip_reverse"),
        raw_headers(&skip4_reverse),
        "by hash, skip 4, reverse"
    );
    let bodies = items("bodies");
    let receipts = items("receipts");
    let wire_bodies: Vec<Vec<u8>> = blocks.iter().map(|b| b.wire_body.clone()).collect();
    let wire_receipts: Vec<Vec<u8>> = blocks
        .iter()
        .map(|b| b.wire_receipts_eth68.clone())
        .collect();
    assert_eq!(bodies, wire_bodies, "bodies");
    assert_eq!(receipts, wire_receipts, "eth/68 receipts");

    let headers: Vec<Header> = items("headers_by_number")
        .iter()
        .map(|h| Header::decode(&mut &h[..]).expect("header RLP"))
        .collect();
    let sealed = verify::seal_chain(headers).expect("fetched headers link");
    assert_eq!(
        sealed.last().expect("headers").hash,
        blocks[blocks.len() - 1].hash
    );
    for ((h, body), receipts) in sealed.into_iter().zip(&bodies).zip(&receipts) {
        let body = decode_body(&mut &body[..]).expect("body RLP");
        let receipts = decode_eth68_list(receipts);
        verify::verify_block(h, body, receipts).expect("fetched block verifies");
    }
}

fn decode_eth68_list(mut buf: &[u8]) -> Vec<Receipt> {
    let header = alloy_rlp::Header::decode(&mut buf).expect("receipt list");
    assert!(header.list && header.payload_length == buf.len());
    let mut out = Vec::new();
    while !buf.is_empty() {
        out.push(Receipt::decode_eth68(&mut buf).expect("eth/68 receipt"));
    }
    out
}

#[tokio::test]
async fn ethereumjs_serves_the_frontier_chain_to_an_ethereumjs_client() {
    // The stepping stone: both ends are ethereumjs, so this checks the JS peer, the test data
    // pipeline and the checks below, independently of histd's devp2p stack.
    let blocks = frontier::load_frontier();
    let (mut server, listening) = ethereumjs_server().await;
    assert_eq!(listening["blocks"], 30);
    assert_frontier_status(&listening["status"], &blocks);
    let enode = listening["enode"].as_str().expect("enode").to_owned();

    let client = NodePeer::spawn(&["client", &enode, "--from", "1000001", "--count", "30"]);
    let lines = client.run_to_end().await;
    let status = lines
        .iter()
        .find(|l| l["event"] == "status")
        .expect("client saw the server's Status");
    assert_eq!(status["version"], 68);
    assert_frontier_status(&status["peer"], &blocks);
    assert!(lines.iter().any(|l| l["event"] == "done"));
    check_client_output(&lines, &blocks);

    for msg in ["GetBlockHeaders", "GetBlockBodies", "GetReceipts"] {
        let served = server.expect_event("served").await;
        assert_eq!(served["msg"], msg, "{served}");
        if msg == "GetBlockHeaders" {
            for _ in 0..3 {
                assert_eq!(server.expect_event("served").await["msg"], msg);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// histd's RLPx + base protocol (Hello, negotiation, snappy, Disconnect) and eth/68 codec against
// ethereumjs, below the session layer, so a failure here names the layer at fault.

#[tokio::test]
async fn histd_eth68_fetches_and_verifies_the_frontier_chain_from_ethereumjs() {
    let blocks = frontier::load_frontier();
    let head = blocks.last().expect("blocks");
    let (mut server, listening) = ethereumjs_server().await;
    let enode = parse_enode(listening["enode"].as_str().expect("enode"));
    let key = SecretKey::new(&mut secp256k1::rand::rng());
    let mut p2p = dial_ethereumjs(&enode, &key).await;

    // Their Status passes histd's checks whether histd is fresh (head = genesis) or fully synced,
    // and histd's chain spec computes the same fork id for their head as ethereumjs does.
    let EthMessage::Status(theirs) = recv_eth(&mut p2p).await else {
        panic!("expected Status first")
    };
    let spec = ChainSpec::mainnet();
    assert_eq!(theirs.fork_id, frontier_status(&spec, &blocks).fork_id);
    let (fork_hash, next) = frontier_fork_id();
    assert_eq!(
        (
            format!("0x{}", alloy_primitives::hex::encode(theirs.fork_id.hash.0)),
            theirs.fork_id.next
        ),
        (fork_hash, next)
    );
    let synced = spec.fork_filter(spec.latest_fork_head());
    for filter in [spec.fork_filter(ForkHead::default()), synced.clone()] {
        let ours = Status::ours(
            EthVersion::Eth68,
            &spec,
            &filter,
            BlockRange::genesis(&spec),
        );
        validate_status(&ours, &theirs, &filter)
            .unwrap_or_else(|e| panic!("histd rejects ethereumjs's Status: {e}"));
    }
    // A synced histd's Status (latest fork id) is accepted by ethereumjs.
    let ours = Status::ours(
        EthVersion::Eth68,
        &spec,
        &synced,
        BlockRange::genesis(&spec),
    );
    send_eth(&mut p2p, &EthMessage::Status(ours)).await;
    let seen = server.expect_event("status").await;
    assert_eq!(
        seen["peer"]["forkId"][0],
        format!(
            "0x{}",
            alloy_primitives::hex::encode(synced.current().hash.0)
        ),
        "{seen}"
    );
    assert_eq!(
        seen["peer"]["genesisHash"],
        MAINNET_GENESIS_HASH.to_string()
    );

    let first = BlockHashOrNumber::Number(BlockNumber(frontier::FIRST));
    let last = BlockHashOrNumber::Hash(head.hash);
    let n = blocks.len() as u64;
    // Compared by number and hash (the hash covers every field) to keep failures readable.
    let expect = |idx: Vec<usize>| -> Vec<(u64, B256)> {
        idx.into_iter()
            .map(|i| (blocks[i].header.number, blocks[i].hash))
            .collect()
    };
    let ids = |headers: Vec<Header>| -> Vec<(u64, B256)> {
        headers.iter().map(|h| (h.number, h.hash_slow())).collect()
    };
    let headers = fetch_headers(&mut p2p, 1, first, n, 0, false).await;
    assert_eq!(ids(headers.clone()), expect((0..blocks.len()).collect()));
    // A request id above u32 comes back unchanged.
    let big_id = 0x1_0000_0001;
    assert_eq!(
        ids(fetch_headers(&mut p2p, big_id, last, n, 0, true).await),
        expect((0..blocks.len()).rev().collect())
    );
    assert_eq!(
        ids(fetch_headers(&mut p2p, 3, first, 10, 2, false).await),
        expect((0..blocks.len()).step_by(3).collect())
    );
    assert_eq!(
        ids(fetch_headers(&mut p2p, 4, last, 5, 4, true).await),
        expect((0..blocks.len()).rev().step_by(5).take(5).collect())
    );
    // Past their head: fewer headers, not an error.
    let near_head = BlockHashOrNumber::Number(BlockNumber(head.header.number - 1));
    assert_eq!(
        fetch_headers(&mut p2p, 5, near_head, 10, 0, false)
            .await
            .len(),
        2
    );

    let hashes: Vec<B256> = blocks.iter().map(|b| b.hash).collect();
    send_eth(
        &mut p2p,
        &EthMessage::GetBlockBodies(RequestPair::new(6, hashes.clone())),
    )
    .await;
    let EthMessage::BlockBodies(bodies) = recv_eth(&mut p2p).await else {
        panic!("expected BlockBodies")
    };
    assert_eq!(bodies.request_id, 6);
    send_eth(
        &mut p2p,
        &EthMessage::GetReceipts(RequestPair::new(7, hashes)),
    )
    .await;
    let EthMessage::Receipts(receipts) = recv_eth(&mut p2p).await else {
        panic!("expected Receipts")
    };
    assert_eq!(receipts.request_id, 7);
    assert_eq!(
        (bodies.message.len(), receipts.message.len()),
        (blocks.len(), blocks.len())
    );

    let sealed = verify::seal_chain(headers).expect("fetched headers link");
    for (((h, body), receipts), b) in sealed
        .into_iter()
        .zip(bodies.message)
        .zip(receipts.message)
        .zip(&blocks)
    {
        assert_eq!(h.hash, b.hash);
        let v = verify::verify_block(h, body, receipts)
            .unwrap_or_else(|e| panic!("block from ethereumjs fails verification: {e}"));
        assert_eq!((v.body(), v.receipts()), (&b.body, &b.receipts[..]));
    }

    // Our Disconnect (list form, snappy) is understood with its reason.
    p2p.disconnect(DisconnectReason::ClientQuitting).await;
    let removed = server.expect_event("peer_removed").await;
    assert_eq!(removed["reason"], "CLIENT_QUITTING", "{removed}");
    assert_eq!(removed["by_us"], false, "{removed}");
}

#[tokio::test]
async fn ethereumjs_client_talks_eth68_with_histd_p2p_stream() {
    let blocks = frontier::load_frontier();
    let spec = ChainSpec::mainnet();
    let (mut client, mut p2p) = ethereumjs_dials_histd(&[]).await;

    let EthMessage::Status(theirs) = recv_eth(&mut p2p).await else {
        panic!("expected Status first")
    };
    let ours = frontier_status(&spec, &blocks);
    let head = blocks.last().expect("blocks");
    let filter = spec.fork_filter(ForkHead::new(
        BlockNumber(head.header.number),
        head.header.timestamp,
    ));
    validate_status(&ours, &theirs, &filter).expect("histd accepts ethereumjs's Status");
    assert_eq!(
        theirs.blocks,
        StatusBlocks::Eth68 {
            total_difficulty: U256::from(GENESIS_TD),
            best_hash: MAINNET_GENESIS_HASH
        }
    );
    send_eth(&mut p2p, &EthMessage::Status(ours)).await;
    let seen = client.expect_event("status").await;
    assert_frontier_status(&seen["peer"], &blocks);

    // The client goes on with its first request, decoded by histd's codec.
    let EthMessage::GetBlockHeaders(req) = recv_eth(&mut p2p).await else {
        panic!("expected GetBlockHeaders")
    };
    assert_eq!(
        req.message,
        GetHeaders {
            start: BlockHashOrNumber::Number(BlockNumber(frontier::FIRST)),
            limit: 30,
            skip: 0,
            reverse: false,
        }
    );
}

#[tokio::test]
async fn ethereumjs_disconnect_for_a_wrong_genesis_reaches_histd_with_its_reason() {
    let spec = ChainSpec::mainnet();
    let (_client, mut p2p) = ethereumjs_dials_histd(&[]).await;
    let EthMessage::Status(_) = recv_eth(&mut p2p).await else {
        panic!("expected Status first")
    };
    let mut wrong = Status::ours(
        EthVersion::Eth68,
        &spec,
        &spec.fork_filter(ForkHead::default()),
        BlockRange::genesis(&spec),
    );
    wrong.genesis = B256::repeat_byte(0x11);
    send_eth(&mut p2p, &EthMessage::Status(wrong)).await;
    // ethereumjs answers with a bare-integer, uncompressed Disconnect (0x10).
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
}

// ------------------------------------------------------------------------------------------------
// The product path: histd's session (dial/accept, Status, request matching, serving from a
// HistoryProvider) against ethereumjs, in both directions.

fn status_inputs(filter_head: ForkHead, served: BlockRange) -> StatusInputs {
    let spec = ChainSpec::mainnet();
    StatusInputs {
        filter: spec.fork_filter(filter_head),
        spec,
        served,
    }
}

#[tokio::test]
async fn histd_session_fetches_and_verifies_the_frontier_chain_from_ethereumjs() {
    let blocks = frontier::load_frontier();
    let head = blocks.last().expect("blocks");
    let (mut server, listening) = ethereumjs_server().await;
    let enode = parse_enode(listening["enode"].as_str().expect("enode"));

    // A fresh histd: nothing stored, fork id of the genesis head.
    let spec = ChainSpec::mainnet();
    let config = PeerConfig::new(
        NodeKey::random(),
        status_inputs(ForkHead::default(), BlockRange::genesis(&spec)),
    );
    let tcp = TcpStream::connect(enode.addr).await.expect("connect");
    let eth = session::dial(tcp, enode.id, &config)
        .await
        .unwrap_or_else(|e| panic!("histd dials ethereumjs: {e}"));
    assert_eq!(eth.version(), EthVersion::Eth68);
    assert!(eth.client_id().starts_with("ethereumjs-devp2p"));
    let (handle, task) = session::spawn(eth, Arc::new(EmptyHistory), SessionConfig::default());

    // eth/68 Status has no head number: the session resolves the best hash with a request.
    let peer_head = tokio::time::timeout(STEP_TIMEOUT, handle.head())
        .await
        .expect("head resolved in time")
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
    assert_eq!(hashes, blocks.iter().map(|b| b.hash).collect::<Vec<_>>());
    let bodies = handle.get_bodies(hashes.clone()).await.expect("bodies");
    let receipts = handle.get_receipts(hashes).await.expect("receipts");
    assert_eq!((bodies.len(), receipts.len()), (blocks.len(), blocks.len()));
    for ((h, body), receipts) in sealed.into_iter().zip(bodies).zip(receipts) {
        let number = h.header.number;
        verify::verify_block(h, body, receipts)
            .unwrap_or_else(|e| panic!("block {number} from ethereumjs fails verification: {e}"));
    }

    handle.disconnect(DisconnectReason::ClientQuitting).await;
    let removed = server.expect_event("peer_removed").await;
    assert_eq!(removed["reason"], "CLIENT_QUITTING", "{removed}");
    let ended = tokio::time::timeout(STEP_TIMEOUT, task)
        .await
        .expect("session task ends")
        .expect("no panic");
    assert!(ended.is_ok(), "we chose to end it: {ended:?}");
}

#[tokio::test]
async fn ethereumjs_client_fetches_the_frontier_chain_from_a_histd_responder() {
    let blocks = frontier::load_frontier();
    let verified = frontier::verified_frontier();
    let head = blocks.last().expect("blocks");
    let served = BlockRange {
        earliest: BlockNumber(frontier::FIRST),
        latest: BlockNumber(head.header.number),
        latest_hash: head.hash,
    };
    let config = PeerConfig::new(
        NodeKey::random(),
        status_inputs(
            ForkHead::new(BlockNumber(head.header.number), head.header.timestamp),
            served,
        ),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let enode = format!(
        "enode://{}@{}",
        alloy_primitives::hex::encode(config.key.id()),
        listener.local_addr().expect("addr")
    );
    let client = NodePeer::spawn(&["client", &enode, "--from", "1000001", "--count", "30"]);
    let (tcp, _) = tokio::time::timeout(STEP_TIMEOUT, listener.accept())
        .await
        .expect("ethereumjs dials")
        .expect("accept");
    let eth = session::accept(tcp, &config)
        .await
        .unwrap_or_else(|e| panic!("histd accepts ethereumjs: {e}"));
    assert_eq!(eth.version(), EthVersion::Eth68);
    let provider: Arc<dyn HistoryProvider> = Arc::new(MemoryHistory::from_verified(&verified));
    let (_handle, _task) = session::spawn(eth, provider, SessionConfig::default());

    let lines = client.run_to_end().await;
    let status = lines
        .iter()
        .find(|l| l["event"] == "status")
        .expect("client saw histd's Status");
    assert_eq!(status["version"], 68);
    assert_frontier_status(&status["peer"], &blocks);
    assert!(lines.iter().any(|l| l["event"] == "done"));
    check_client_output(&lines, &blocks);
}

#[tokio::test]
async fn keep_alive_works_both_ways_with_ethereumjs() {
    let blocks = frontier::load_frontier();
    let (mut server, listening) = ethereumjs_server_with(&["--ping-after-status", "1"]).await;
    let enode = parse_enode(listening["enode"].as_str().expect("enode"));
    let spec = ChainSpec::mainnet();
    let config = PeerConfig::new(
        NodeKey::random(),
        status_inputs(ForkHead::default(), BlockRange::genesis(&spec)),
    );
    let tcp = TcpStream::connect(enode.addr).await.expect("connect");
    let eth = session::dial(tcp, enode.id, &config).await.expect("dial");
    // Ping often and give up on silence quickly: only ethereumjs's Pongs keep this session alive.
    // (The idle limit leaves room for a node process starved of CPU on a busy machine.)
    let timers = SessionConfig {
        request_timeout: Duration::from_secs(10),
        ping_interval: Duration::from_millis(250),
        idle_timeout: Duration::from_secs(2),
        ..SessionConfig::default()
    };
    let (handle, _task) = session::spawn(eth, Arc::new(EmptyHistory), timers);

    // ethereumjs pings once after Status; histd's Pong reaches it.
    server.expect_event("pong").await;
    // histd's Pings reach ethereumjs, and its Pongs keep the session alive past the idle limit.
    server.expect_event("ping").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(handle.snapshot().ended, None, "session ended while idle");
    let one = GetHeaders {
        start: BlockHashOrNumber::Number(BlockNumber(frontier::FIRST)),
        limit: 1,
        skip: 0,
        reverse: false,
    };
    let headers = handle.get_headers(one).await.expect("still serving");
    assert_eq!(headers[0].hash_slow(), blocks[0].hash);
}

#[tokio::test]
async fn altered_data_from_ethereumjs_fails_histd_verification() {
    let blocks = frontier::load_frontier();
    let spec = ChainSpec::mainnet();
    let altered = BlockNumber(1_000_010);
    for what in ["body", "receipts"] {
        let (_server, listening) = ethereumjs_server_with(&["--tamper", what]).await;
        let enode = parse_enode(listening["enode"].as_str().expect("enode"));
        let config = PeerConfig::new(
            NodeKey::random(),
            status_inputs(ForkHead::default(), BlockRange::genesis(&spec)),
        );
        let tcp = TcpStream::connect(enode.addr).await.expect("connect");
        let eth = session::dial(tcp, enode.id, &config).await.expect("dial");
        let (handle, _task) = session::spawn(eth, Arc::new(EmptyHistory), SessionConfig::default());
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
// Every fork: the 11 mainnet blocks of `shared/testdata/mainnet/blocks` (London to Prague: typed and
// blob transactions, withdrawals, requests hash), eth/68 receipts built by the JS peer from the
// published eth/69 ones. Not consecutive, so each header is asked for by hash.

fn verified_mainnet_blocks() -> Vec<histd::primitives::VerifiedBlock> {
    histd::testkit::mainnet::load_blocks()
        .into_iter()
        .map(|b| {
            verify::verify_block(SealedHeader::seal(b.header), b.body, b.receipts)
                .unwrap_or_else(|e| panic!("{}: {e}", b.file.display()))
        })
        .collect()
}

fn head_fork(v: &histd::primitives::VerifiedBlock) -> ForkHead {
    ForkHead::new(v.number(), v.header().timestamp)
}

#[tokio::test]
async fn histd_session_fetches_and_verifies_mainnet_blocks_of_every_fork_from_ethereumjs() {
    let blocks = verified_mainnet_blocks();
    let head = blocks.last().expect("blocks");
    let dir = mainnet_blocks_dir();
    let (mut server, listening) =
        ethereumjs_server_with_chain(&dir, &["--hardfork", "prague"]).await;
    // ethereumjs and histd's chain spec agree on the fork id of a Prague head.
    let spec = ChainSpec::mainnet();
    let ours = spec.fork_id(head_fork(head));
    assert_eq!(
        listening["status"]["forkId"],
        serde_json::json!([
            format!("0x{}", alloy_primitives::hex::encode(ours.hash.0)),
            ours.next.to_string()
        ])
    );

    let enode = parse_enode(listening["enode"].as_str().expect("enode"));
    let config = PeerConfig::new(
        NodeKey::random(),
        status_inputs(ForkHead::default(), BlockRange::genesis(&spec)),
    );
    let tcp = TcpStream::connect(enode.addr).await.expect("connect");
    let eth = session::dial(tcp, enode.id, &config)
        .await
        .unwrap_or_else(|e| panic!("histd dials ethereumjs: {e}"));
    let (handle, _task) = session::spawn(eth, Arc::new(EmptyHistory), SessionConfig::default());
    let peer_head = tokio::time::timeout(STEP_TIMEOUT, handle.head())
        .await
        .expect("head resolved in time")
        .expect("session alive");
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
    for ((h, body), receipts) in sealed.into_iter().zip(bodies).zip(receipts) {
        let number = h.header.number;
        verify::verify_block(h, body, receipts)
            .unwrap_or_else(|e| panic!("block {number} from ethereumjs fails verification: {e}"));
    }
    handle.disconnect(DisconnectReason::ClientQuitting).await;
    server.expect_event("peer_removed").await;
}

#[tokio::test]
async fn ethereumjs_client_fetches_mainnet_blocks_of_every_fork_from_a_histd_responder() {
    let blocks = verified_mainnet_blocks();
    let head = blocks.last().expect("blocks");
    let first = blocks.first().expect("blocks");
    // The bytes the JS side builds for these blocks from the published files, without histd.
    let dir = mainnet_blocks_dir();
    let dump = NodePeer::spawn(&["dump", "--chain", dir.to_str().expect("utf-8 path")])
        .run_to_end()
        .await;
    assert_eq!(dump.len(), blocks.len());

    let served = BlockRange {
        earliest: first.number(),
        latest: head.number(),
        latest_hash: head.hash(),
    };
    let config = PeerConfig::new(NodeKey::random(), status_inputs(head_fork(head), served));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let enode = format!(
        "enode://{}@{}",
        alloy_primitives::hex::encode(config.key.id()),
        listener.local_addr().expect("addr")
    );
    let hashes: Vec<String> = blocks.iter().map(|b| b.hash().to_string()).collect();
    let hashes = hashes.join(",");
    let client = NodePeer::spawn(&["client", &enode, "--hashes", &hashes]);
    let (tcp, _) = tokio::time::timeout(STEP_TIMEOUT, listener.accept())
        .await
        .expect("ethereumjs dials")
        .expect("accept");
    let eth = session::accept(tcp, &config)
        .await
        .unwrap_or_else(|e| panic!("histd accepts ethereumjs: {e}"));
    let provider: Arc<dyn HistoryProvider> = Arc::new(MemoryHistory::from_verified(&blocks));
    let (_handle, _task) = session::spawn(eth, provider, SessionConfig::default());

    let lines = client.run_to_end().await;
    let status = lines
        .iter()
        .find(|l| l["event"] == "status")
        .expect("client saw histd's Status");
    assert_eq!(status["peer"]["bestHash"], head.hash().to_string());
    let items = |req: &str| -> Vec<Vec<u8>> {
        let mut v: Vec<(u64, Vec<u8>)> = lines
            .iter()
            .filter(|l| l["event"] == "item" && l["req"] == req)
            .map(|l| (l["index"].as_u64().expect("index"), hex_bytes(&l["rlp"])))
            .collect();
        v.sort_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, b)| b).collect()
    };
    let expected =
        |key: &str| -> Vec<Vec<u8>> { dump.iter().map(|d| hex_bytes(&d[key])).collect() };
    assert_eq!(items("headers_by_hash"), expected("header"), "headers");
    assert_eq!(items("bodies"), expected("body"), "bodies");
    assert_eq!(
        items("receipts"),
        expected("receipts"),
        "eth/68 receipts (typed ones wrapped)"
    );
}

#[tokio::test]
async fn stale_fork_id_from_ethereumjs_is_rejected_with_subprotocol_reason() {
    // The frontier fork hash without its next fork (Homestead): a synced node must refuse it
    // (EIP-2124 rule 2, remote stale), and ethereumjs must read our reason.
    let (mut server, listening) = ethereumjs_server_with(&["--stale-fork-id", "1"]).await;
    let enode = parse_enode(listening["enode"].as_str().expect("enode"));
    let spec = ChainSpec::mainnet();
    let config = PeerConfig::new(
        NodeKey::random(),
        status_inputs(spec.latest_fork_head(), BlockRange::genesis(&spec)),
    );
    let tcp = TcpStream::connect(enode.addr).await.expect("connect");
    let err = session::dial(tcp, enode.id, &config)
        .await
        .expect_err("histd refuses a stale fork id");
    let EthStreamError::Status(status_err) = &err else {
        panic!("expected a Status error, got {err}")
    };
    assert_eq!(
        status_err.disconnect_reason(),
        DisconnectReason::SubprotocolSpecific.code(),
        "{err}"
    );
    let removed = server.expect_event("peer_removed").await;
    assert_eq!(removed["reason"], "SUBPROTOCOL_ERROR", "{removed}");
    assert_eq!(
        removed["by_us"], false,
        "histd disconnected, not ethereumjs: {removed}"
    );
}
