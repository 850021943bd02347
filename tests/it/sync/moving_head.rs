//! Without `--end-block`: the target follows the moving safe head, then Finalizing runs.

use std::time::Duration;

use histd::testkit::process::HistdProcess as Histd;
use histd::testkit::testnet::{ChainKind, PeerKnobs, TestnetConfig};

use super::*;

#[test]
fn the_target_grows_with_the_safe_head_then_finalizing_runs() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = TestnetConfig::new(ChainKind::Synthetic, 600, 4);
    // Every peer starts at 300 and gains a block every 15 ms up to 600; slow answers make the
    // sync of the first target outlast a few head updates (the pool re-reads heads each second).
    config.knobs = PeerKnobs {
        head_start: Some(300),
        head_advance_every: Some(Duration::from_millis(15)),
        latency: Duration::from_millis(300),
        max_items: Some(8),
        ..PeerKnobs::default()
    };
    let net = start_testnet(&rt, dir.path(), config);
    let mut h = Histd::spawn(run_cmd(
        dir.path(),
        &enodes(&net),
        &["--min-peers", "4", "--rollback-window", "8"],
    ));
    h.wait_transition("startup", "fast_sync");
    let grew = h.wait_for_within(RUN_LIMIT, "target grows", |v| {
        v["message"] == "fast-sync target grows with the safe head"
    });
    println!("{grew}");
    let t = h.wait_for_within(RUN_LIMIT, "fast_sync -> finalizing", |v| {
        v["message"] == "phase transition" && v["from"] == "fast_sync" && v["to"] == "finalizing"
    });
    assert!(
        t["reason"]
            .as_str()
            .is_some_and(|r| r.contains("caught up")),
        "{t}"
    );
    // The boundary line, with every field the issue names.
    let line = h.wait_for_within(RUN_LIMIT, "finalizing done", |v| {
        v["message"] == "finalizing done"
    });
    for field in [
        "follow_after",
        "shutdown_requested",
        "switch_tip",
        "last_indexed",
        "head_seen",
        "safe_head",
        "dirty_shards",
        "total_wal_mib",
        "drain_workers_ms",
        "compact_all_dirty_ms",
        "seal_completed_ms",
    ] {
        assert!(!line[field].is_null(), "{field} missing: {line}");
    }
    assert_eq!(line["follow_after"], true, "{line}");
    assert_eq!(line["shutdown_requested"], false, "{line}");
    let caught = h.wait_for("caught up", |v| {
        v["message"] == "fast-sync caught up with the safe head"
    });
    let tip = caught["tip"]
        .as_str()
        .and_then(|t| t.parse::<u64>().ok())
        .or_else(|| caught["tip"].as_u64())
        .expect("tip");
    assert!(
        tip > 300 - 8,
        "the target grew past the first safe head: {caught}"
    );
    // Follow is the next piece of work: the run ends there (not our concern here).
    h.signal(libc::SIGINT);
    let _ = h.wait_exit_within(RUN_LIMIT);
    assert_store_equals(dir.path(), &net.chain, 0..=tip);
}
