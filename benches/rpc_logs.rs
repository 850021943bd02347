//! `eth_getLogs` and `eth_getBlockReceipts` over HTTP against a mainnet-like chain (the testnet's
//! re-linked real mainnet blocks, `TestnetChain`), with the first 10,000 blocks in one sealed,
//! indexed shard: a selective address+topic0 query over 100, 1,000 and 10,000 blocks, a topic-only
//! and an address-only query, and receipts of single blocks. Prints p50/p99 per query (README
//! "The log index"), the index size per block, the seal (index build) time and its peak RSS, and
//! the shard's segments and index over the raw RLP of its blocks.
//!
//! Run: `cargo bench --bench rpc_logs` (about 2 GB of temporary files, a few minutes).
//! `HISTD_BENCH_BLOCKS=2000` runs a smaller chain (ranges are cut to fit). Run by `cargo test
//! --all-targets` (no `--bench` argument), it is a smoke run of 300 blocks and 2 iterations.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use histd::primitives::BlockNumber;
use histd::rpc::{Head, RpcSettings, Server};
use histd::storage::{OpenOptions, Retention, Storage, StoreHandle};
use histd::testkit::testnet::{ChainKind, TestnetChain};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

const SHARD: u64 = 10_000;

fn opts() -> OpenOptions {
    OpenOptions {
        chain_id: 1,
        genesis_hash: B256::repeat_byte(0xbe),
        shard_size: SHARD,
        retention: Retention::default(),
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Self {
        Self {
            s: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let req = format!(
            "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.s.write_all(req.as_bytes()).await.expect("write");
        self.buf.clear();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = self.s.read(&mut chunk).await.expect("read");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if self.buf.len() >= end + 4 + len {
                let v: Value =
                    serde_json::from_slice(&self.buf[end + 4..end + 4 + len]).expect("json");
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// The rarest (address, topic0) pair, the rarest topic0 and the rarest address among those
/// carried by at least `min` logs of the first `blocks` blocks: selective, not empty.
fn pick(store: &Storage, blocks: u64, min: usize) -> ((Address, B256), B256, Address) {
    let mut pairs: HashMap<(Address, B256), usize> = HashMap::new();
    let mut topics: HashMap<B256, usize> = HashMap::new();
    let mut addresses: HashMap<Address, usize> = HashMap::new();
    for n in 1..blocks {
        for r in store.receipts(BlockNumber(n)).unwrap().unwrap_or_default() {
            for l in &r.logs {
                *addresses.entry(l.address).or_default() += 1;
                if let Some(t) = l.topics().first() {
                    *pairs.entry((l.address, *t)).or_default() += 1;
                    *topics.entry(*t).or_default() += 1;
                }
            }
        }
    }
    fn rarest<K: Copy + Ord>(m: HashMap<K, usize>, min: usize) -> K {
        let mut v: Vec<(usize, K)> = m
            .into_iter()
            .filter(|(_, c)| *c >= min)
            .map(|(k, c)| (c, k))
            .collect();
        v.sort();
        v.first().expect("some key has enough logs").1
    }
    (
        rarest(pairs, min),
        rarest(topics, min * 4),
        rarest(addresses, min * 4),
    )
}

/// Bytes of the encodings a peer sends for block `b`: header, eth wire body and eth/69 receipts
/// (the "raw RLP" the storage section's ratios are over).
fn raw_rlp(b: &histd::primitives::VerifiedBlock) -> u64 {
    use alloy_rlp::Encodable;
    let mut body = Vec::new();
    histd::primitives::encode_body(b.body(), &mut body);
    let receipts: usize = b.receipts().iter().map(|r| r.eth69_length()).sum();
    (b.header().length() + body.len() + receipts + alloy_rlp::length_of_length(receipts)) as u64
}

/// Bytes of the files in `dir` whose names start with `prefix`.
fn files_bytes(dir: &std::path::Path, prefix: &str) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A field of /proc/self/status in KiB (Linux; 0 elsewhere).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it, and
    // then a small smoke run checks the benchmark still works without the suite paying for it.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let blocks: u64 = std::env::var("HISTD_BENCH_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 300 } else { SHARD });
    let iterations = if smoke { 2 } else { 50 };
    let dir =
        tempfile::tempdir_in(std::env::var("HISTD_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))
            .expect("temp dir");
    let t = Instant::now();
    let chain = TestnetChain::build(ChainKind::Mainnet, 7, blocks + 1);
    eprintln!(
        "built {} mainnet-like headers in {:?}",
        chain.len(),
        t.elapsed()
    );

    let store = Storage::open(dir.path(), opts()).expect("open");
    let t = Instant::now();
    let mut logs_total = 0u64;
    let mut raw_total = 0u64;
    let mut batch = Vec::new();
    for n in 0..=blocks {
        let b = chain.verified_block(n).expect("block").expect("verifies");
        if n < SHARD {
            raw_total += raw_rlp(&b);
            logs_total += b
                .receipts()
                .iter()
                .map(|r| r.logs.len() as u64)
                .sum::<u64>();
        }
        batch.push(b);
        if batch.len() == 200 || n == blocks {
            store.put_unordered(&batch).expect("put");
            batch.clear();
        }
    }
    store.compact_dirty().expect("compact");
    eprintln!("stored {} blocks in {:?}", blocks + 1, t.elapsed());
    // Seal with a shard that the chain fills (with HISTD_BENCH_BLOCKS below 10,000 nothing is
    // sealed and every query is a bloom scan; the table says which).
    // The peak RSS of sealing (index build included): Linux resets the high-water mark when
    // "5" is written to clear_refs.
    let rss_before = status_kib("VmRSS:");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let t = Instant::now();
    let sealed = store.seal_complete(BlockNumber(blocks)).expect("seal");
    let seal_time = t.elapsed();
    let seal_peak = status_kib("VmHWM:").saturating_sub(rss_before);
    let shard_dir = dir.path().join("shards/000000000000");
    let index_bytes = files_bytes(&shard_dir, "logs-");
    let segment_bytes = files_bytes(&shard_dir, "seg-");
    let ((pair_addr, pair_topic), topic, address) = pick(&store, blocks.min(SHARD), 20);
    let top = blocks - 1;
    drop(store);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let handle = StoreHandle::open(dir.path(), opts()).await.expect("open");
        let (_head_tx, head_rx) = watch::channel(Head {
            number: BlockNumber(blocks),
            hash: chain.hash(blocks).expect("head hash"),
            safe: None,
            finalized: None,
        });
        let mut settings = RpcSettings::new("127.0.0.1:0".parse().expect("addr"));
        settings.max_logs = 1_000_000;
        let server = Server::start(settings, handle, 1, head_rx).await.expect("start");
        let mut c = Client::connect(server.local_addr()).await;
        let range = |span: u64| (top + 1 - span.min(top + 1), top);
        let mut cases: Vec<(String, Value)> = Vec::new();
        for span in [100u64, 1_000, 10_000] {
            let (from, to) = range(span);
            cases.push((
                format!("address + topic0, {} blocks", to - from + 1),
                json!([{"fromBlock": format!("{from:#x}"), "toBlock": format!("{to:#x}"), "address": pair_addr, "topics": [pair_topic]}]),
            ));
        }
        let (from, to) = range(10_000);
        cases.push((
            format!("topic0 only, {} blocks", to - from + 1),
            json!([{"fromBlock": format!("{from:#x}"), "toBlock": format!("{to:#x}"), "topics": [topic]}]),
        ));
        cases.push((
            format!("address only, {} blocks", to - from + 1),
            json!([{"fromBlock": format!("{from:#x}"), "toBlock": format!("{to:#x}"), "address": address}]),
        ));
        println!("| query | logs | p50 ms | p99 ms |");
        println!("|---|---:|---:|---:|");
        for (name, params) in cases {
            let n = c.call("eth_getLogs", params.clone()).await.as_array().map_or(0, Vec::len);
            let mut times = Vec::with_capacity(iterations);
            for _ in 0..iterations {
                let t = Instant::now();
                c.call("eth_getLogs", params.clone()).await;
                times.push(t.elapsed());
            }
            times.sort();
            println!("| {name} | {n} | {} | {} |", ms(pct(&times, 0.5)), ms(pct(&times, 0.99)));
        }
        let mut times = Vec::with_capacity(iterations);
        for i in 0..iterations as u64 {
            let n = 1 + (i * 7919) % top;
            let t = Instant::now();
            c.call("eth_getBlockReceipts", json!([format!("{n:#x}")])).await;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "| eth_getBlockReceipts, one block | - | {} | {} |",
            ms(pct(&times, 0.5)),
            ms(pct(&times, 0.99))
        );
        server.stop().await;
    });
    println!();
    println!(
        "shards sealed: {sealed:?}; log index: {index_bytes} bytes for {} blocks ({} bytes per block, {:.1} per log); seal with index build: {:?}",
        SHARD,
        index_bytes / SHARD,
        index_bytes as f64 / logs_total.max(1) as f64,
        seal_time
    );
    if raw_total > 0 && blocks >= SHARD {
        println!(
            "shard 0 on disk over raw RLP ({raw_total} bytes): segments {:.3}, log index {:.3}, both {:.3}",
            segment_bytes as f64 / raw_total as f64,
            index_bytes as f64 / raw_total as f64,
            (segment_bytes + index_bytes) as f64 / raw_total as f64
        );
    }
    if reset && blocks >= SHARD {
        println!(
            "seal: peak RSS {} MiB above the RSS before it",
            seal_peak / 1024
        );
    }
}
