//! Lengths, offsets and sizes a damaged file controls, through the real store: a segment index
//! entry pointing past its data file, a shard size out of range in `index.redb`. Each fails with
//! an error naming the file or key (never a panic, an abort on a huge allocation, a wrong block).

use alloy_primitives::B256;
use histd::primitives::BlockNumber;
use histd::storage::Storage;
use histd::testkit::chain::ChainGen;

use super::basic::{opts, segment_file};

const SHARD: u64 = 10;
/// `layout::FILE_HEADER` and `layout::INDEX_ENTRY`: where a segment index entry lies.
const FILE_HEADER: u64 = 24;
const INDEX_ENTRY: u64 = 56;

/// A segment index entry naming gigabytes (or an offset near `u64::MAX`) is refused as damage
/// to the data file before anything that size is allocated; the other blocks still read.
#[test]
fn a_segment_entry_naming_bytes_past_the_data_file_is_damage() {
    for (what, offset, lens) in [
        ("lengths", None, [u32::MAX; 3]),
        ("offset", Some(u64::MAX - 8), [100, 100, 100]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let chain = ChainGen::new(7).chain(BlockNumber(0), 20, B256::ZERO);
        {
            let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
            store.put_unordered(&chain).unwrap();
            let report = store.compact_dirty().unwrap();
            assert!(report.failed.is_empty(), "{:?}", report.failed);
        }
        // Block 13 is shard 1's position 3: rewrite its offset or frame lengths.
        let idx = segment_file(dir.path(), 10, "idx");
        let mut bytes = std::fs::read(&idx).unwrap();
        let at = (FILE_HEADER + 3 * INDEX_ENTRY) as usize;
        if let Some(o) = offset {
            bytes[at..at + 8].copy_from_slice(&o.to_le_bytes());
        }
        for (i, l) in lens.iter().enumerate() {
            let p = at + 8 + 4 * i;
            bytes[p..p + 4].copy_from_slice(&l.to_le_bytes());
        }
        std::fs::write(&idx, bytes).unwrap();

        let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
        let e = store.block(BlockNumber(13)).unwrap_err().to_string();
        assert!(
            e.contains("past the end of the") && e.contains(".dat"),
            "{what}: {e}"
        );
        assert!(store.header(BlockNumber(13)).is_err(), "{what}");
        for n in [10, 12, 14, 19] {
            let b = store.block(BlockNumber(n)).unwrap().unwrap();
            assert_eq!(b.hash(), chain[n as usize].hash(), "{what}: block {n}");
        }
    }
}

/// A shard size in `index.redb` past what a store is created with (it sizes each shard's presence
/// bits and the compaction table) is malformed metadata, named, when a data directory is opened
/// with the identity it records (`histd serve`, `histd db`).
#[test]
fn a_shard_size_out_of_range_in_the_index_is_malformed_metadata() {
    const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    for bad in [0, 1_000_001, u64::MAX] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
            let chain = ChainGen::new(8).chain(BlockNumber(0), 3, B256::ZERO);
            store.put_unordered(&chain).unwrap();
        }
        let db = redb::Database::open(dir.path().join("index.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("shard_size", &bad.to_le_bytes()[..])
            .unwrap();
        txn.commit().unwrap();
        drop(db);
        let e = Storage::open_existing(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("`shard_size` is missing or malformed"),
            "{bad}: {e}"
        );
    }
}
