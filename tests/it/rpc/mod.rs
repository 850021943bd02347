//! The JSON-RPC server over real sockets and a real store filled with the real mainnet blocks:
//! answers checked against values recomputed from the raw data (`methods`), malformed input and
//! limits (`errors`), `eth_getLogs` against a reference filter (`logs`), filters and WebSocket
//! subscriptions fed by chain events (`feed`), `histd serve` as the real binary (`serve`), and the
//! real viem and web3.py clients against `histd run` following a testnet through a reorg
//! (`clients`).

mod clients;
mod errors;
mod feed;
mod logs;
mod methods;
mod serve;

use std::net::SocketAddr;

use alloy_primitives::B256;
use histd::primitives::VerifiedBlock;
use histd::rpc::{Head, RpcSettings, Server, ServerHandle};
use histd::storage::{OpenOptions, Retention, Storage, StoreHandle};
use histd::testkit::mainnet::{RawMainnetBlock, load_blocks};
use histd::verify::{self, SealedHeader};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// A server on a store holding every mainnet test block (head: the highest of them).
pub struct Harness {
    pub addr: SocketAddr,
    pub server: ServerHandle,
    pub raw: Vec<RawMainnetBlock>,
    pub blocks: Vec<VerifiedBlock>,
    /// Kept so the head stays published for the server's life.
    _head_tx: watch::Sender<Head>,
    _dir: tempfile::TempDir,
}

pub fn mainnet_store(dir: &std::path::Path) -> (Vec<RawMainnetBlock>, Vec<VerifiedBlock>) {
    let raw = load_blocks();
    let blocks: Vec<VerifiedBlock> = raw
        .iter()
        .map(|b| {
            verify::verify_block(
                SealedHeader::seal(b.header.clone()),
                b.body.clone(),
                b.receipts.clone(),
            )
            .expect("mainnet block verifies")
        })
        .collect();
    let store = Storage::open(
        dir,
        OpenOptions {
            chain_id: 1,
            genesis_hash: B256::repeat_byte(0xd4),
            shard_size: 10_000,
            retention: Retention::default(),
        },
    )
    .unwrap();
    store.put_unordered(&blocks).unwrap();
    store.compact_dirty().unwrap();
    (raw, blocks)
}

pub async fn start(tweak: impl FnOnce(&mut RpcSettings)) -> Harness {
    start_prepared(tweak, |_| {}).await
}

/// [`start`], with `prepare` run on the filled store before the server opens it.
pub async fn start_prepared(
    tweak: impl FnOnce(&mut RpcSettings),
    prepare: impl FnOnce(&Storage) + Send + 'static,
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (raw, blocks) = tokio::task::spawn_blocking(move || {
        let filled = mainnet_store(&path);
        prepare(&Storage::open_existing(&path).unwrap());
        filled
    })
    .await
    .unwrap();
    let store = StoreHandle::open(
        dir.path(),
        OpenOptions {
            chain_id: 1,
            genesis_hash: B256::repeat_byte(0xd4),
            shard_size: 10_000,
            retention: Retention::default(),
        },
    )
    .await
    .unwrap();
    let top = blocks.last().unwrap();
    let (head_tx, head_rx) = watch::channel(Head {
        number: top.number(),
        hash: top.hash(),
        safe: Some(top.number()),
        finalized: None,
    });
    let mut settings = RpcSettings::new("127.0.0.1:0".parse().unwrap());
    settings.blob_schedule = histd::cli::serve::blob_schedule(1);
    tweak(&mut settings);
    let server = Server::start(settings, store.clone(), 1, head_rx)
        .await
        .unwrap();
    Harness {
        addr: server.local_addr(),
        server,
        raw,
        blocks,
        _head_tx: head_tx,
        _dir: dir,
    }
}

/// One HTTP response: status, headers (names lowercased), body.
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// POSTs `body` over a fresh connection (plain HTTP/1.1, read to close).
pub async fn post_raw(addr: SocketAddr, body: &[u8], extra_headers: &str) -> HttpAnswer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // A server may answer (413) before reading everything; a failed write is then expected.
    let _ = s.write_all(body).await;
    read_answer(&mut s).await
}

pub async fn read_answer(s: &mut TcpStream) -> HttpAnswer {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Calls `method` and returns the whole response object.
pub async fn call(addr: SocketAddr, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let a = post_raw(addr, body.to_string().as_bytes(), "").await;
    assert_eq!(a.status, 200, "{method}: {}", a.body);
    a.json()
}

/// Calls `method` and returns its result, failing on an error answer.
pub async fn result(addr: SocketAddr, method: &str, params: Value) -> Value {
    let r = call(addr, method, params).await;
    assert!(r.get("error").is_none(), "{method} failed: {r}");
    r["result"].clone()
}

/// Calls `method` and returns its error object, failing on a result.
pub async fn error(addr: SocketAddr, method: &str, params: Value) -> Value {
    let r = call(addr, method, params).await;
    assert!(r.get("result").is_none(), "{method} answered {r}");
    r["error"].clone()
}

pub fn qty(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a quantity: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

pub fn hex_n(n: u64) -> String {
    format!("{n:#x}")
}
