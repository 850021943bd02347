//! A full disk during fast-sync (the real pipeline, in process, against testnet peers; the disk
//! "fills" through the storage fault hook, one ENOSPC on a shard write): the run stops with the
//! disk-full error instead of retrying in a loop, and once space is back a second run on the same
//! directory finishes the range and every block equals the source chain.

use std::sync::Arc;
use std::time::Duration;

use histd::daemon::exit;
use histd::p2p::chain::ForkHead;
use histd::p2p::discovery::{Discovered, NodeRecord, Source};
use histd::p2p::eth::BlockRange;
use histd::p2p::node_key::NodeKey;
use histd::p2p::pool::{MemoryPeerCache, PeerPool, PoolConfig, PoolDeps, RunningPool};
use histd::p2p::session::{EmptyHistory, PeerConfig, StatusInputs};
use histd::primitives::BlockNumber;
use histd::storage::fault::{self, IoOp};
use histd::storage::{OpenOptions, Retention, StoreHandle};
use histd::sync::fastsync::{FastSync, Limits, Outcome, Target};
use histd::sync::stats::SyncStats;
use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, TESTNET_CHAIN_ID, Testnet, TestnetConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;

const BLOCKS: u64 = 400;

async fn pool(net: &Testnet) -> RunningPool {
    let spec = net.spec.clone();
    let status = StatusInputs {
        filter: spec.fork_filter(ForkHead::new(0u64, spec.genesis_timestamp)),
        served: BlockRange::genesis(&spec),
        spec,
    };
    let (tx, rx) = mpsc::channel(16);
    for e in net.enodes() {
        tx.send(Discovered {
            record: NodeRecord::new(e.id, e.addr.ip(), e.addr.port()),
            source: Source::Static,
        })
        .await
        .expect("feed");
    }
    // Keep the feed open, as discovery does in the daemon.
    std::mem::forget(tx);
    let config = PoolConfig {
        dial_interval: Duration::from_millis(20),
        head_interval: Duration::from_millis(100),
        ..PoolConfig::new(8, 3, None)
    };
    let deps = PoolDeps {
        peer: PeerConfig::new(NodeKey::random(), status),
        provider: Arc::new(EmptyHistory),
        discovered: Some(rx),
        cache: Arc::new(MemoryPeerCache::default()),
    };
    let pool = PeerPool::spawn(config, deps, CancellationToken::new())
        .await
        .expect("pool");
    let mut snaps = pool.handle.subscribe();
    tokio::time::timeout(Duration::from_secs(30), snaps.wait_for(|s| s.usable >= 3))
        .await
        .expect("three usable peers")
        .expect("pool runs");
    pool
}

fn run(net: &Testnet, store: &StoreHandle, pool: &RunningPool) -> FastSync {
    FastSync {
        genesis: net.spec.genesis_hash,
        store: store.clone(),
        pool: pool.handle.clone(),
        start: BlockNumber(0),
        target: Target::Range(BlockNumber(BLOCKS - 1)),
        checkpoints: Vec::new(),
        anchor_quorum: 3,
        stats: SyncStats::new(),
        limits: Limits::default(),
        stored_range: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_fast_sync_and_a_rerun_after_freeing_space_finishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let net = Testnet::start(TestnetConfig::new(ChainKind::Synthetic, BLOCKS, 3))
        .await
        .expect("testnet");
    let data = data_dir(dir.path());
    let opts = OpenOptions {
        chain_id: TESTNET_CHAIN_ID,
        genesis_hash: net.spec.genesis_hash,
        shard_size: SHARD_SIZE,
        retention: Retention::default(),
    };
    let store = StoreHandle::open(&data, opts).await.expect("open");
    let pool = pool(&net).await;

    // The disk is full for the first shard write fast-sync makes.
    fault::fail_once(&data, IoOp::Write, 0);
    let first = tokio::time::timeout(
        Duration::from_secs(120),
        run(&net, &store, &pool).run(CancellationToken::new()),
    )
    .await
    .expect("fast-sync stops instead of retrying");
    let err = first.expect_err("a full disk ends the run");
    assert!(exit::is_disk_full(&err), "not seen as a full disk: {err}");
    assert!(!fault::once_pending(&data), "the fault fired");

    // Space is back: the same directory, a new run, the whole range.
    fault::clear(&data);
    let second = tokio::time::timeout(
        Duration::from_secs(120),
        run(&net, &store, &pool).run(CancellationToken::new()),
    )
    .await
    .expect("the second run ends");
    assert_eq!(
        second.expect("the second run finishes"),
        Outcome::CaughtUp {
            tip: BlockNumber(BLOCKS - 1)
        }
    );
    store.close().await;
    assert_store_equals(dir.path(), &net.chain, 0..=BLOCKS - 1);
}

/// A tmpfs mounted for the life of a test (root only), unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Self(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("mount runs");
        assert!(status.success(), "remount {size}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_real_full_disk_stops_histd_with_exit_4_and_it_resumes_after_space_is_freed() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    // A 1 MiB filesystem under the data directory: the index and the first shards fit, the range
    // does not.
    let disk = match Tmpfs::mount(&data_dir(dir.path()), "1m") {
        Ok(d) => d,
        Err(why) => {
            println!("skipped: cannot mount a tmpfs here (needs root): {why}");
            return;
        }
    };
    const END: u64 = 3000;
    let net = start_testnet(
        &rt,
        dir.path(),
        TestnetConfig::new(ChainKind::Synthetic, END, 3),
    );
    let args = ["--end-block", "3000", "--min-peers", "3"];
    let mut h = Histd::spawn(run_cmd(dir.path(), &enodes(&net), &args));
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(
        status.code(),
        Some(4),
        "exit code for a full disk: {:#?}",
        h.seen
    );
    let line = h.wait_for("the disk-full line", |v| {
        v["level"] == "ERROR"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("disk full: fast-sync stopped"))
    });
    assert!(
        line["data_dir"]
            .as_str()
            .is_some_and(|d| d.ends_with("data")),
        "{line}"
    );
    assert!(line["free"].as_str().is_some(), "{line}");
    assert!(!h.entered("finalizing"), "no compaction on a full disk");
    // Space is freed (before the store is opened here: opening it writes, which a full disk may
    // refuse); the same directory then resumes and finishes the range; nothing is lost.
    disk.resize("256m");
    let stored_before = stored_count(dir.path(), &net.chain, 0..=END);
    assert!(stored_before < END + 1, "the disk filled before the end");

    let mut h = Histd::spawn(run_cmd(dir.path(), &enodes(&net), &args));
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    let verify = db_verify(dir.path());
    assert!(verify.contains(&format!("{} blocks", END + 1)), "{verify}");
    assert_store_equals(dir.path(), &net.chain, 0..=END);
    println!("{stored_before} blocks stored before the disk filled; the rerun finished the range");
    drop(disk);
}
