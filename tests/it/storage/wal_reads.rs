//! Reads from filling shards (blocks in their WAL) on real files.

use histd::primitives::BlockNumber;
use histd::storage::Storage;
use histd::testkit::chain::ChainGen;

use super::basic::opts;

const SHARD: u64 = 100;

#[test]
fn a_wal_record_shorter_than_its_head_is_damage_not_a_panic() {
    let chain = ChainGen::new(33).chain(BlockNumber(0), 5, alloy_primitives::B256::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    store.put_unordered(&chain).unwrap();
    // The first record's length prefix (after the 24-byte file header) says 10 bytes.
    let wal = dir.path().join(format!("shards/{:012}/wal", 0));
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[24..28].copy_from_slice(&10u32.to_le_bytes());
    std::fs::write(&wal, bytes).unwrap();
    let err = store.block(BlockNumber(2)).unwrap_err().to_string();
    assert!(err.contains("record length 10 out of bounds"), "{err}");
}
