//! The real `histd` binary with its product workers (no script): a custom chain spec file, an
//! in-process testkit peer on a real loopback RLPx session as its static peer, real redb files in
//! a temporary data directory, real signals. Checks what exists works (storage, node key, peer
//! pool, peer cache, lock) and that fast-sync never syncs unanchored: one peer is one network, short
//! of the anchor quorum, so it waits and says why until stopped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use histd::testkit::pool::{TestChain, TestPeer};

/// A data directory, a chain spec file and the config pointing at them.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(chain: &TestChain) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = format!(
            "name = \"nodetest\"\nchain_id = {}\nnetwork_id = {}\ngenesis_hash = \"{}\"\ngenesis_timestamp = {}\ntotal_difficulty = \"0x1\"\n",
            chain.spec.chain_id,
            chain.spec.network_id,
            chain.spec.genesis_hash,
            chain.spec.genesis_timestamp
        );
        std::fs::write(dir.path().join("chain.toml"), spec).unwrap();
        Self { dir }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Writes a config with `static_peers` and `min_peers`; returns its path.
    fn config(&self, static_peers: &[String], min_peers: u32) -> PathBuf {
        let peers: Vec<String> = static_peers.iter().map(|p| format!("\"{p}\"")).collect();
        let text = format!(
            "chain = \"{}\"\ndata_dir = \"{}\"\n[sync]\nmin_peers = {min_peers}\n[p2p]\nlisten = \"127.0.0.1:0\"\nstatic_peers = [{}]\n[p2p.discovery]\ndns = false\ndiscv4 = false\n[metrics]\nbind = \"127.0.0.1:0\"\n[log]\nformat = \"json\"\n",
            self.dir.path().join("chain.toml").display(),
            self.data_dir().display(),
            peers.join(", ")
        );
        let path = self.dir.path().join("histd.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

use histd::testkit::process::HistdProcess as Histd;

/// `histd run --config <config>` with the product workers.
fn start_histd(config: &Path) -> Histd {
    let mut cmd = Histd::command(env!("CARGO_BIN_EXE_histd"));
    cmd.arg("run").arg("--config").arg(config);
    Histd::spawn(cmd)
}

/// A runtime for the in-process peer (its tasks run on the worker threads while the test
/// thread waits on the binary).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start_peer(rt: &tokio::runtime::Runtime, chain: &TestChain, head: u64) -> TestPeer {
    rt.block_on(TestPeer::start(
        chain.inputs_at(head),
        Arc::new(chain.history_to(head)),
    ))
}

/// `histd db stats` on the config's data directory (fails if the directory is still locked).
fn db_stats(config: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(["db", "stats", "--config"])
        .arg(config)
        .env_remove("HISTD_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "db stats after a stop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn expect_waiting_for_anchor(h: &mut Histd) {
    h.wait_transition("startup", "fast_sync");
    let waiting = h.wait_for("waiting for an anchor", |v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("waiting for an anchor"))
    });
    assert_eq!(waiting["quorum"], 3, "{waiting}");
    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    assert!(!h.logged("fast-sync anchored"), "{:#?}", h.seen);
    assert!(
        !h.seen
            .iter()
            .any(|v| v["message"] == "phase transition" && v["to"] == "follow"),
        "must never pretend to sync: {:#?}",
        h.seen
    );
}

#[test]
fn static_peer_ready_then_fast_sync_waits_for_an_anchor_and_the_peer_cache_remembers_it() {
    let rt = runtime();
    let chain = TestChain::new(71, 40);
    let peer = start_peer(&rt, &chain, 39);
    let setup = Setup::new(&chain);

    let mut h = start_histd(&setup.config(&[peer.record.to_string()], 1));
    let enode = h.wait_for("our enode", |v| v["message"] == "our enode");
    assert!(enode["enode"].as_str().unwrap().starts_with("enode://"));
    let ready = h.wait_transition("startup", "fast_sync");
    assert!(
        ready["reason"].as_str().unwrap().contains("1 peers ready"),
        "{ready}"
    );
    expect_waiting_for_anchor(&mut h);
    assert!(h.logged("data directory closed"), "{:#?}", h.seen);
    drop(h);

    let data = setup.data_dir();
    // The run left its report: the product workers' sync counters (empty: nothing was
    // fetched), and why it ended.
    let latest = histd::daemon::report::latest(&data).expect("a run report");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&latest).unwrap()).unwrap();
    assert_eq!(r["mode"], "follow", "{r}");
    assert_eq!(r["exit"]["code"], 0, "{r}");
    assert!(
        r["exit"]["reason"].as_str().unwrap().contains("SIGINT"),
        "{r}"
    );
    assert_eq!(r["sync"]["blocks_stored"], 0, "{r}");
    assert_eq!(r["sync"]["bytes_fetched"], 0, "{r}");
    assert!(r["sync"]["peers"].is_object(), "{r}");
    assert!(r["sync"]["verify_failures"].is_object(), "{r}");
    let phases: Vec<&str> = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        ["startup", "fast_sync", "finalizing", "shutting_down"],
        "{r}"
    );
    assert!(data.join("index.redb").is_file());
    let key = data.join("nodekey");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "nodekey mode {mode:o}");
    let first_key = std::fs::read(&key).unwrap();
    // The head the peer announced is persisted as head_seen (the lock is released: db works).
    let stats = db_stats(&setup.config(&[], 1));
    assert!(stats.contains("head_seen 39"), "{stats}");
    // ... and ends with the last run's summary line.
    let last = stats.lines().last().unwrap_or("");
    assert!(
        last.starts_with("last run ") && last.contains("follow mode") && last.contains("exit 0"),
        "{stats}"
    );
    assert!(
        last.contains("SIGINT") && last.contains("fast_sync"),
        "{stats}"
    );

    // Restart with no static peer: the peer cache in index.redb leads back to the same peer,
    // with the same node key.
    let before = peer.accepted();
    let mut h = start_histd(&setup.config(&[], 1));
    expect_waiting_for_anchor(&mut h);
    assert!(
        peer.accepted() > before,
        "the cached peer was dialled again"
    );
    assert_eq!(
        std::fs::read(&key).unwrap(),
        first_key,
        "the node key is kept"
    );
}

#[test]
fn sigint_while_waiting_for_peers_exits_zero_and_releases_the_lock_another_chain_is_refused() {
    let chain = TestChain::new(72, 4);
    let setup = Setup::new(&chain);
    let config = setup.config(&[], 1);
    let mut h = start_histd(&config);
    h.wait_for("waiting for peers", |v| v["message"] == "waiting for peers");
    h.signal(libc::SIGINT);
    let status = h.wait_exit();
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    assert!(
        !h.seen
            .iter()
            .any(|v| v["message"] == "phase transition" && v["to"] == "fast_sync"),
        "{:#?}",
        h.seen
    );
    assert!(db_stats(&config).contains("chain 1337"));

    // Another chain's genesis on the same data directory: a clear error naming it, exit 1.
    let other = TestChain::new(74, 4);
    let spec = Setup::new(&other);
    std::fs::copy(
        spec.dir.path().join("chain.toml"),
        setup.dir.path().join("chain.toml"),
    )
    .unwrap();
    let mut h = start_histd(&config);
    assert_eq!(h.wait_exit().code(), Some(1), "{:#?}", h.seen);
    assert!(h.logged("holds genesis"), "{:#?}", h.seen);
    assert!(h.logged(&setup.data_dir().display().to_string()));
}

#[test]
fn a_second_node_on_the_same_data_dir_fails_fast_naming_the_lock() {
    let chain = TestChain::new(73, 4);
    let setup = Setup::new(&chain);
    let config = setup.config(&[], 1);
    let mut first = start_histd(&config);
    first.wait_for("waiting for peers", |v| v["message"] == "waiting for peers");

    let started = Instant::now();
    let mut second = start_histd(&config);
    let status = second.wait_exit();
    assert_eq!(status.code(), Some(1), "{:#?}", second.seen);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        second.logged("in use by another histd process"),
        "{:#?}",
        second.seen
    );
    assert!(second.logged(&setup.data_dir().display().to_string()));

    // The first one is unharmed and stops cleanly.
    first.signal(libc::SIGTERM);
    assert_eq!(first.wait_exit().code(), Some(0), "{:#?}", first.seen);
}
