//! Fast-sync and imported history, against testnet peers whose history is expired below block
//! 8192 (they announce it in eth/69 Status and answer bodies and receipts below it empty): what
//! era1 brought is skipped (no peer could have served it, and the run completes), and without it
//! the node says once in a while which blocks no peer serves and keeps waiting, until era1 is
//! imported or a serving peer is added.

use std::path::Path;
use std::time::Duration;

use histd::era1;
use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, PeerKnobs, Testnet, TestnetConfig};
use histd::verify::accumulator::EPOCH_SIZE;

use super::{shared_epochs, testnet_store};
use crate::sync::{
    RUN_LIMIT, SHARD_SIZE, assert_store_equals, data_dir, enodes, lines_with, run_cmd, runtime,
    start_testnet,
};

/// The head of the testnet chains here: epoch 0 and 809 blocks above it.
const END: u64 = 9000;

/// Three peers serving `0..=END` with bodies and receipts expired below `expired_below`.
fn expired_testnet(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    end: u64,
    expired_below: u64,
) -> Testnet {
    let mut config = TestnetConfig::new(ChainKind::Synthetic, end, 3);
    config.knobs = PeerKnobs {
        expired_below: Some(expired_below),
        ..PeerKnobs::default()
    };
    start_testnet(rt, dir, config)
}

/// Imports the chain's epoch 0 into the test's data directory, as `histd import era1` does on a
/// stopped node (with this chain's accumulator instead of mainnet's). The shared chain's epoch 0
/// is the testnet chain's (same seed): the import's proof would refuse it otherwise.
fn import_epoch0(dir: &Path, net: &Testnet) {
    let shared = shared_epochs();
    assert_eq!(
        shared.chain.hash(END),
        net.chain.hash(END),
        "the same chain"
    );
    let store = testnet_store(&data_dir(dir), &net.chain, SHARD_SIZE);
    let files = &shared.files[..1];
    let r = era1::import_files(&store, &shared.acc, files, |_, _| {}, || false).expect("import");
    assert_eq!(r.blocks, EPOCH_SIZE);
}

fn args(end: u64) -> Vec<String> {
    ["--end-block", &end.to_string(), "--min-peers", "3"]
        .map(String::from)
        .to_vec()
}

fn spawn(dir: &Path, peers: &[String], end: u64) -> Histd {
    let args = args(end);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Histd::spawn(run_cmd(dir, peers, &args))
}

/// Waits for the WARN that no peer serves some blocks, checks the node is still fast-syncing,
/// then stops it (SIGINT: exit 0).
fn warned_then_stopped(h: &mut Histd) -> serde_json::Value {
    let warn = h.wait_for_within(Duration::from_secs(60), "the no-peer warning", |v| {
        v["level"] == "WARN"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("no peer serves"))
    });
    // It keeps waiting (it neither gives up nor moves on): a second later it still runs.
    std::thread::sleep(Duration::from_secs(1));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", h.pid())).unwrap_or_default();
    assert!(
        !stat.is_empty() && !stat.contains(") Z "),
        "histd exited: {:#?}",
        h.seen
    );
    assert!(!h.entered("finalizing"), "{:#?}", h.seen);
    h.signal(libc::SIGINT);
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    warn
}

#[test]
fn fast_sync_skips_the_imported_epoch_that_no_peer_serves() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let net = expired_testnet(&rt, dir.path(), END, EPOCH_SIZE);
    import_epoch0(dir.path(), &net);

    let mut h = spawn(dir.path(), &enodes(&net), END);
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    let planned = h.wait_for("planned", |v| v["message"] == "fast-sync: planned");
    assert_eq!(planned["to_store"], END + 1 - EPOCH_SIZE, "{planned}");
    assert!(lines_with(&h, "no peer serves").is_empty(), "{:#?}", h.seen);
    // Peers served the blocks above the epoch only (they cannot serve those below), each once
    // plus what a retry on a busy machine repeats.
    let served: u64 = net.counts().iter().map(|c| c.blocks_served).sum();
    let above = 2 * (END + 1 - EPOCH_SIZE);
    assert!(
        (above..above + above / 2).contains(&served),
        "{served} items served"
    );
    assert_store_equals(dir.path(), &net.chain, 0..=END);
}

#[test]
fn with_no_peer_serving_a_range_the_node_says_so_and_waits_until_era1_is_imported() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let net = expired_testnet(&rt, dir.path(), END, EPOCH_SIZE);

    let mut h = spawn(dir.path(), &enodes(&net), END);
    let warn = warned_then_stopped(&mut h);
    let text = warn.to_string();
    assert_eq!(warn["last"], EPOCH_SIZE - 1, "{text}");
    for says in [
        "histd import era1",
        "sync.era1_dir",
        "127.0.0.1",
        "127.0.2.1",
        "serves 8192..=9000",
    ] {
        assert!(text.contains(says), "{says:?} missing: {text}");
    }

    // The operator imports the epoch; the next run completes without asking peers for it.
    import_epoch0(dir.path(), &net);
    let mut h = spawn(dir.path(), &enodes(&net), END);
    assert_eq!(
        h.wait_exit_within(RUN_LIMIT).code(),
        Some(0),
        "{:#?}",
        h.seen
    );
    assert!(lines_with(&h, "no peer serves").is_empty(), "{:#?}", h.seen);
    assert_store_equals(dir.path(), &net.chain, 0..=END);
}

#[test]
fn with_no_peer_serving_a_range_adding_a_serving_peer_completes_it() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    const SMALL_END: u64 = 1500;
    // Peers 0-2 expired below 1000, peer 3 serving everything.
    let mut config = TestnetConfig::new(ChainKind::Synthetic, SMALL_END, 4);
    config.knobs = PeerKnobs {
        expired_below: Some(1000),
        ..PeerKnobs::default()
    };
    config.peer_knobs = vec![(3, PeerKnobs::default())];
    let net = start_testnet(&rt, dir.path(), config);
    let all = enodes(&net);

    let mut h = spawn(dir.path(), &all[..3], SMALL_END);
    let warn = warned_then_stopped(&mut h);
    assert_eq!(warn["last"], 999, "{warn}");

    let mut h = spawn(dir.path(), &all, SMALL_END);
    assert_eq!(
        h.wait_exit_within(RUN_LIMIT).code(),
        Some(0),
        "{:#?}",
        h.seen
    );
    assert_store_equals(dir.path(), &net.chain, 0..=SMALL_END);
    // The blocks below 1000 came from the serving peer only.
    assert!(
        net.counts()[3].blocks_served >= 2 * 1000,
        "{:?}",
        net.counts()
    );
}
