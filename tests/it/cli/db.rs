//! `histd db ...` through the real binary on a real data directory: the report goes to stdout with
//! exit 0; a damaged store or a missing directory gives one clear line on stderr and exit 1.

use std::process::Command;

use alloy_primitives::B256;
use histd::primitives::BlockNumber;
use histd::storage::{OpenOptions, Retention, Storage};
use histd::testkit::chain::ChainGen;

/// `histd ARGS` with its exit code, stdout and stderr.
pub fn histd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_histd"))
        .args(args)
        .output()
        .expect("run histd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn db_subcommands_on_a_real_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Storage::open(
            dir.path(),
            OpenOptions {
                chain_id: 1,
                genesis_hash: B256::repeat_byte(1),
                shard_size: 100,
                retention: Retention::default(),
            },
        )
        .unwrap();
        let blocks = ChainGen::new(3).chain(BlockNumber(0), 150, B256::ZERO);
        store.put_unordered(&blocks).unwrap();
    }
    let d = dir.path().to_str().unwrap();

    let (code, out, err) = histd(&["db", "stats", "--json", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).expect("stats --json is JSON");
    assert!(stats.is_object(), "{out}");

    let (code, out, err) = histd(&["db", "compact", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("compacted"), "{out}");

    let (code, out, err) = histd(&["db", "verify", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: 150 blocks"), "{out}");

    let (code, out, err) = histd(&["db", "repair", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("clean"), "{out}");
}

#[test]
fn db_on_a_directory_that_is_not_a_store_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = histd(&["db", "verify", "--data-dir", d]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("not a histd data directory"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
