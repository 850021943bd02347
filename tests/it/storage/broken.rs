//! A shard whose blocks do not hash-link (a storage fault: only anchored blocks reach storage) on
//! real redb and shard files: compaction isolates it and compacts the others, `db verify` and
//! `db repair` name it, `db repair --drop-broken` drops its blocks (rows, hash and transaction
//! index entries, files, contiguity) and verify then passes.

use alloy_primitives::B256;
use histd::cli::db::{self as admin, DbCommand, VerifyStore};
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{
    OpenOptions, Retention, ShardState, Storage, StorageError, TxRetention, WriteError,
};
use histd::testkit::chain::ChainGen;

const SHARD: u64 = 10;

fn opts() -> OpenOptions {
    OpenOptions {
        chain_id: 1,
        genesis_hash: B256::repeat_byte(0xd4),
        shard_size: SHARD,
        retention: Retention {
            transactions: TxRetention::Full,
        },
    }
}

/// Blocks 0 ..= 24 over shards 0, 1, 2, all dirty; block 14 in shard 1 replaced by a block whose
/// parent is not block 13 (and whose child 15 then does not link to it either).
fn broken_store(dir: &std::path::Path) -> (Storage, Vec<VerifiedBlock>, VerifiedBlock) {
    let store = Storage::open(dir, opts()).unwrap();
    let chain = ChainGen::new(41).chain(BlockNumber(0), 25, B256::ZERO);
    let stranger = ChainGen::new(42).block(BlockNumber(14), B256::repeat_byte(7));
    let mut blocks = chain.clone();
    blocks[14] = stranger.clone();
    store.put_unordered(&blocks).unwrap();
    for s in 0..3 {
        assert_eq!(store.shard_state(s).unwrap(), ShardState::Filling);
    }
    (store, chain, stranger)
}

fn tx_hashes(b: &VerifiedBlock) -> Vec<B256> {
    b.transaction_hashes().collect()
}

#[test]
fn one_broken_shard_does_not_stop_the_others_and_repair_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, chain, stranger) = broken_store(dir.path());

    // Compaction: shards 0 and 2 are compacted, shard 1 fails with a broken link and stays
    // dirty, every block still readable.
    let report = store.compact_dirty().unwrap();
    let compacted: Vec<u64> = report.compacted.iter().map(|c| c.shard).collect();
    assert_eq!(compacted, vec![0, 2]);
    assert_eq!(report.failed_shards(), vec![1]);
    assert!(report.failed[0].is_broken_link(), "{:?}", report.failed);
    assert!(
        matches!(
            report.failed[0].error,
            WriteError::BrokenLink {
                shard: 1,
                number: BlockNumber(14),
                ..
            }
        ),
        "{}",
        report.failed[0].error
    );
    assert_eq!(store.shard_state(0).unwrap(), ShardState::Sorted);
    assert_eq!(store.shard_state(1).unwrap(), ShardState::Filling);
    assert_eq!(store.shard_state(2).unwrap(), ShardState::Sorted);
    assert_eq!(
        store.block(BlockNumber(14)).unwrap().as_ref(),
        Some(&stranger)
    );
    // Sealing skips the failed (complete) shard instead of failing on it; shard 2 is partial.
    let sealed = store
        .seal_complete_except(BlockNumber(u64::MAX), &report.failed_shards())
        .unwrap();
    assert_eq!(sealed, vec![0]);
    assert!(store.seal_complete(BlockNumber(u64::MAX)).is_err());

    // verify names the block and the shard, and the remedy.
    let e = store.verify().unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, StorageError::Verify { number, .. } if number == BlockNumber(14)),
        "{text}"
    );
    assert!(text.contains("(shard 1)"), "{text}");
    assert!(text.contains("--drop-broken"), "{text}");

    // The read-only check finds exactly that shard.
    let faults = store.link_faults().unwrap();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].shard, 1);
    assert_eq!(faults[0].number, BlockNumber(14));
    assert_eq!(faults[0].expected, chain[13].hash());
    drop(store);

    // `db compact` reports the failure as an error naming the shard; the others are done.
    let e = admin::run(dir.path(), &DbCommand::Compact).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("shard 1 FAILED"), "{text}");
    assert!(text.contains("--drop-broken"), "{text}");

    // `db repair` without the flag reports it and changes nothing.
    let out = admin::run(dir.path(), &DbCommand::Repair { drop_broken: false }).unwrap();
    assert!(out.contains("shard 1 (from block 10)"), "{out}");
    assert!(out.contains("--drop-broken"), "{out}");
    let store = Storage::open_existing(dir.path()).unwrap();
    assert!(store.has_block(BlockNumber(14)).unwrap());
    drop(store);

    // `db repair --drop-broken` drops shard 1's blocks.
    let out = admin::run(dir.path(), &DbCommand::Repair { drop_broken: true }).unwrap();
    assert!(out.contains("dropped shard 1: 10 blocks removed"), "{out}");

    let store = Storage::open(dir.path(), opts()).unwrap();
    assert!(
        store.repair_report().is_clean(),
        "{:?}",
        store.repair_report()
    );
    assert!(
        !dir.path()
            .join("shards")
            .join(format!("{:012}", 10))
            .exists()
    );
    assert_eq!(store.shard_state(1).unwrap(), ShardState::Empty);
    for n in 10..20 {
        assert!(!store.has_block(BlockNumber(n)).unwrap(), "block {n}");
    }
    // The dropped blocks are gone from the hash and transaction indexes; the others stay.
    for b in chain[10..20].iter().chain(std::iter::once(&stranger)) {
        if b.number().get() == 14 && b.hash() != stranger.hash() {
            continue;
        }
        assert_eq!(store.block_number(&b.hash()).unwrap(), None);
        for h in tx_hashes(b) {
            assert_eq!(store.transaction(&h).unwrap(), None, "tx {h}");
        }
    }
    let mut kept_txs = 0;
    for b in chain[..10].iter().chain(&chain[20..]) {
        assert_eq!(store.block_number(&b.hash()).unwrap(), Some(b.number()));
        for h in tx_hashes(b) {
            assert!(store.transaction(&h).unwrap().is_some(), "tx {h}");
            kept_txs += 1;
        }
    }
    assert!(
        kept_txs > 0,
        "the chain must carry transactions for this test"
    );
    // The contiguous run now ends before the gap; the lowest block is unchanged.
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(9)));
    assert_eq!(store.lowest().unwrap(), Some(BlockNumber(0)));
    assert!(store.link_faults().unwrap().is_empty());
    store.verify().unwrap();

    // Fast-sync refetching the right blocks makes the store whole again.
    store.put_unordered(&chain[10..20]).unwrap();
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(24)));
    let report = store.compact_dirty().unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    store.verify().unwrap();
}

/// The lowest stored block in the dropped shard: `lowest` and `last_contiguous` move to the next
/// stored run above it. A sealed shard is never dropped.
#[test]
fn dropping_the_lowest_shard_moves_the_run_and_sealed_shards_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts()).unwrap();
    let chain = ChainGen::new(43).chain(BlockNumber(0), 30, B256::ZERO);
    store.put_unordered(&chain[3..]).unwrap();
    assert_eq!(store.lowest().unwrap(), Some(BlockNumber(3)));
    store.seal(2).unwrap();
    assert!(matches!(
        store.drop_shard(2),
        Err(WriteError::Sealed { shard: 2 })
    ));
    let d = store.drop_shard(0).unwrap();
    assert_eq!((d.shard, d.blocks, d.scanned_indexes), (0, 7, false));
    assert_eq!(store.lowest().unwrap(), Some(BlockNumber(10)));
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(29)));
    // Dropping what is not there is a no-op.
    assert_eq!(store.drop_shard(7).unwrap().blocks, 0);
    let d = store.drop_shard(1).unwrap();
    assert_eq!(d.blocks, 10);
    assert_eq!(store.lowest().unwrap(), Some(BlockNumber(20)));
    assert_eq!(store.last_contiguous().unwrap(), Some(BlockNumber(29)));
    store.verify().unwrap();
    drop(store);
    let store = Storage::open(dir.path(), opts()).unwrap();
    assert!(store.repair_report().is_clean());
    assert_eq!(store.lowest().unwrap(), Some(BlockNumber(20)));
}
