//! Memory is bounded in bytes, whatever the range: syncing 10× more blocks does not take
//! materially more peak RSS (VmHWM of the child, read while it runs). Both runs use small fast-sync
//! bounds (`sync.max_inflight_mib`, `sync.headers_ahead`), so the short one already holds what a
//! long one holds at most and the comparison is of two runs past that plateau.

use std::time::{Duration, Instant};

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, TestnetConfig};

use super::*;

/// Fast-sync bounds of both runs: small, so both runs reach them early.
const SMALL_BOUNDS: &str = "[sync]\nmax_inflight_mib = 8\nheaders_ahead = 1024\n";

/// How much more peak RSS 10× the blocks may take. Measured (debug, 2 cores shared, peak RSS of
/// `histd run` alone): 1,000 blocks 40 MiB, 10,000 blocks 48 MiB (+8 MiB) since histd returns
/// free heap pages to the kernel (every 250 ms until 2026-12-01, since then when the free pages
/// held resident grew past a floor: +7.6 to +9.1 MiB, `src/main.rs`); without that, 2,000 blocks took 43 MiB and
/// 10,000 blocks 54–56 MiB. Before the allocator tuning and the redb cache cap, 10,000 blocks took 68 MiB. The rest is not
/// pinned down; mid-sync, the live heap that grew was block data in flight. (A 4 or 8 MiB redb
/// cap "measured the same" while the cap did not reach the real file system; synthetic blocks'
/// index is small anyway. The index's own bound is `storage::index_memory`.)
const ALLOWED_GROWTH_KIB: u64 = 16 * 1024;

/// Syncs `blocks` synthetic blocks; the child's peak RSS in KiB.
fn peak_rss_kib(blocks: u64) -> u64 {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let net = start_testnet(
        &rt,
        dir.path(),
        TestnetConfig::new(ChainKind::Synthetic, blocks, 4),
    );
    let config = dir.path().join("bounds.toml");
    std::fs::write(&config, SMALL_BOUNDS).expect("write the config");
    let mut cmd = run_cmd(
        dir.path(),
        &enodes(&net),
        &["--end-block", &blocks.to_string(), "--min-peers", "4"],
    );
    cmd.arg("--config").arg(&config);
    let mut h = Histd::spawn(cmd);
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
    println!(
        "peak RSS: 1,000 blocks {small} KiB, 10,000 blocks {big} KiB (+{} KiB, allowed +{ALLOWED_GROWTH_KIB} KiB)",
        big.saturating_sub(small)
    );
    assert!(small > 0 && big > 0);
    assert!(
        big <= small + ALLOWED_GROWTH_KIB,
        "10x the blocks took {big} KiB against {small} KiB"
    );
}
