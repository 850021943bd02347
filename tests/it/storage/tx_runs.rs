//! Transaction runs (`txruns/run-*.idx`, one per aligned group of 64 sealed shards): a lookup
//! answers from a run what it answers from the shards' files; a run whose shards changed, or
//! that is damaged, cut short or left as a tmp file by a crash, is removed on open and written
//! again; and one shard file that cannot be read fails only the lookups that find nothing.
//! Shards of 2 blocks keep a group (128 blocks) cheap.

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{Storage, fault};
use histd::testkit::chain::ChainGen;
use redb::{ReadableTable, TableDefinition};

use super::basic::opts;
use super::tx_index::{assert_all_found, assert_none_found};

/// The shard rows as stored (name and type are the file format).
const SHARDS: TableDefinition<u64, &[u8]> = TableDefinition::new("shards");
/// Where a row keeps its seal checksum (`layout.rs`).
const SEAL_CRC_AT: usize = 32;

const SHARD: u64 = 2;
/// Shards per run (`tx_index/run.rs`).
const GROUP: u64 = 64;
/// Two whole groups and a shard and a block more.
const BLOCKS: u64 = 2 * GROUP * SHARD + SHARD + 1;

/// The first `blocks` blocks of a synthetic chain (up to 4 transactions each).
fn chain(blocks: u64) -> Vec<VerifiedBlock> {
    let mut g = ChainGen::new(7);
    g.max_txs = 4;
    g.chain(BlockNumber(0), blocks, B256::ZERO)
}

/// [`BLOCKS`] of [`chain`] stored and compacted, every complete shard sealed (two runs
/// written).
fn sealed(dir: &Path) -> (Storage, Vec<VerifiedBlock>) {
    let blocks = chain(BLOCKS);
    let store = Storage::open(dir, opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    let sealed = store.seal_complete(BlockNumber(BLOCKS - 1)).expect("seal");
    assert_eq!(sealed.len() as u64, 2 * GROUP + 1);
    (store, blocks)
}

/// Every file in the runs' directory, sorted.
fn runs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("txruns")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries.map(|e| e.expect("entry").path()).collect();
    out.sort();
    out
}

/// The transaction index file of shard `shard` (sealed at generation 1 by a compaction).
fn shard_file(dir: &Path, shard: u64) -> PathBuf {
    let d = dir.join(format!("shards/{:012}", shard * SHARD));
    std::fs::read_dir(&d)
        .expect("shard dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("txs-"))
        })
        .unwrap_or_else(|| panic!("no transaction index in {}", d.display()))
}

/// Hashes stored nowhere are not found.
fn assert_absent_not_found(store: &Storage) {
    for byte in [0x00, 0x5a, 0xff] {
        assert_eq!(
            store.transaction(&B256::repeat_byte(byte)).expect("lookup"),
            None
        );
    }
}

/// Overwrites everything after a transaction index file's header with zeros (same length, same
/// inode: an open descriptor reads the zeros): the file then names no candidate at all.
fn blank(path: &Path) {
    let len = std::fs::metadata(path).expect("metadata").len() as usize;
    let mut bytes = std::fs::read(path).expect("read");
    bytes[48..len].fill(0);
    std::fs::write(path, &bytes).expect("write");
}

#[test]
fn lookups_answer_from_runs_what_the_shard_files_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = sealed(dir.path());
    let written = runs(dir.path());
    assert_eq!(written.len(), 2, "{written:?}");
    assert_all_found(&store, &blocks);
    assert_absent_not_found(&store);
    let bytes: Vec<Vec<u8>> = written
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    drop(store);

    // A store without runs (from before them) gets them on open: the same bytes.
    for p in &written {
        std::fs::remove_file(p).expect("remove");
    }
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    assert_eq!(store.repair_report().rebuilt_tx_runs, vec![0, GROUP]);
    assert_eq!(runs(dir.path()), written);
    for (p, want) in written.iter().zip(&bytes) {
        assert_eq!(&std::fs::read(p).expect("read"), want);
    }
    assert_all_found(&store, &blocks);

    // The runs answer alone: with every grouped shard's file blanked, all is still found
    // (the shard after the groups keeps its file, the last block is in the tail).
    for shard in 0..2 * GROUP {
        blank(&shard_file(dir.path(), shard));
    }
    assert_all_found(&store, &blocks);
    assert_absent_not_found(&store);
    drop(store);

    // Reopened normally: nothing to repair, the runs kept.
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let report = store.repair_report();
    assert!(report.is_clean(), "{report:?}");
    assert_all_found(&store, &blocks);
}

#[test]
fn a_run_whose_shards_changed_is_removed_on_open_and_written_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = sealed(dir.path());
    let before = runs(dir.path());
    assert_eq!(before.len(), 2);
    drop(store);
    // Shard 5 sealed again with other bytes (its seal checksum differs); shard 70 dropped.
    {
        let db = redb::Database::open(dir.path().join("index.redb")).expect("open the index");
        let txn = db.begin_write().expect("write");
        {
            let mut t = txn.open_table(SHARDS).expect("shards");
            let mut row = t.get(5).expect("get").expect("row 5").value().to_vec();
            row[SEAL_CRC_AT] ^= 0xff;
            t.insert(5, row.as_slice()).expect("insert");
            t.remove(GROUP + 6).expect("remove");
        }
        txn.commit().expect("commit");
    }
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let report = store.repair_report().clone();
    assert_eq!(report.removed_tx_runs, before, "{report:?}");
    // Group 0 is all sealed still (with shard 5 as its row says now); group 1 is not.
    assert_eq!(report.rebuilt_tx_runs, vec![0]);
    let after = runs(dir.path());
    assert_eq!(after.len(), 1);
    assert_ne!(after[0], before[0], "the new cover names another run");
    let (lo, hi) = (
        ((GROUP + 6) * SHARD) as usize,
        ((GROUP + 7) * SHARD) as usize,
    );
    assert_all_found(&store, &blocks[..lo]);
    assert_all_found(&store, &blocks[hi..]);
    assert_none_found(&store, &blocks[lo..hi]);
}

#[test]
fn a_damaged_cut_short_or_half_written_run_is_removed_and_written_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = sealed(dir.path());
    drop(store);
    let written = runs(dir.path());
    let good: Vec<Vec<u8>> = written
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    // Run 0 cut short, run 1's cover damaged, and a tmp run a crash left.
    std::fs::write(&written[0], &good[0][..good[0].len() - 5]).expect("write");
    let mut bytes = good[1].clone();
    let at = bytes.len() - 20;
    bytes[at] ^= 1;
    std::fs::write(&written[1], &bytes).expect("write");
    let tmp = dir.path().join("txruns/run-000000000064-00000000.idx.tmp");
    std::fs::write(&tmp, b"half").expect("write");

    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let report = store.repair_report().clone();
    let mut removed = report.removed_tx_runs.clone();
    removed.sort();
    let mut want = vec![written[0].clone(), written[1].clone(), tmp];
    want.sort();
    assert_eq!(removed, want);
    assert_eq!(report.rebuilt_tx_runs, vec![0, GROUP]);
    assert_eq!(runs(dir.path()), written);
    for (p, want) in written.iter().zip(&good) {
        assert_eq!(&std::fs::read(p).expect("read"), want);
    }
    assert_all_found(&store, &blocks);
}

#[test]
fn a_crash_between_the_tmp_run_and_its_rename_leaves_a_store_that_opens_and_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocks = chain(GROUP * SHARD + 1);
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    store
        .seal_complete(BlockNumber((GROUP - 1) * SHARD - 1))
        .expect("seal");
    assert!(runs(dir.path()).is_empty());
    // The seal of the group's last shard renames its log and transaction index files, commits,
    // then writes the run: its rename fails, as a crash there would leave it.
    fault::fail_once(dir.path(), fault::IoOp::Rename, 2);
    assert!(store.seal(GROUP - 1).expect("the seal commits"));
    assert!(!fault::once_pending(dir.path()));
    let left = runs(dir.path());
    assert_eq!(left.len(), 1);
    assert!(left[0].to_string_lossy().ends_with(".tmp"), "{left:?}");
    assert_all_found(&store, &blocks);
    assert_absent_not_found(&store);
    drop(store);

    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    assert_eq!(store.repair_report().removed_tx_runs, left);
    assert_eq!(store.repair_report().rebuilt_tx_runs, vec![0]);
    let now = runs(dir.path());
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].with_extension("idx.tmp"), left[0]);
    assert_all_found(&store, &blocks);
}

#[test]
fn one_unreadable_shard_file_fails_only_the_lookups_that_find_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocks = chain(6 * SHARD + 1);
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    store.seal_complete(BlockNumber(9)).expect("seal");
    // Shard 2's file cut to its header under the open descriptor: every probe of it fails.
    let broken = shard_file(dir.path(), 2);
    let bytes = std::fs::read(&broken).expect("read");
    std::fs::write(&broken, &bytes[..48]).expect("write");
    let (lo, hi) = ((2 * SHARD) as usize, (3 * SHARD) as usize);
    assert_all_found(&store, &blocks[..lo]);
    assert_all_found(&store, &blocks[hi..]);
    let txs: Vec<_> = blocks[lo..hi]
        .iter()
        .flat_map(|b| b.body().transactions.iter())
        .collect();
    assert!(!txs.is_empty(), "shard 2 has transactions");
    for tx in txs {
        let err = store
            .transaction(tx.tx_hash())
            .expect_err("its file is unreadable");
        assert!(
            err.to_string().contains(&broken.display().to_string()),
            "{err}"
        );
    }
    let err = store
        .transaction(&B256::repeat_byte(0x5a))
        .expect_err("found nowhere while a file is unreadable");
    assert!(err.to_string().contains("txs-"), "{err}");
}
