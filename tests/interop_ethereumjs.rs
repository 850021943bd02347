//! Interop with an implementation nobody here wrote: `@ethereumjs/devp2p` (npm), driven through
//! `tests/interop/peer.mjs` over real loopback TCP, serving and fetching the 30 real mainnet blocks
//! 1000001–1000030 (`testkit::frontier`).
//!
//! Needs Node.js >= 20.15 and the npm packages: run `scripts/setup-interop.sh` once (the project's
//! test script does).

use std::process::Stdio;
use std::time::Duration;

use alloy_consensus::constants::MAINNET_GENESIS_HASH;
use alloy_eip2124::{ForkHash, ForkId};
use alloy_hardforks::EthereumHardfork;
use alloy_primitives::{B256, B512, Bytes, U256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use secp256k1::SecretKey;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use histd::p2p::chain::{ChainSpec, ForkHead};
use histd::p2p::eth::{
    BlockHashOrNumber, BlockRange, EthMessage, EthVersion, GetBlockHeaders as GetHeaders,
    RequestPair, Status, validate_status,
};
use histd::p2p::rlpx::{self, RlpxStream};
use histd::primitives::BlockNumber;
use histd::primitives::{Header, Receipt, decode_body};
use histd::sync::verify;
use histd::testkit::frontier::{self, FrontierBlock};

/// Generous: the node process starts in ~0.3 s, a whole fetch takes ~1 s; CI machines are slow.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `node tests/interop/peer.mjs ...`, killed when dropped.
struct NodePeer {
    what: String,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Kept open: the serving peer exits when its stdin closes, so it cannot outlive the test.
    _stdin: ChildStdin,
}

fn interop_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

impl NodePeer {
    fn spawn(args: &[&str]) -> Self {
        let dir = interop_dir();
        assert!(
            dir.join("node_modules/@ethereumjs/devp2p").is_dir(),
            "{}/node_modules is missing: run scripts/setup-interop.sh (installs @ethereumjs/devp2p \
             from tests/interop/package-lock.json)",
            dir.display()
        );
        let what = format!("node peer.mjs {}", args.join(" "));
        let mut child = Command::new("node")
            .arg(dir.join("peer.mjs"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `{what}` (is Node.js >= 20.15 installed?): {e}")
            });
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let stdin = child.stdin.take().expect("piped stdin");
        Self {
            what,
            child,
            stdout,
            _stdin: stdin,
        }
    }

    /// Everything the process wrote to stderr so far (after it exited or was killed).
    async fn stderr(&mut self) -> String {
        let _ = self.child.start_kill();
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), err.read_to_string(&mut text)).await;
        }
        text
    }

    /// The next JSON line, or `None` at end of output.
    async fn next(&mut self) -> Option<Value> {
        match tokio::time::timeout(STEP_TIMEOUT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => Some(
                serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {line}", self.what)),
            ),
            Ok(Ok(None)) => None,
            Ok(Err(e)) => panic!("{}: reading stdout: {e}", self.what),
            Err(_) => {
                let err = self.stderr().await;
                panic!(
                    "{}: no output for {STEP_TIMEOUT:?}; stderr:\n{err}",
                    self.what
                )
            }
        }
    }

    /// Reads lines until one has `"event": event`; panics on an `error` event or end of output.
    async fn expect_event(&mut self, event: &str) -> Value {
        loop {
            let Some(v) = self.next().await else {
                let err = self.stderr().await;
                panic!("{}: ended before `{event}`; stderr:\n{err}", self.what)
            };
            if v["event"] == event {
                return v;
            }
            if v["event"] == "error" {
                let err = self.stderr().await;
                panic!("{}: {}; stderr:\n{err}", self.what, v["error"])
            }
        }
    }

    /// All lines up to the end of output, then the exit status must be success.
    async fn run_to_end(mut self) -> Vec<Value> {
        let mut lines = Vec::new();
        while let Some(v) = self.next().await {
            if v["event"] == "error" {
                let err = self.stderr().await;
                panic!("{}: {}; stderr:\n{err}", self.what, v["error"])
            }
            lines.push(v);
        }
        let status = tokio::time::timeout(STEP_TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: did not exit", self.what))
            .expect("wait");
        assert!(status.success(), "{}: exit status {status}", self.what);
        lines
    }
}

/// Starts the ethereumjs server on the frontier chain; returns it and its `listening` line.
async fn ethereumjs_server() -> (NodePeer, Value) {
    let dir = frontier::frontier_dir();
    let mut server = NodePeer::spawn(&["serve", "--chain", dir.to_str().expect("utf-8 path")]);
    let listening = server.expect_event("listening").await;
    (server, listening)
}

fn hex_bytes(v: &Value) -> Vec<u8> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}"));
    alloy_primitives::hex::decode(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// EIP-2124 fork id of a mainnet head before Homestead: CRC32 of the genesis hash, next 1150000.
fn frontier_fork_id() -> (String, u64) {
    let hash = crc32fast::hash(MAINNET_GENESIS_HASH.as_slice());
    assert_eq!(ForkHash::from(MAINNET_GENESIS_HASH).0, hash.to_be_bytes());
    let homestead = EthereumHardfork::Homestead
        .mainnet_activation_block()
        .expect("Homestead is block-activated");
    (format!("0x{hash:08x}"), homestead)
}

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
// Transport level: histd's RLPx handshake and frames against ethereumjs. Hello and Status are
// encoded here by hand (devp2p rlpx.md "Hello", eth/68 "Status") so that these tests pin down the
// transport alone.

/// Base protocol message ids; eth/68 is the only shared capability, so its ids start at 0x10.
const HELLO: u8 = 0x00;
const DISCONNECT: u8 = 0x01;
const ETH_STATUS: u8 = 0x10;
const ETH_GET_BLOCK_HEADERS: u8 = 0x13;
/// Total difficulty of the mainnet genesis block (its difficulty), the TD of a node with nothing.
const GENESIS_TD: u64 = 17_179_869_184;

#[derive(Debug, RlpEncodable, RlpDecodable)]
struct Cap {
    name: Bytes,
    version: u64,
}

#[derive(Debug, RlpEncodable, RlpDecodable)]
#[rlp(trailing)]
struct Hello {
    protocol_version: u64,
    client_id: Bytes,
    capabilities: Vec<Cap>,
    listen_port: u64,
    id: B512,
}

#[derive(Debug, RlpEncodable, RlpDecodable)]
struct Status68 {
    version: u64,
    network_id: u64,
    total_difficulty: U256,
    best_hash: B256,
    genesis_hash: B256,
    fork_id: ForkId,
}

#[derive(Debug, RlpDecodable)]
struct HeaderQuery {
    origin: u64,
    amount: u64,
    skip: u64,
    reverse: bool,
}

#[derive(Debug, RlpDecodable)]
struct GetBlockHeaders {
    request_id: u64,
    query: HeaderQuery,
}

fn frame(id: u8, payload: &impl Encodable, snappy: bool) -> bytes::Bytes {
    let mut rlp = Vec::new();
    payload.encode(&mut rlp);
    let data = if snappy {
        snap::raw::Encoder::new()
            .compress_vec(&rlp)
            .expect("snappy")
    } else {
        rlp
    };
    let mut out = Vec::with_capacity(data.len() + 1);
    id.encode(&mut out);
    out.extend_from_slice(&data);
    out.into()
}

/// Splits a frame into its message id and (decompressed unless Hello) RLP payload.
fn open_frame(frame: &[u8]) -> (u8, Vec<u8>) {
    let mut buf = frame;
    let id = u8::decode(&mut buf).expect("message id");
    if id == HELLO {
        return (id, buf.to_vec());
    }
    let data = snap::raw::Decoder::new()
        .decompress_vec(buf)
        .unwrap_or_else(|e| panic!("message {id:#x}: not snappy: {e}"));
    (id, data)
}

async fn recv_frame(stream: &mut RlpxStream<TcpStream>) -> (u8, Vec<u8>) {
    let frame = tokio::time::timeout(STEP_TIMEOUT, stream.recv())
        .await
        .expect("a frame within the step timeout")
        .expect("connection open")
        .expect("frame decrypts and authenticates");
    open_frame(&frame)
}

fn our_hello(key: &SecretKey) -> Hello {
    Hello {
        protocol_version: 5,
        client_id: Bytes::from_static(b"histd-interop-test"),
        capabilities: vec![Cap {
            name: Bytes::from_static(b"eth"),
            version: 68,
        }],
        listen_port: 0,
        id: rlpx::id_of(key),
    }
}

fn frontier_status(best_hash: B256, total_difficulty: U256) -> Status68 {
    let (_, next) = frontier_fork_id();
    Status68 {
        version: 68,
        network_id: 1,
        total_difficulty,
        best_hash,
        genesis_hash: MAINNET_GENESIS_HASH,
        fork_id: ForkId {
            hash: ForkHash::from(MAINNET_GENESIS_HASH),
            next,
        },
    }
}

fn check_their_hello(payload: &[u8], expected_id: Option<B512>) -> Hello {
    let hello = Hello::decode(&mut &payload[..]).expect("ethereumjs Hello decodes");
    assert_eq!(hello.protocol_version, 5, "{hello:?}");
    assert!(
        hello
            .capabilities
            .iter()
            .any(|c| &c.name[..] == b"eth" && c.version == 68),
        "{hello:?}"
    );
    if let Some(id) = expected_id {
        assert_eq!(hello.id, id, "Hello id is the id proven by the handshake");
    }
    hello
}

fn parse_enode(enode: &str) -> (B512, std::net::SocketAddr) {
    let rest = enode.strip_prefix("enode://").expect("enode URL");
    let (id, addr) = rest.split_once('@').expect("id@addr");
    (
        id.parse().expect("node id hex"),
        addr.parse().expect("ip:port"),
    )
}

#[tokio::test]
async fn histd_rlpx_initiator_handshakes_with_ethereumjs() {
    let blocks = frontier::load_frontier();
    let (mut server, listening) = ethereumjs_server().await;
    let (remote_id, addr) = parse_enode(listening["enode"].as_str().expect("enode"));
    let key = SecretKey::new(&mut secp256k1::rand::rng());
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut stream = rlpx::initiate(tcp, &key, remote_id, rlpx::DEFAULT_HANDSHAKE_TIMEOUT)
        .await
        .expect("EIP-8 handshake with ethereumjs");
    assert_eq!(stream.remote_id(), remote_id);
    stream
        .send(frame(HELLO, &our_hello(&key), false))
        .await
        .expect("send Hello");

    let (id, payload) = recv_frame(&mut stream).await;
    assert_eq!(id, HELLO);
    check_their_hello(&payload, Some(remote_id));

    let (id, payload) = recv_frame(&mut stream).await;
    assert_eq!(id, ETH_STATUS, "ethereumjs sends its Status after Hello");
    let status = Status68::decode(&mut &payload[..]).expect("Status decodes");
    let head = blocks.last().expect("blocks");
    assert_eq!((status.version, status.network_id), (68, 1));
    assert_eq!(status.best_hash, head.hash);
    assert_eq!(status.genesis_hash, MAINNET_GENESIS_HASH);
    assert_eq!(
        status.fork_id,
        frontier_status(head.hash, U256::ZERO).fork_id
    );

    // Our Status reaches ethereumjs intact (MACs, AES-CTR, snappy, RLP all accepted).
    let ours = frontier_status(MAINNET_GENESIS_HASH, U256::from(GENESIS_TD));
    stream
        .send(frame(ETH_STATUS, &ours, true))
        .await
        .expect("send Status");
    let seen = server.expect_event("status").await;
    assert_eq!(seen["peer"]["td"], GENESIS_TD.to_string(), "{seen}");
    assert_eq!(
        seen["peer"]["bestHash"],
        MAINNET_GENESIS_HASH.to_string(),
        "{seen}"
    );

    // Disconnect in the list form (rlpx.md), reason 0x08 "client quitting".
    stream
        .send(frame(DISCONNECT, &vec![8u8], true))
        .await
        .expect("send Disconnect");
    // ethereumjs half-closes on Disconnect and reports the peer gone once the socket closes.
    stream.close().await.expect("close");
    drop(stream);
    let removed = server.expect_event("peer_removed").await;
    assert_eq!(removed["reason"], "CLIENT_QUITTING", "{removed}");
    assert_eq!(removed["by_us"], false, "{removed}");
}

#[tokio::test]
async fn ethereumjs_initiator_handshakes_with_histd_rlpx() {
    let blocks = frontier::load_frontier();
    let head = blocks.last().expect("blocks");
    let key = SecretKey::new(&mut secp256k1::rand::rng());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let enode = format!(
        "enode://{}@{}",
        alloy_primitives::hex::encode(rlpx::id_of(&key)),
        listener.local_addr().expect("addr")
    );
    let mut client = NodePeer::spawn(&["client", &enode]);
    let (tcp, _) = tokio::time::timeout(STEP_TIMEOUT, listener.accept())
        .await
        .expect("ethereumjs dials")
        .expect("accept");
    let mut stream = rlpx::accept(tcp, &key, rlpx::DEFAULT_HANDSHAKE_TIMEOUT)
        .await
        .expect("ethereumjs's EIP-8 auth accepted");
    stream
        .send(frame(HELLO, &our_hello(&key), false))
        .await
        .expect("send Hello");
    let (id, payload) = recv_frame(&mut stream).await;
    assert_eq!(id, HELLO);
    check_their_hello(&payload, Some(stream.remote_id()));

    let (id, payload) = recv_frame(&mut stream).await;
    assert_eq!(id, ETH_STATUS);
    let status = Status68::decode(&mut &payload[..]).expect("Status decodes");
    assert_eq!(status.total_difficulty, U256::from(GENESIS_TD));
    assert_eq!(status.best_hash, MAINNET_GENESIS_HASH);
    assert_eq!(
        status.fork_id,
        frontier_status(head.hash, U256::ZERO).fork_id
    );

    let ours = frontier_status(head.hash, U256::from(head.header.difficulty));
    stream
        .send(frame(ETH_STATUS, &ours, true))
        .await
        .expect("send Status");
    let seen = client.expect_event("status").await;
    assert_frontier_status(&seen["peer"], &blocks);

    // The client goes on with its first request: GetBlockHeaders [req-id, [1000001, 30, 0, 0]].
    let (id, payload) = recv_frame(&mut stream).await;
    assert_eq!(id, ETH_GET_BLOCK_HEADERS);
    let req = GetBlockHeaders::decode(&mut &payload[..]).expect("GetBlockHeaders");
    assert!(req.request_id > 0);
    let q = req.query;
    assert_eq!(
        (q.origin, q.amount, q.skip, q.reverse),
        (frontier::FIRST, 30, 0, false)
    );
}

// ------------------------------------------------------------------------------------------------
// eth level: histd's eth/68 codec and Status validation against ethereumjs, over histd's RLPx.

/// Offset of the eth capability's message ids (after the 16 base protocol ids).
const ETH_OFFSET: u8 = 0x10;

async fn send_eth(stream: &mut RlpxStream<TcpStream>, msg: &EthMessage) {
    let (id, payload) = msg.encode(EthVersion::Eth68).expect("encodes for eth/68");
    let data = snap::raw::Encoder::new()
        .compress_vec(&payload)
        .expect("snappy");
    let mut out = Vec::with_capacity(data.len() + 1);
    (ETH_OFFSET + id).encode(&mut out);
    out.extend_from_slice(&data);
    stream.send(out.into()).await.expect("send eth message");
}

async fn recv_eth(stream: &mut RlpxStream<TcpStream>) -> EthMessage {
    let (id, payload) = recv_frame(stream).await;
    assert!(
        id >= ETH_OFFSET,
        "base protocol message {id:#x} where eth was expected"
    );
    EthMessage::decode(EthVersion::Eth68, id - ETH_OFFSET, &payload)
        .unwrap_or_else(|e| panic!("histd cannot decode ethereumjs's message: {e}"))
}

async fn fetch_headers(
    stream: &mut RlpxStream<TcpStream>,
    request_id: u64,
    start: BlockHashOrNumber,
    limit: u64,
    skip: u64,
    reverse: bool,
) -> Vec<Header> {
    let query = GetHeaders {
        start,
        limit,
        skip,
        reverse,
    };
    send_eth(
        stream,
        &EthMessage::GetBlockHeaders(RequestPair::new(request_id, query)),
    )
    .await;
    match recv_eth(stream).await {
        EthMessage::BlockHeaders(r) => {
            assert_eq!(r.request_id, request_id, "response carries the request id");
            r.message
        }
        other => panic!("expected BlockHeaders, got {other:?}"),
    }
}

#[tokio::test]
async fn histd_eth68_codec_fetches_and_verifies_the_frontier_chain_from_ethereumjs() {
    let blocks = frontier::load_frontier();
    let head = blocks.last().expect("blocks");
    let (mut server, listening) = ethereumjs_server().await;
    let (remote_id, addr) = parse_enode(listening["enode"].as_str().expect("enode"));
    let key = SecretKey::new(&mut secp256k1::rand::rng());
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut stream = rlpx::initiate(tcp, &key, remote_id, rlpx::DEFAULT_HANDSHAKE_TIMEOUT)
        .await
        .expect("handshake");
    stream
        .send(frame(HELLO, &our_hello(&key), false))
        .await
        .expect("send Hello");
    let (id, payload) = recv_frame(&mut stream).await;
    assert_eq!(id, HELLO);
    check_their_hello(&payload, Some(remote_id));

    // Their Status passes histd's checks whether histd is fresh (head = genesis) or fully synced,
    // and histd's chain spec computes the same fork id for their head as ethereumjs does.
    let EthMessage::Status(theirs) = recv_eth(&mut stream).await else {
        panic!("expected Status first")
    };
    let spec = ChainSpec::mainnet();
    assert_eq!(
        theirs.fork_id,
        spec.fork_id(ForkHead::new(
            BlockNumber(head.header.number),
            head.header.timestamp
        ))
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
    send_eth(&mut stream, &EthMessage::Status(ours)).await;
    let seen = server.expect_event("status").await;
    assert_eq!(
        seen["peer"]["forkId"][0],
        format!(
            "0x{}",
            alloy_primitives::hex::encode(synced.current().hash.0)
        ),
        "{seen}"
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
    let headers = fetch_headers(&mut stream, 1, first, n, 0, false).await;
    assert_eq!(ids(headers.clone()), expect((0..blocks.len()).collect()));
    // A request id above u32 comes back unchanged.
    let big_id = 0x1_0000_0001;
    assert_eq!(
        ids(fetch_headers(&mut stream, big_id, last, n, 0, true).await),
        expect((0..blocks.len()).rev().collect())
    );
    assert_eq!(
        ids(fetch_headers(&mut stream, 3, first, 10, 2, false).await),
        expect((0..blocks.len()).step_by(3).collect())
    );
    assert_eq!(
        ids(fetch_headers(&mut stream, 4, last, 5, 4, true).await),
        expect((0..blocks.len()).rev().step_by(5).take(5).collect())
    );
    // Beyond their head: fewer headers, not an error.
    let beyond = BlockHashOrNumber::Number(BlockNumber(head.header.number - 1));
    assert_eq!(
        fetch_headers(&mut stream, 5, beyond, 10, 0, false)
            .await
            .len(),
        2
    );

    let hashes: Vec<B256> = blocks.iter().map(|b| b.hash).collect();
    send_eth(
        &mut stream,
        &EthMessage::GetBlockBodies(RequestPair::new(6, hashes.clone())),
    )
    .await;
    let EthMessage::BlockBodies(bodies) = recv_eth(&mut stream).await else {
        panic!("expected BlockBodies")
    };
    assert_eq!(bodies.request_id, 6);
    send_eth(
        &mut stream,
        &EthMessage::GetReceipts(RequestPair::new(7, hashes)),
    )
    .await;
    let EthMessage::Receipts(receipts) = recv_eth(&mut stream).await else {
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
}
