//! Memory is bounded in bytes, whatever the range: syncing 10× more blocks does not take
//! materially more peak RSS (VmHWM of the child, read while it runs).

use std::time::{Duration, Instant};

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, TestnetConfig};

use super::*;

/// Syncs `blocks` synthetic blocks; the child's peak RSS in KiB.
fn peak_rss_kib(blocks: u64) -> u64 {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let net = start_testnet(
        &rt,
        dir.path(),
        TestnetConfig::new(ChainKind::Synthetic, blocks, 4),
    );
    let mut h = Histd::spawn(run_cmd(
        dir.path(),
        &enodes(&net),
        &["--end-block", &blocks.to_string(), "--min-peers", "4"],
    ));
    let status_path = format!("/proc/{}/status", h.pid());
    let deadline = Instant::now() + RUN_LIMIT;
    let mut peak = 0u64;
    while let Ok(status) = std::fs::read_to_string(&status_path) {
        if status.contains("State:\tZ") {
            break;
        }
        if let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        assert!(
            Instant::now() < deadline,
            "sync of {blocks} blocks did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = h.wait_exit_within(RUN_LIMIT);
    assert_eq!(status.code(), Some(0), "{:#?}", h.seen);
    peak
}

#[test]
fn peak_rss_syncing_ten_times_more_blocks_is_not_materially_higher() {
    let small = peak_rss_kib(1_000);
    let big = peak_rss_kib(10_000);
    println!("peak RSS: 1,000 blocks {small} KiB, 10,000 blocks {big} KiB");
    assert!(small > 0 && big > 0);
    assert!(
        big <= small + small / 2 + 32 * 1024,
        "10x the blocks took {big} KiB against {small} KiB"
    );
}
