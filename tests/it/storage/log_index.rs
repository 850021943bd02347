//! The log index on real files: `find_logs` over sealed shards (index files) and the unsealed
//! tail (bloom + decoded blocks) returns exactly what a plain scan of the blocks returns, for
//! random filters (address lists, topic OR-lists and wildcards) and random ranges across both;
//! over a limit it names the block where the count passes it. Seal writes the index before the
//! shard is Sealed; open removes leftovers and writes a missing one; `db verify` checks it.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256};
use histd::cli::db::VerifyStore;
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{FoundLog, LogQuery, LogSearch, ShardState, Storage, StorageError};
use histd::testkit::chain::ChainGen;
use histd::testkit::mainnet::load_blocks;
use histd::testkit::testnet::{ChainKind, TestnetChain};
use histd::verify::{self, SealedHeader};
use proptest::prelude::*;

use super::basic::opts;

/// The reference: every log of `blocks` in `from ..= to` that `q` matches, written out plainly.
pub(super) fn reference(
    blocks: &[VerifiedBlock],
    q: &LogQuery,
    from: u64,
    to: u64,
) -> Vec<FoundLog> {
    let mut out = Vec::new();
    for b in blocks {
        let n = b.number().get();
        if n < from || n > to {
            continue;
        }
        let hashes: Vec<B256> = b.transaction_hashes().collect();
        let mut log_index = 0;
        for (i, r) in b.receipts().iter().enumerate() {
            for log in &r.logs {
                let address_ok = q.addresses.is_empty() || q.addresses.contains(&log.address);
                let topics_ok = q.topics.iter().enumerate().all(|(p, set)| {
                    set.is_empty() || log.topics().get(p).is_some_and(|t| set.contains(t))
                });
                if address_ok && topics_ok {
                    out.push(FoundLog {
                        block_number: n,
                        block_hash: b.hash(),
                        block_timestamp: b.header().timestamp,
                        tx_hash: hashes[i],
                        tx_index: i as u64,
                        log_index,
                        log: log.clone(),
                    });
                }
                log_index += 1;
            }
        }
    }
    out
}

/// What `find_logs` must answer given the reference answer and the limit.
fn expected(reference: Vec<FoundLog>, limit: u64) -> LogSearch {
    match reference.get(limit as usize) {
        Some(over) if reference.len() as u64 > limit => LogSearch::TooMany {
            over_at: over.block_number,
        },
        _ => LogSearch::Found(reference),
    }
}

/// Every (address, topics) of the logs, to draw filter values that match something.
pub(super) fn values(blocks: &[VerifiedBlock]) -> (Vec<Address>, Vec<Vec<B256>>) {
    let mut addresses = Vec::new();
    let mut topics = vec![Vec::new(); 4];
    for b in blocks {
        for r in b.receipts() {
            for l in &r.logs {
                addresses.push(l.address);
                for (p, t) in l.topics().iter().enumerate() {
                    topics[p].push(*t);
                }
            }
        }
    }
    addresses.sort();
    addresses.dedup();
    for set in &mut topics {
        set.sort();
        set.dedup();
    }
    (addresses, topics)
}

/// A filter from picks: per criterion, indices into the known values (an index past them is a
/// value no log carries), empty lists being wildcards.
fn query_from(
    known: &(Vec<Address>, Vec<Vec<B256>>),
    address_picks: &[usize],
    topic_picks: &[Vec<usize>],
) -> LogQuery {
    let (addresses, topics) = known;
    LogQuery {
        addresses: address_picks
            .iter()
            .map(|&i| {
                addresses
                    .get(i % (addresses.len() + 1))
                    .copied()
                    .unwrap_or(Address::repeat_byte(0xee))
            })
            .collect(),
        topics: topic_picks
            .iter()
            .enumerate()
            .map(|(p, picks)| {
                picks
                    .iter()
                    .map(|&i| {
                        topics[p]
                            .get(i % (topics[p].len() + 1))
                            .copied()
                            .unwrap_or(B256::repeat_byte(0xee))
                    })
                    .collect()
            })
            .collect(),
    }
}

fn index_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(dir.join("shards")).unwrap() {
        for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("logs-")
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

const SHARD: u64 = 32;
const BLOCKS: u64 = 150;

/// A synthetic chain of [`BLOCKS`] blocks with repeated topics: shards of [`SHARD`] blocks, the
/// complete ones sealed (indexed), the last one left unsealed (the tail).
fn synthetic() -> (tempfile::TempDir, Storage, Vec<VerifiedBlock>) {
    let mut g = ChainGen::new(11);
    g.max_txs = 6;
    g.max_logs = 4;
    let blocks = g.chain(BlockNumber(0), BLOCKS, B256::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    store.put_unordered(&blocks).unwrap();
    store.compact_dirty().unwrap();
    let sealed = store.seal_complete(BlockNumber(BLOCKS - 1)).unwrap();
    assert_eq!(sealed, vec![0, 1, 2, 3]);
    assert_eq!(index_files(dir.path()).len(), 4);
    (dir, store, blocks)
}

#[test]
fn synthetic_index_and_tail_answer_like_a_plain_scan() {
    let (_dir, store, blocks) = synthetic();
    random_ranges_match_a_plain_scan(&store, &blocks, 300, (64, 2_000), 200);
}

/// `cases` random queries over `blocks` (address picks below `picks.0`, topic picks below
/// `picks.1`, any range, no limit or one below `max_limit`), each checked against the plain scan.
fn random_ranges_match_a_plain_scan(
    store: &Storage,
    blocks: &[VerifiedBlock],
    cases: u32,
    picks: (usize, usize),
    max_limit: u64,
) {
    let known = values(blocks);
    let n = blocks.len() as u64;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let strategy = (
        proptest::collection::vec(0usize..picks.0, 0..3),
        proptest::collection::vec(proptest::collection::vec(0usize..picks.1, 0..3), 0..5),
        0..n,
        0..n,
        prop_oneof![Just(u64::MAX), 1u64..max_limit],
    );
    runner
        .run(&strategy, |(a, t, x, y, limit)| {
            let (from, to) = (x.min(y), x.max(y));
            let q = query_from(&known, &a, &t);
            let got = store
                .find_logs(&q, BlockNumber(from), BlockNumber(to), limit)
                .unwrap();
            prop_assert_eq!(got, expected(reference(blocks, &q, from, to), limit));
            Ok(())
        })
        .unwrap();
}

#[test]
fn mainnet_blocks_indexed_and_scanned_answer_like_a_plain_scan() {
    // Shards of one block: every mainnet test block is a complete shard, sealed and indexed. The
    // same blocks in one big unsealed shard go through the tail path.
    let blocks: Vec<VerifiedBlock> = load_blocks()
        .into_iter()
        .map(|b| {
            verify::verify_block(SealedHeader::seal(b.header), b.body, b.receipts)
                .expect("mainnet block verifies")
        })
        .collect();
    let sealed_dir = tempfile::tempdir().unwrap();
    let sealed = Storage::open(sealed_dir.path(), opts(1)).unwrap();
    sealed.put_unordered(&blocks).unwrap();
    sealed.compact_dirty().unwrap();
    let top = blocks.iter().map(|b| b.number().get()).max().unwrap();
    assert_eq!(
        sealed.seal_complete(BlockNumber(top)).unwrap().len(),
        blocks.len()
    );
    let tail_dir = tempfile::tempdir().unwrap();
    let tail = Storage::open(tail_dir.path(), opts(1_000_000)).unwrap();
    tail.put_unordered(&blocks).unwrap();
    tail.compact_dirty().unwrap();

    let known = values(&blocks);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let strategy = (
        0..blocks.len(),
        proptest::collection::vec(0usize..5_000, 0..3),
        proptest::collection::vec(proptest::collection::vec(0usize..20_000, 0..3), 0..5),
        prop_oneof![Just(u64::MAX), 1u64..400],
    );
    runner
        .run(&strategy, |(b, a, t, limit)| {
            let n = blocks[b].number().get();
            let q = query_from(&known, &a, &t);
            let want = expected(reference(&blocks, &q, n, n), limit);
            for store in [&sealed, &tail] {
                let got = store
                    .find_logs(&q, BlockNumber(n), BlockNumber(n), limit)
                    .unwrap();
                prop_assert_eq!(&got, &want);
            }
            Ok(())
        })
        .unwrap();
    // Every log of every block, in order, from the index.
    for b in &blocks {
        let n = b.number();
        let all = reference(&blocks, &LogQuery::default(), n.get(), n.get());
        assert_eq!(
            sealed
                .find_logs(&LogQuery::default(), n, n, u64::MAX)
                .unwrap(),
            LogSearch::Found(all)
        );
    }
    sealed.verify().unwrap();
}

#[test]
fn mainnet_like_shards_with_a_dictionary_answer_like_a_plain_scan() {
    // Shards of 40 mainnet-like blocks hold more chunk bytes than the dictionary is trained on:
    // the held chunks are compressed with it, the rest streamed after them.
    const SHARD: u64 = 40;
    const BLOCKS: u64 = 2 * SHARD + 1;
    let chain = TestnetChain::build(ChainKind::Mainnet, 3, BLOCKS);
    let blocks: Vec<VerifiedBlock> = (0..BLOCKS)
        .map(|n| chain.verified_block(n).unwrap().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    store.put_unordered(&blocks).unwrap();
    store.compact_dirty().unwrap();
    assert_eq!(
        store.seal_complete(BlockNumber(BLOCKS - 1)).unwrap(),
        vec![0, 1]
    );
    for f in index_files(dir.path()) {
        // The header's dictionary length (file.rs: bytes 56..64): these shards have one.
        let h = std::fs::read(&f).unwrap();
        let dict = u64::from_le_bytes(h[56..64].try_into().unwrap());
        assert!(dict > 0, "{} has no dictionary", f.display());
    }
    random_ranges_match_a_plain_scan(&store, &blocks, 100, (2_000, 5_000), 2_000);
    // A rebuild with the file's key writes the same bytes (the dictionary training included).
    store.verify().unwrap();
}

#[test]
fn a_range_with_a_missing_block_names_it() {
    let (_dir, store, _blocks) = synthetic();
    let q = LogQuery::default();
    assert_eq!(
        store
            .find_logs(&q, BlockNumber(100), BlockNumber(BLOCKS + 5), u64::MAX)
            .unwrap(),
        LogSearch::Missing(BLOCKS)
    );
}

#[test]
fn open_removes_leftovers_and_writes_a_missing_index() {
    let (dir, store, blocks) = synthetic();
    drop(store);
    let files = index_files(dir.path());
    // A lost index, a half-written one, and one of a shard not sealed (a crash before the
    // seal's commit).
    std::fs::remove_file(&files[1]).unwrap();
    let tmp = files[2].with_extension("idx.tmp");
    std::fs::write(&tmp, b"half").unwrap();
    let unsealed = dir.path().join("shards/000000000128/logs-1.idx");
    std::fs::write(&unsealed, b"stale").unwrap();

    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    let report = store.repair_report().clone();
    assert_eq!(report.rebuilt_log_indexes, vec![1]);
    assert!(report.removed_files.contains(&tmp), "{report:?}");
    assert!(report.removed_files.contains(&unsealed), "{report:?}");
    assert_eq!(index_files(dir.path()), files);
    assert_eq!(store.shard_state(4).unwrap(), ShardState::Sorted);
    store.verify().unwrap();
    let q = LogQuery {
        addresses: vec![Address::with_last_byte(3)],
        topics: Vec::new(),
    };
    assert_eq!(
        store
            .find_logs(&q, BlockNumber(0), BlockNumber(BLOCKS - 1), u64::MAX)
            .unwrap(),
        LogSearch::Found(reference(&blocks, &q, 0, BLOCKS - 1))
    );
}

#[test]
fn open_writes_again_an_index_of_an_older_format() {
    let (dir, store, blocks) = synthetic();
    drop(store);
    let files = index_files(dir.path());
    // Version 1 (the format before the dictionary): its header says so at bytes 8..12.
    let mut bytes = std::fs::read(&files[2]).unwrap();
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(&files[2], &bytes).unwrap();
    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    assert_eq!(store.repair_report().rebuilt_log_indexes, vec![2]);
    store.verify().unwrap();
    let q = LogQuery::default();
    assert_eq!(
        store
            .find_logs(&q, BlockNumber(0), BlockNumber(BLOCKS - 1), u64::MAX)
            .unwrap(),
        LogSearch::Found(reference(&blocks, &q, 0, BLOCKS - 1))
    );
}

#[test]
fn verify_names_a_damaged_index_and_queries_still_answer() {
    let (dir, store, blocks) = synthetic();
    drop(store);
    let files = index_files(dir.path());
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(&files[0], &bytes).unwrap();
    let store = Storage::open(dir.path(), opts(SHARD)).unwrap();
    match store.verify() {
        Err(StorageError::Verify { number, reason }) => {
            assert_eq!(number, BlockNumber(0));
            assert!(reason.contains("log index"), "{reason}");
        }
        other => panic!("verify passed a damaged index: {other:?}"),
    }
    // An index whose header is damaged is not used: the shard is scanned instead.
    let mut head = std::fs::read(&files[0]).unwrap();
    head[20] ^= 1;
    std::fs::write(&files[0], &head).unwrap();
    let q = LogQuery::default();
    assert_eq!(
        store
            .find_logs(&q, BlockNumber(0), BlockNumber(SHARD - 1), u64::MAX)
            .unwrap(),
        LogSearch::Found(reference(&blocks, &q, 0, SHARD - 1))
    );
}
