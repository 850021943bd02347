//! Startup to FastSync on a large data directory (issue 14: ≤ 2 s on 1,000,000 stored blocks): the
//! real `histd run` process, from spawn to its logged `startup -> fast_sync` transition, the
//! minimum of several runs (README "Performance").
//!
//! The data directory holds 1,000,000 small blocks (no transactions: start-up cost is about shards
//! and the index, not content) in 100 sealed shards of 10,000, written with the storage API
//! directly and cached under `target/histd-bench-startup/` between runs (building it takes about a
//! minute). One in-process testnet peer lets histd leave Startup (it waits for `sync.min_peers`,
//! at least 1); each run then stops with SIGTERM, so the next one opens a cleanly closed store.
//!
//! Run: `cargo bench --bench startup`. Run by `cargo test --all-targets` (no `--bench` argument) it
//! is a smoke run: 2,000 blocks in 2 shards, one start.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use histd::primitives::{BlockNumber, Body, VerifiedBlock};
use histd::storage::{OpenOptions, Retention, Storage};
use histd::testkit::chain::ChainGen;
use histd::testkit::process::HistdProcess;
use histd::testkit::testnet::{
    ChainKind, TESTNET_CHAIN_ID, Testnet, TestnetConfig, chain::genesis_header,
};
use histd::verify::{SealedHeader, verify_block};

/// What to build and how often to start.
struct Plan {
    blocks: u64,
    shard_size: u64,
    runs: usize,
}

/// The data directory for `plan`, built once and reused (a `complete` marker says it is whole).
fn data_dir(plan: &Plan) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target
        .join("histd-bench-startup")
        .join(format!("{}-{}", plan.blocks, plan.shard_size));
    if dir.join("complete").is_file() {
        return dir.join("data");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let t = Instant::now();
    build(&dir.join("data"), plan);
    std::fs::write(dir.join("complete"), b"").expect("write the marker");
    eprintln!(
        "built {} blocks in {} sealed shards in {:.1?} ({})",
        plan.blocks,
        plan.blocks / plan.shard_size,
        t.elapsed(),
        dir.display()
    );
    dir.join("data")
}

/// Writes blocks `0 .. plan.blocks` (the testnet genesis, then empty synthetic blocks linked to
/// it) and seals every shard, log index included: what a finished fast-sync leaves.
fn build(data: &Path, plan: &Plan) {
    let genesis = verify_block(
        SealedHeader::seal(genesis_header()),
        Body::default(),
        Vec::new(),
    )
    .expect("the genesis verifies");
    let store = Storage::open(
        data,
        OpenOptions {
            chain_id: TESTNET_CHAIN_ID,
            genesis_hash: genesis.hash(),
            shard_size: plan.shard_size,
            retention: Retention::default(),
        },
    )
    .expect("open the data directory");
    let mut chain_gen = ChainGen::new(14);
    chain_gen.max_txs = 0;
    let mut parent = genesis.hash();
    let mut batch: Vec<VerifiedBlock> = vec![genesis];
    for n in 1..plan.blocks {
        let block = chain_gen.block(BlockNumber(n), parent);
        parent = block.hash();
        batch.push(block);
        if batch.len() == 5_000 {
            store
                .put_unordered(&std::mem::take(&mut batch))
                .expect("store");
        }
    }
    store.put_unordered(&batch).expect("store");
    let sealed = store
        .seal_complete(BlockNumber(plan.blocks - 1))
        .expect("seal");
    assert_eq!(sealed.len() as u64, plan.blocks / plan.shard_size);
}

/// Seconds from spawning `histd run` to its `startup -> fast_sync` line.
fn start_once(data: &Path, chain_toml: &Path, enode: &str, plan: &Plan) -> f64 {
    let mut cmd = HistdProcess::command(env!("CARGO_BIN_EXE_histd"));
    cmd.arg("run")
        .arg("--chain")
        .arg(chain_toml)
        .arg("--data-dir")
        .arg(data)
        .args(["--no-discovery", "--p2p-listen", "127.0.0.1:0"])
        .args(["--metrics-bind", "127.0.0.1:0", "--log-format", "json"])
        .args(["--shard-size", &plan.shard_size.to_string()])
        .args(["--end-block", &(plan.blocks - 1).to_string()])
        .args(["--min-peers", "1", "--peer", enode]);
    let started = Instant::now();
    let mut h = HistdProcess::spawn(cmd);
    h.wait_for_within(Duration::from_secs(120), "startup -> fast_sync", |v| {
        v["message"] == "phase transition" && v["to"] == "fast_sync"
    });
    let secs = started.elapsed().as_secs_f64();
    h.signal(libc::SIGTERM);
    let status = h.wait_exit_within(Duration::from_secs(120));
    assert!(status.code().is_some(), "histd was killed: {:#?}", h.seen);
    secs
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let plan = if smoke {
        Plan {
            blocks: 2_000,
            shard_size: 1_000,
            runs: 1,
        }
    } else {
        Plan {
            blocks: 1_000_000,
            shard_size: 10_000,
            runs: 7,
        }
    };
    let data = data_dir(&plan);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let net_dir = tempfile::tempdir().expect("temp dir");
    let mut config = TestnetConfig::new(ChainKind::Synthetic, 8, 1);
    config.out_dir = Some(net_dir.path().to_path_buf());
    let net = rt.block_on(Testnet::start(config)).expect("testnet starts");
    let chain_toml = net.chain_toml.clone().expect("chain.toml written");
    let enode = net.enodes()[0].to_string();
    let times: Vec<f64> = (0..plan.runs)
        .map(|_| start_once(&data, &chain_toml, &enode, &plan))
        .collect();
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "startup to FastSync, {} blocks in {} sealed shards: min {:.3} s of {} runs {:?}",
        plan.blocks,
        plan.blocks / plan.shard_size,
        min,
        times.len(),
        times.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>()
    );
}
