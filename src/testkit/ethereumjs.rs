//! The ethereumjs peer driver: `@ethereumjs/devp2p` (npm), a devp2p implementation nobody here wrote,
//! run as `node tests/interop/peer.mjs serve|client|dump|dpt ...` (eth/68 as shipped, eth/69 through
//! our layer on its Protocol plug-in with `--eth 69`, discv4 through its DPT) and read through its
//! JSON lines, plus the histd side of talking to it below the session layer (RLPx dial/accept,
//! Hello, eth/68 messages).
//!
//! Used by the interop tests (`tests/it/interop/`). Drives and checks the wire only: verifying what was
//! fetched is the tests' job. Needs Node.js >= 20.15 and `tests/interop/node_modules`
//! (`scripts/setup-test-tools.sh`); every process it starts is killed when its [`NodePeer`] drops.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use alloy_consensus::constants::MAINNET_GENESIS_HASH;
use alloy_eip2124::ForkHash;
use alloy_hardforks::EthereumHardfork;
use secp256k1::SecretKey;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::frontier::{self, FrontierBlock};
use crate::p2p::base::{Capability, DEFAULT_HELLO_TIMEOUT, Hello, P2P_VERSION, P2pStream};
use crate::p2p::chain::{ChainSpec, ForkHead};
use crate::p2p::enode::Enode;
use crate::p2p::eth::{
    BlockHashOrNumber, BlockRange, EthMessage, EthVersion, GetBlockHeaders as GetHeaders,
    RequestPair, Status,
};
use crate::p2p::rlpx;
use crate::primitives::{BlockNumber, Header};

/// Generous: the node process starts in ~0.3 s, a whole fetch takes ~1 s; CI machines are slow.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `node tests/interop/peer.mjs ...`, killed when dropped.
pub struct NodePeer {
    what: String,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Kept open: the serving peer exits when its stdin closes, so it cannot outlive the test. The
    /// `dpt` mode also reads commands from it ([`Self::send_line`]).
    stdin: ChildStdin,
}

/// `tests/interop`: the Node.js peer (`peer.mjs`) and its npm packages.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

impl NodePeer {
    pub fn spawn(args: &[&str]) -> Self {
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
            stdin,
        }
    }

    /// Writes one command line to the process's stdin (`peer.mjs dpt` reads `peers`, `bootstrap
    /// ENODE`, `ping ENODE`).
    pub async fn send_line(&mut self, line: &str) {
        let written = async {
            self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
            self.stdin.flush().await
        };
        if let Err(e) = written.await {
            let err = self.stderr().await;
            panic!(
                "{}: cannot write `{line}` to stdin: {e}; stderr:\n{err}",
                self.what
            )
        }
    }

    /// Reads lines until one has `"event": event` and satisfies `pred`, within `within` overall;
    /// panics on an `error` event, end of output or the deadline.
    pub async fn expect_event_where(
        &mut self,
        event: &str,
        within: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let Ok(v) = tokio::time::timeout_at(deadline, self.expect_event(event)).await else {
                let err = self.stderr().await;
                panic!(
                    "{}: no matching `{event}` within {within:?}; stderr:\n{err}",
                    self.what
                )
            };
            if pred(&v) {
                return v;
            }
        }
    }

    /// Everything the process wrote to stderr so far (after it exited or was killed).
    pub async fn stderr(&mut self) -> String {
        let _ = self.child.start_kill();
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), err.read_to_string(&mut text)).await;
        }
        text
    }

    /// The next JSON line, or `None` at end of output.
    pub async fn next(&mut self) -> Option<Value> {
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
    pub async fn expect_event(&mut self, event: &str) -> Value {
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
    pub async fn run_to_end(mut self) -> Vec<Value> {
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
pub async fn ethereumjs_server() -> (NodePeer, Value) {
    ethereumjs_server_with(&[]).await
}

/// As [`ethereumjs_server`], with extra `serve` arguments (e.g. `--tamper body`).
pub async fn ethereumjs_server_with(extra: &[&str]) -> (NodePeer, Value) {
    ethereumjs_server_with_chain(&frontier::frontier_dir(), extra).await
}

/// An ethereumjs server on the blocks of `dir`.
pub async fn ethereumjs_server_with_chain(dir: &Path, extra: &[&str]) -> (NodePeer, Value) {
    let mut args = vec!["serve", "--chain", dir.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let mut server = NodePeer::spawn(&args);
    let listening = server.expect_event("listening").await;
    (server, listening)
}

/// The bytes of a `0x...` hex string in a JSON line of `peer.mjs`.
pub fn hex_bytes(v: &Value) -> Vec<u8> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}"));
    alloy_primitives::hex::decode(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// EIP-2124 fork id of a mainnet head before Homestead: CRC32 of the genesis hash, next 1150000.
pub fn frontier_fork_id() -> (String, u64) {
    let hash = crc32fast::hash(MAINNET_GENESIS_HASH.as_slice());
    assert_eq!(ForkHash::from(MAINNET_GENESIS_HASH).0, hash.to_be_bytes());
    let homestead = EthereumHardfork::Homestead
        .mainnet_activation_block()
        .expect("Homestead is block-activated");
    (format!("0x{hash:08x}"), homestead)
}

/// Total difficulty of the mainnet genesis block (its difficulty), the TD of a node with nothing.
pub const GENESIS_TD: u64 = 17_179_869_184;

/// The Hello histd sends, offering every eth version it speaks.
pub fn our_hello(key: &SecretKey) -> Hello {
    Hello {
        protocol_version: P2P_VERSION,
        client_id: "histd-interop-test".into(),
        // Both versions, highest first, as histd advertises: ethereumjs only has eth/68.
        capabilities: EthVersion::ALL
            .iter()
            .map(|v| Capability::eth(u64::from(v.as_u8())))
            .collect(),
        listen_port: 0,
        id: rlpx::id_of(key),
    }
}

/// Asserts what a Hello exchange with ethereumjs must negotiate: eth/68, its client id, p2p v5,
/// and a Hello id equal to the id the RLPx handshake proved.
pub fn check_negotiated(p2p: &P2pStream<TcpStream>) {
    check_negotiated_version(p2p, EthVersion::Eth68);
}

/// [`check_negotiated`] for a peer started with `--eth 69` (eth/69 and eth/68 offered): `version`.
pub fn check_negotiated_version(p2p: &P2pStream<TcpStream>, version: EthVersion) {
    assert_eq!(
        p2p.capability(),
        &Capability::eth(u64::from(version.as_u8())),
        "highest common version"
    );
    let hello = p2p.their_hello();
    assert!(
        hello.client_id.starts_with("ethereumjs-devp2p"),
        "{hello:?}"
    );
    assert_eq!(hello.protocol_version, 5, "{hello:?}");
    assert_eq!(
        hello.id,
        p2p.remote_id(),
        "Hello id is the id proven by the handshake"
    );
}

/// The enode URL `peer.mjs serve` printed.
pub fn parse_enode(enode: &str) -> Enode {
    enode.parse().unwrap_or_else(|e| panic!("{enode}: {e:?}"))
}

/// Dials ethereumjs at `enode` as `key`: RLPx handshake, Hello exchange, negotiation checked.
pub async fn dial_ethereumjs(enode: &Enode, key: &SecretKey) -> P2pStream<TcpStream> {
    dial_ethereumjs_expecting(enode, key, EthVersion::Eth68).await
}

/// [`dial_ethereumjs`] to a peer that must negotiate `version` (eth/69 with `--eth 69`).
pub async fn dial_ethereumjs_expecting(
    enode: &Enode,
    key: &SecretKey,
    version: EthVersion,
) -> P2pStream<TcpStream> {
    let tcp = TcpStream::connect(enode.addr).await.expect("connect");
    let rlpx = rlpx::initiate(tcp, key, enode.id, rlpx::DEFAULT_HANDSHAKE_TIMEOUT)
        .await
        .expect("EIP-8 handshake with ethereumjs");
    let p2p = P2pStream::handshake(rlpx, our_hello(key), DEFAULT_HELLO_TIMEOUT)
        .await
        .expect("Hello exchange with ethereumjs");
    check_negotiated_version(&p2p, version);
    p2p
}

/// Sends `msg` encoded for eth/68 (the version ethereumjs speaks).
pub async fn send_eth(p2p: &mut P2pStream<TcpStream>, msg: &EthMessage) {
    send_eth_as(p2p, EthVersion::Eth68, msg).await
}

/// Sends `msg` encoded for `version`.
pub async fn send_eth_as(p2p: &mut P2pStream<TcpStream>, version: EthVersion, msg: &EthMessage) {
    let (id, payload) = msg
        .encode(version)
        .unwrap_or_else(|e| panic!("encodes for {version}: {e}"));
    p2p.send(id, &payload).await.expect("send eth message");
}

/// The next eth/68 message from ethereumjs, within [`STEP_TIMEOUT`].
pub async fn recv_eth(p2p: &mut P2pStream<TcpStream>) -> EthMessage {
    recv_eth_as(p2p, EthVersion::Eth68).await
}

/// The next message from ethereumjs decoded as `version`, within [`STEP_TIMEOUT`].
pub async fn recv_eth_as(p2p: &mut P2pStream<TcpStream>, version: EthVersion) -> EthMessage {
    let msg = tokio::time::timeout(STEP_TIMEOUT, p2p.recv())
        .await
        .expect("a message within the step timeout")
        .unwrap_or_else(|e| panic!("connection to ethereumjs failed: {e}"));
    EthMessage::decode(version, msg.id, &msg.payload)
        .unwrap_or_else(|e| panic!("histd cannot decode ethereumjs's message: {e}"))
}

/// One `GetBlockHeaders` request and its answer (the request id is checked).
pub async fn fetch_headers(
    p2p: &mut P2pStream<TcpStream>,
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
        p2p,
        &EthMessage::GetBlockHeaders(RequestPair::new(request_id, query)),
    )
    .await;
    match recv_eth(p2p).await {
        EthMessage::BlockHeaders(r) => {
            assert_eq!(r.request_id, request_id, "response carries the request id");
            r.message
        }
        other => panic!("expected BlockHeaders, got {other:?}"),
    }
}

/// The eth/68 Status histd sends when it holds `blocks` of the frontier chain.
pub fn frontier_status(spec: &ChainSpec, blocks: &[FrontierBlock]) -> Status {
    let head = blocks.last().expect("blocks");
    let filter = spec.fork_filter(ForkHead::new(
        BlockNumber(head.header.number),
        head.header.timestamp,
    ));
    let range = BlockRange {
        earliest: BlockNumber(frontier::FIRST),
        latest: BlockNumber(head.header.number),
        latest_hash: head.hash,
    };
    Status::ours(EthVersion::Eth68, spec, &filter, range)
}

/// Accepts one ethereumjs client on a fresh listener: its `peer.mjs client` process and the
/// negotiated stream.
pub async fn ethereumjs_dials_histd(args: &[&str]) -> (NodePeer, P2pStream<TcpStream>) {
    let key = SecretKey::new(&mut secp256k1::rand::rng());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let enode = format!(
        "enode://{}@{}",
        alloy_primitives::hex::encode(rlpx::id_of(&key)),
        listener.local_addr().expect("addr")
    );
    let mut argv = vec!["client", enode.as_str()];
    argv.extend_from_slice(args);
    let client = NodePeer::spawn(&argv);
    let (tcp, _) = tokio::time::timeout(STEP_TIMEOUT, listener.accept())
        .await
        .expect("ethereumjs dials")
        .expect("accept");
    let rlpx = rlpx::accept(tcp, &key, rlpx::DEFAULT_HANDSHAKE_TIMEOUT)
        .await
        .expect("ethereumjs's EIP-8 auth accepted");
    let p2p = P2pStream::handshake(rlpx, our_hello(&key), DEFAULT_HELLO_TIMEOUT)
        .await
        .expect("Hello exchange with ethereumjs");
    check_negotiated(&p2p);
    (client, p2p)
}

/// What `peer.mjs dump --chain dir` prints: one line per block with the wire bytes the JS side
/// builds from the published files without histd (`header`, `body`, `receipts` for eth/68,
/// `receipts69` for eth/69).
pub async fn ethereumjs_dump(dir: &Path) -> Vec<Value> {
    NodePeer::spawn(&["dump", "--chain", dir.to_str().expect("utf-8 path")])
        .run_to_end()
        .await
}

/// `shared/testdata/mainnet/blocks`, the blocks `peer.mjs serve --chain` takes for every fork.
pub fn mainnet_blocks_dir() -> PathBuf {
    let dir = frontier::frontier_dir()
        .parent()
        .expect("mainnet/")
        .join("blocks");
    assert!(dir.is_dir(), "{}", dir.display());
    dir
}
