//! `histd-bench` as a person runs it, tiny: 300 synthetic blocks from 8 peers, every field of its
//! JSON present and sane (the README "Performance" figures come from a 50,000-block release run;
//! mainnet-like blocks in a debug build take minutes, mostly in unoptimised RLPx MACs).

use std::process::Command;

use serde_json::Value;

#[test]
fn a_tiny_bench_run_reports_every_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_histd-bench"))
        .args(["--blocks", "300", "--synthetic", "--peers", "8"])
        .args([
            "--shard-size",
            "100",
            "--limit-sample",
            "50",
            "--timeout-secs",
            "300",
        ])
        .arg("--histd")
        .arg(env!("CARGO_BIN_EXE_histd"))
        .arg("--testnet")
        .arg(env!("CARGO_BIN_EXE_histd-testnet"))
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json)
        .env_remove("HISTD_CONFIG")
        .output()
        .expect("histd-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "histd-bench failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    assert!(stdout.contains("histd CPU / limit"), "{stdout}");
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json written")).expect("json");
    assert_eq!(r["blocks"], 301, "{r}");
    for field in [
        "wall_secs",
        "blocks_per_sec",
        "fast_sync_secs",
        "wire_mb_per_sec",
        "eth_rlp_mb_per_sec",
        "cpu_secs",
        "cpu_secs_per_1000_blocks",
        "peak_rss_bytes",
        "disk_bytes",
        "disk_bytes_per_block",
        "raw_rlp_bytes",
        "disk_to_raw_rlp",
        "limit_secs_per_1000_blocks",
        "limit_before_secs_per_1000_blocks",
        "limit_after_secs_per_1000_blocks",
        "limit_spread",
        "cpu_to_limit",
        "cpu_to_limit_before",
        "cpu_to_limit_after",
    ] {
        let v = r[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} missing: {r}"));
        assert!(v > 0.0, "{field} = {v}: {r}");
    }
    assert!(r["finalizing_secs"].as_f64().is_some(), "{r}");
    // The limit is the mean of its two measurements, and the ratio is taken to it.
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let (before, after) = (
        f("limit_before_secs_per_1000_blocks"),
        f("limit_after_secs_per_1000_blocks"),
    );
    assert!(
        (f("limit_secs_per_1000_blocks") - (before + after) / 2.0).abs() < 1e-9,
        "{r}"
    );
    assert!(
        (f("limit_spread") - before.max(after) / before.min(after)).abs() < 1e-9,
        "{r}"
    );
    assert!(
        (f("cpu_to_limit") * f("limit_secs_per_1000_blocks") - f("cpu_secs_per_1000_blocks")).abs()
            < 1e-6,
        "{r}"
    );
    let stages = r["cpu_secs_per_1000_blocks_by_stage"]
        .as_object()
        .expect("stages");
    for stage in [
        "rlpx",
        "rlp_decode",
        "verify",
        "compress",
        "disk_write",
        "compaction",
        "other",
    ] {
        assert!(stages.contains_key(stage), "{stage} missing: {r}");
    }
    // The stages that every synced block passes through took measurable CPU.
    for stage in ["rlpx", "rlp_decode", "verify", "compress", "disk_write"] {
        assert!(stages[stage].as_f64().unwrap_or(0.0) > 0.0, "{stage}: {r}");
    }
    for (object, keys) in [
        (
            "limit_secs_per_1000_blocks_by_part",
            &["decode", "verify", "compress"][..],
        ),
        (
            "disk_bytes_per_block_by_part",
            &["index_redb", "log_index", "tx_index", "segments_and_other"][..],
        ),
    ] {
        for key in keys {
            let v = r[object][key].as_f64().unwrap_or(0.0);
            assert!(v > 0.0, "{object}.{key} = {v}: {r}");
        }
    }
    // Sealing 3 shards compacted them and built their log index.
    assert!(stages["compaction"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
}
