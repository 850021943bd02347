//! Fast-sync end to end: the real `histd` binary against in-process testnet peers (each on its own
//! loopback /24), real redb files, real signals. Range sync, resume after `kill -9`, hostile peers,
//! a moving head, Ctrl-C at random moments, memory, systemd notifications.

mod ctrlc;
mod disk_full;
mod hostile;
mod memory;
mod moving_head;
mod notify;
mod prometheus;
mod range;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use histd::storage::{OpenOptions, Retention, Storage};
use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{
    ChainKind, PeerKnobs, TESTNET_CHAIN_ID, Testnet, TestnetChain, TestnetConfig,
};

/// Blocks per shard in these tests (several shards, some partial).
pub const SHARD_SIZE: u64 = 1000;
/// How long a whole sync run may take on a busy machine.
pub const RUN_LIMIT: Duration = Duration::from_secs(600);

/// A runtime for the testnet peers (they run on its workers while the test thread waits on the
/// binary).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A synthetic testnet of `blocks` blocks and `peers` peers slow enough that a sync of a few
/// thousand blocks lasts several seconds (to stop it halfway, or watch it while it runs): 40 ms
/// per answer, at most 64 items.
pub fn start_slow_testnet(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    blocks: u64,
    peers: usize,
) -> Testnet {
    let mut config = TestnetConfig::new(ChainKind::Synthetic, blocks, peers);
    config.knobs = PeerKnobs {
        latency: Duration::from_millis(40),
        max_items: Some(64),
        ..PeerKnobs::default()
    };
    start_testnet(rt, dir, config)
}

/// A testnet writing its chain.toml into `dir`.
pub fn start_testnet(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    mut config: TestnetConfig,
) -> Testnet {
    config.out_dir = Some(dir.to_path_buf());
    rt.block_on(Testnet::start(config)).expect("testnet starts")
}

/// The data directory of a test.
pub fn data_dir(dir: &Path) -> PathBuf {
    dir.join("data")
}

/// `histd run` on `dir`'s chain.toml and data directory with `peers` as static peers and no
/// discovery, JSON logs, plus `extra` flags.
pub fn run_cmd(dir: &Path, peers: &[String], extra: &[&str]) -> Command {
    let mut cmd = Histd::command(env!("CARGO_BIN_EXE_histd"));
    cmd.arg("run")
        .arg("--chain")
        .arg(dir.join("chain.toml"))
        .arg("--data-dir")
        .arg(data_dir(dir))
        .args(["--no-discovery", "--p2p-listen", "127.0.0.1:0"])
        .args(["--metrics-bind", "127.0.0.1:0", "--log-format", "json"])
        .args(["--shard-size", &SHARD_SIZE.to_string()]);
    for p in peers {
        cmd.arg("--peer").arg(p);
    }
    cmd.args(extra);
    cmd
}

/// The enode URLs of a testnet's peers.
pub fn enodes(net: &Testnet) -> Vec<String> {
    net.enodes().iter().map(ToString::to_string).collect()
}

/// `histd db verify` on `dir`'s data directory: passes, and says how many blocks it checked.
pub fn db_verify(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(["db", "verify", "--chain"])
        .arg(dir.join("chain.toml"))
        .arg("--data-dir")
        .arg(data_dir(dir))
        .args(["--shard-size", &SHARD_SIZE.to_string()])
        .env_remove("HISTD_CONFIG")
        .output()
        .expect("histd db verify runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "db verify failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The test's store, opened directly (the node must have exited).
pub fn open_store(dir: &Path, chain: &TestnetChain) -> Storage {
    Storage::open(
        &data_dir(dir),
        OpenOptions {
            chain_id: TESTNET_CHAIN_ID,
            genesis_hash: chain.genesis().hash_slow(),
            shard_size: SHARD_SIZE,
            retention: Retention::default(),
        },
    )
    .expect("open the data directory")
}

/// Every block of `range` is stored and equals the source chain's (hash, body, receipts).
pub fn assert_store_equals(dir: &Path, chain: &TestnetChain, range: std::ops::RangeInclusive<u64>) {
    let store = open_store(dir, chain);
    for n in range {
        let block = store
            .block(histd::primitives::BlockNumber(n))
            .expect("read")
            .unwrap_or_else(|| panic!("block {n} is not stored"));
        assert_eq!(Some(block.hash()), chain.hash(n), "block {n} hash");
        assert_eq!(Some(block.body().clone()), chain.body(n), "block {n} body");
        assert_eq!(
            Some(block.receipts().to_vec()),
            chain.receipts(n),
            "block {n} receipts"
        );
    }
}

/// Blocks of `range` stored now.
pub fn stored_count(dir: &Path, chain: &TestnetChain, range: std::ops::RangeInclusive<u64>) -> u64 {
    let store = open_store(dir, chain);
    range
        .filter(|&n| {
            store
                .has_block(histd::primitives::BlockNumber(n))
                .expect("read")
        })
        .count() as u64
}

/// Log lines (as text) with `message`.
pub fn lines_with(h: &Histd, message: &str) -> Vec<String> {
    h.seen
        .iter()
        .filter(|v| v["message"].as_str().is_some_and(|m| m.contains(message)))
        .map(ToString::to_string)
        .collect()
}
