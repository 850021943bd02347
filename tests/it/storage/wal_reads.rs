//! Reads from filling shards (blocks in their WAL) through the store's kept WAL indexes, on real
//! files: after more blocks are appended, after a compaction and a refill, after a rollback that
//! empties the shard and refills that lay out a WAL of the very same length differently (other
//! blocks at the kept offsets, then other blocks of the same numbers at the same offsets), and
//! after a fork replaces part of a shard, every read (block, hash, logs) answers the committed
//! state, never a kept index's old one.

use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{LogQuery, LogSearch, ShardState, Storage};
use histd::testkit::chain::ChainGen;
use histd::verify::{self, SealedHeader};

use super::basic::opts;
use super::log_index::reference;

const SHARD: u64 = 100;

/// Every block of `blocks` (one run of numbers) read back by number, by hash and through a log
/// query, as `blocks` has it.
fn reads_see(store: &Storage, blocks: &[VerifiedBlock]) {
    for b in blocks {
        assert_eq!(store.block_hash(b.number()).unwrap(), Some(b.hash()));
        assert_eq!(store.block(b.number()).unwrap().as_ref(), Some(b));
    }
    let (from, to) = (
        blocks[0].number().get(),
        blocks[blocks.len() - 1].number().get(),
    );
    let all = LogQuery::default();
    assert_eq!(
        store
            .find_logs(&all, BlockNumber(from), BlockNumber(to), u64::MAX)
            .unwrap(),
        LogSearch::Found(reference(blocks, &all, from, to))
    );
}

#[test]
fn reads_through_kept_wal_indexes_see_appends_compactions_and_rollbacks() {
    let mut g = ChainGen::new(31);
    g.max_logs = 2;
    let chain = g.chain(
        BlockNumber(0),
        2 * SHARD,
        alloy_primitives::B256::repeat_byte(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    store.put_unordered(&chain[..SHARD as usize]).unwrap();
    store.compact(0).unwrap();
    let shard1 = &chain[SHARD as usize..];
    let (a, b) = shard1.split_at(20);

    // Shard 1 filling: read (its WAL index kept), appended to, read again.
    store.put_unordered(a).unwrap();
    assert_eq!(store.shard_state(1).unwrap(), ShardState::Filling);
    reads_see(&store, a);
    store.put_unordered(&b[..30]).unwrap();
    reads_see(&store, &shard1[..50]);

    // Compacted (a new generation, no WAL), then filled again: a WAL beside the segment.
    store.compact(1).unwrap();
    reads_see(&store, &shard1[..50]);
    store.put_unordered(&b[30..]).unwrap();
    assert_eq!(store.shard_state(1).unwrap(), ShardState::Filling);
    reads_see(&store, shard1);

    // A rollback below the shard empties it (its row goes, and with it the generation count).
    // Refilled, read (its index kept), emptied and refilled again, its WAL has the same
    // generation and length as the kept index: first with the same blocks in another order, then
    // with twins of them (same numbers and sizes, other hashes) at the very same offsets.
    let empty_shard = || {
        store.compact(1).unwrap();
        store.rollback_to(BlockNumber(SHARD - 1)).unwrap();
        assert_eq!(store.shard_state(1).unwrap(), ShardState::Empty);
    };
    empty_shard();
    store.put_unordered(shard1).unwrap();
    reads_see(&store, shard1);
    let kept_len = wal_len(dir.path());
    empty_shard();
    let (lower, upper) = shard1.split_at(50);
    store.put_unordered(upper).unwrap();
    store.put_unordered(lower).unwrap();
    assert_eq!(wal_len(dir.path()), kept_len);
    reads_see(&store, shard1);
    empty_shard();
    // In the kept index's order: each twin at the offset the index has for its number.
    let twins = twins(shard1);
    store.put_unordered(&twins[50..]).unwrap();
    store.put_unordered(&twins[..50]).unwrap();
    assert_eq!(
        wal_len(dir.path()),
        kept_len,
        "the twins' records differ in size"
    );
    reads_see(&store, &twins);

    // A fork replacing the twins' upper half, after a rollback into it: the fork's blocks.
    store.compact(1).unwrap();
    store.rollback_to(BlockNumber(SHARD + 49)).unwrap();
    let fork = ChainGen::new(32).chain(BlockNumber(SHARD + 50), 50, twins[49].hash());
    store.put_unordered(&fork).unwrap();
    let new: Vec<VerifiedBlock> = twins[..50].iter().cloned().chain(fork).collect();
    reads_see(&store, &new);
}

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

/// `blocks` one second later each, linked to one another: the same numbers, sizes and logs
/// under other hashes (the first keeps its parent).
fn twins(blocks: &[VerifiedBlock]) -> Vec<VerifiedBlock> {
    let mut parent = blocks[0].header().parent_hash;
    blocks
        .iter()
        .map(|b| {
            let mut header = b.header().clone();
            header.timestamp += 1;
            header.parent_hash = parent;
            let twin = verify::verify_block(
                SealedHeader::seal(header),
                b.body().clone(),
                b.receipts().to_vec(),
            )
            .expect("a twin verifies");
            parent = twin.hash();
            twin
        })
        .collect()
}

/// The length of shard 1's WAL file.
fn wal_len(data: &std::path::Path) -> u64 {
    let wal = data.join(format!("shards/{SHARD:012}/wal"));
    std::fs::metadata(&wal)
        .unwrap_or_else(|e| panic!("{}: {e}", wal.display()))
        .len()
}
