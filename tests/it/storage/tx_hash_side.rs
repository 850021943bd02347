//! The transaction hash side file (`shards/<first>/txhashes`) on real files: puts (unordered and
//! follow mode) write it, the seal builds the same log index with it as without it (`db verify`
//! rebuilds by hashing and compares), a damaged one falls back to hashing, the seal removes it,
//! open removes a sealed shard's leftover and keeps an unsealed shard's, which the seal then
//! uses; `db verify` never trusts it.

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use histd::cli::db::VerifyStore;
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{LogQuery, LogSearch, Storage, StorageError};
use histd::testkit::testnet::{ChainKind, TestnetChain};

use super::basic::{mainnet_verified, opts};
use super::log_index::reference;

const SHARD: u64 = 40;
/// Three complete shards and one block of a fourth (left unsealed).
const BLOCKS: u64 = 3 * SHARD + 1;

fn side_file(dir: &Path, first: u64) -> PathBuf {
    dir.join("shards")
        .join(format!("{first:012}"))
        .join("txhashes")
}

/// [`BLOCKS`] mainnet-like blocks (real mainnet block contents), built once for the module.
fn testnet() -> Vec<VerifiedBlock> {
    static BLOCKS_BUILT: std::sync::OnceLock<Vec<VerifiedBlock>> = std::sync::OnceLock::new();
    BLOCKS_BUILT
        .get_or_init(|| {
            let chain = TestnetChain::build(ChainKind::Mainnet, 3, BLOCKS);
            (0..BLOCKS)
                .map(|n| chain.verified_block(n).unwrap().unwrap())
                .collect()
        })
        .clone()
}

/// Every log of `from ..= to` answers as the blocks say.
fn answers_every_log(store: &Storage, blocks: &[VerifiedBlock], from: u64, to: u64) {
    let q = LogQuery::default();
    assert_eq!(
        store
            .find_logs(&q, BlockNumber(from), BlockNumber(to), u64::MAX)
            .unwrap(),
        LogSearch::Found(reference(blocks, &q, from, to))
    );
}

/// A store of `blocks` in shards of [`SHARD`], put unordered, not sealed yet.
fn filled(blocks: &[VerifiedBlock]) -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    // Two batches, the second first: records in the file are not in block order.
    store.put_unordered(&blocks[60..]).unwrap();
    store.put_unordered(&blocks[..60]).unwrap();
    (dir, store)
}

/// Seals the complete shards and checks the result against a rebuild by hashing.
fn seal_and_check(dir: &Path, store: &Storage, blocks: &[VerifiedBlock]) {
    assert_eq!(
        store.seal_complete(BlockNumber(BLOCKS - 1)).unwrap(),
        vec![0, 1, 2]
    );
    for s in 0..3 {
        assert!(!side_file(dir, s * SHARD).exists(), "shard {s}");
    }
    assert!(side_file(dir, 3 * SHARD).exists());
    // `verify` rebuilds each index by hashing with the file's seed and compares its header
    // (with the body's crc): the same bytes.
    store.verify().unwrap();
    answers_every_log(store, blocks, 0, BLOCKS - 1);
}

#[test]
fn the_seal_with_the_side_file_writes_what_hashing_writes() {
    let blocks = testnet();
    let (dir, store) = filled(&blocks);
    for s in 0..4 {
        assert!(side_file(dir.path(), s * SHARD).exists(), "shard {s}");
    }
    seal_and_check(dir.path(), &store, &blocks);

    // Follow mode (sorted appends, several batches) writes it too.
    let follow_dir = tempfile::tempdir().unwrap();
    let follow = Storage::open(follow_dir.path(), opts(SHARD)).unwrap();
    for batch in blocks.chunks(25) {
        follow
            .append_sorted_many(&batch.iter().collect::<Vec<_>>())
            .unwrap();
    }
    assert!(side_file(follow_dir.path(), 0).exists());
    seal_and_check(follow_dir.path(), &follow, &blocks);
}

#[test]
fn real_mainnet_blocks_seal_the_same_with_the_side_file() {
    // Shards of one block: each real mainnet block is a complete shard with its own side file.
    let blocks: Vec<VerifiedBlock> = mainnet_verified().into_iter().map(|(b, _)| b).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(1)).unwrap();
    store.put_unordered(&blocks).unwrap();
    for b in &blocks {
        assert!(side_file(dir.path(), b.number().get()).exists());
    }
    store.compact_dirty().unwrap();
    let top = blocks.iter().map(|b| b.number().get()).max().unwrap();
    assert_eq!(
        store.seal_complete(BlockNumber(top)).unwrap().len(),
        blocks.len()
    );
    for b in &blocks {
        assert!(!side_file(dir.path(), b.number().get()).exists());
        let n = b.number().get();
        answers_every_log(&store, &blocks, n, n);
    }
    store.verify().unwrap();
}

#[test]
fn a_damaged_or_missing_side_file_gives_the_same_index() {
    let blocks = testnet();
    let (dir, store) = filled(&blocks);
    // Cut short (a crash mid-append), one byte flipped, gone.
    let cut = side_file(dir.path(), 0);
    let len = std::fs::metadata(&cut).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(len / 2 + 3)
        .unwrap();
    let flipped = side_file(dir.path(), SHARD);
    let mut bytes = std::fs::read(&flipped).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x10;
    std::fs::write(&flipped, &bytes).unwrap();
    std::fs::remove_file(side_file(dir.path(), 2 * SHARD)).unwrap();
    seal_and_check(dir.path(), &store, &blocks);
}

#[test]
fn open_removes_a_sealed_shards_leftover_and_keeps_an_unsealed_shards() {
    let blocks = testnet();
    let (dir, store) = filled(&blocks);
    let kept = std::fs::read(side_file(dir.path(), 0)).unwrap();
    assert_eq!(
        store.seal_complete(BlockNumber(SHARD - 1)).unwrap(),
        vec![0]
    );
    drop(store);
    // A seal whose removal did not happen (a crash right after its commit).
    std::fs::write(side_file(dir.path(), 0), &kept).unwrap();
    let before = std::fs::read(side_file(dir.path(), SHARD)).unwrap();
    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    assert!(
        store
            .repair_report()
            .removed_files
            .contains(&side_file(dir.path(), 0)),
        "{:?}",
        store.repair_report()
    );
    assert!(!side_file(dir.path(), 0).exists());
    // The unsealed shards' files are left as they were.
    assert_eq!(std::fs::read(side_file(dir.path(), SHARD)).unwrap(), before);
    assert!(side_file(dir.path(), 3 * SHARD).exists());
    store.verify().unwrap();
}

/// A record in the documented layout: number u64 | block hash | count u32 | hashes | crc32.
fn record(number: u64, hash: &B256, tx_hashes: &[B256]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&number.to_le_bytes());
    out.extend_from_slice(hash.as_slice());
    out.extend_from_slice(&(tx_hashes.len() as u32).to_le_bytes());
    for h in tx_hashes {
        out.extend_from_slice(h.as_slice());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn an_unsealed_shards_side_file_survives_reopen_is_used_and_db_verify_does_not_trust_it() {
    let blocks = testnet();
    let (dir, store) = filled(&blocks);
    drop(store);
    // Records no writer of ours appends (each block's hash, other transaction hashes, a good
    // crc), after the good ones: the last record whose hash matches wins.
    let forged = B256::repeat_byte(0xab);
    let path = side_file(dir.path(), 0);
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &blocks[..SHARD as usize] {
        let hashes = vec![forged; b.receipts().len()];
        bytes.extend(record(b.number().get(), &b.hash(), &hashes));
    }
    std::fs::write(&path, &bytes).unwrap();

    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    assert!(store.repair_report().is_clean());
    assert!(path.exists());
    assert_eq!(
        store.seal_complete(BlockNumber(BLOCKS - 1)).unwrap(),
        vec![0, 1, 2]
    );
    // The seal used it: the logs of shard 0 name the forged hash.
    let LogSearch::Found(logs) = store
        .find_logs(
            &LogQuery::default(),
            BlockNumber(0),
            BlockNumber(SHARD - 1),
            u64::MAX,
        )
        .unwrap()
    else {
        panic!("shard 0 answers");
    };
    assert!(!logs.is_empty());
    assert!(logs.iter().all(|l| l.tx_hash == forged));
    // `db verify` hashes the stored transactions itself, so it names the index.
    match store.verify() {
        Err(StorageError::Verify { number, reason }) => {
            assert_eq!(number, BlockNumber(0));
            assert!(reason.contains("log index"), "{reason}");
        }
        other => panic!("verify passed an index built from forged hashes: {other:?}"),
    }
    // The other shards used their own good records.
    answers_every_log(&store, &blocks, SHARD, BLOCKS - 1);
}
