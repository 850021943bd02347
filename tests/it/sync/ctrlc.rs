//! Ctrl-C at random moments during FastSync, many times (`HISTD_CTRLC_RUNS`, default 20): each
//! run finalizes and exits 0, the data stays consistent, Follow is never entered.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, PeerKnobs, TestnetConfig};

use super::*;

#[test]
fn ctrl_c_during_fast_sync_at_random_moments_finalizes_exits_zero_and_never_follows() {
    let runs: u64 = std::env::var("HISTD_CTRLC_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestnetConfig::new(ChainKind::Synthetic, 20_000, 4);
    config.knobs = PeerKnobs {
        latency: Duration::from_millis(20),
        max_items: Some(32),
        ..PeerKnobs::default()
    };
    let net = start_testnet(&rt, dir.path(), config);
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("HISTD_CTRLC seed {seed}");
    for run in 0..runs {
        // xorshift: a different moment each run, reproducible from the printed seed.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % 1500);
        // Follow mode (no end block), so entering Follow would be possible if the stop were lost.
        let mut h = Histd::spawn(run_cmd(
            dir.path(),
            &enodes(&net),
            &["--min-peers", "3", "--rollback-window", "8"],
        ));
        h.wait_transition("startup", "fast_sync");
        std::thread::sleep(delay);
        h.signal(libc::SIGINT);
        let status = h.wait_exit_within(RUN_LIMIT);
        assert_eq!(
            status.code(),
            Some(0),
            "run {run} after {delay:?}: {:#?}",
            h.seen
        );
        assert!(h.entered("finalizing"), "run {run}: {:#?}", h.seen);
        assert!(
            !h.entered("follow"),
            "run {run} entered follow: {:#?}",
            h.seen
        );
        db_verify(dir.path());
    }
    let stored = stored_count(dir.path(), &net.chain, 0..=20_000);
    println!("{runs} interrupted runs stored {stored} blocks");
}
