//! The stopped node's tools around follow: `histd db compact` never seals a shard reaching into a
//! follow node's rollback window (range mode seals every complete shard), and `histd db rollback
//! --to N` removes the blocks above N, refusing to cut into a sealed shard.

use alloy_primitives::B256;
use histd::primitives::BlockNumber;
use histd::storage::{OpenOptions, Retention, ShardState, Storage};
use histd::testkit::chain::ChainGen;

use crate::cli::db::histd;

/// A stopped node's data directory: blocks 0 ..= 149 in shards of 100, written in order.
fn store(dir: &std::path::Path) {
    let store = Storage::open(
        dir,
        OpenOptions {
            chain_id: 1,
            genesis_hash: B256::repeat_byte(1),
            shard_size: 100,
            retention: Retention::default(),
        },
    )
    .unwrap();
    let blocks = ChainGen::new(5).chain(BlockNumber(0), 150, B256::ZERO);
    let refs: Vec<_> = blocks.iter().collect();
    store.append_sorted_many(&refs).unwrap();
}

fn shard0(dir: &std::path::Path) -> ShardState {
    Storage::open_existing(dir).unwrap().shard_state(0).unwrap()
}

#[test]
fn db_compact_keeps_the_rollback_window_unsealed_and_db_rollback_refuses_sealed_shards() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let d = dir.path().to_str().unwrap();

    // Follow mode, window 64: the tip 149 may still roll back to 85, inside shard 0.
    let (code, out, err) = histd(&["db", "compact", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 sealed"), "{out}");
    assert_eq!(shard0(dir.path()), ShardState::Sorted);
    // Rolling back inside an unsealed shard works.
    let (code, out, err) = histd(&["db", "rollback", "--to", "120", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("29 blocks removed"), "{out}");
    // Window 20: the tip 120 may roll back to 100 at most; shard 0 (0 ..= 99) is sealed.
    let (code, out, err) = histd(&["db", "compact", "--rollback-window", "20", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 sealed"), "{out}");
    assert_eq!(shard0(dir.path()), ShardState::Sealed);
    // A rollback into the sealed shard is refused, with the reason, and changes nothing.
    let (code, out, err) = histd(&["db", "rollback", "--to", "50", "--data-dir", d]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("shard 0 is sealed"), "{err}");
    let (code, out, err) = histd(&["db", "verify", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: 121 blocks"), "{out}");
}

#[test]
fn db_compact_in_range_mode_seals_every_complete_shard() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path());
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = histd(&["db", "compact", "--end-block", "149", "--data-dir", d]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 sealed"), "{out}");
    assert_eq!(shard0(dir.path()), ShardState::Sealed);
}
