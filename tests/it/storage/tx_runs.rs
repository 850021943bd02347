//! Transaction runs (`txruns/run-*.idx`, one per aligned group of 64 sealed shards): a lookup
//! answers from a run what it answers from the shards' files; a run replaces its shards' files
//! (removed once it is written, not rebuilt on open, a leftover removed on open); a run whose
//! shards changed is split back into the files of the shards it still matches (from the
//! segments if its body is damaged), removed on open and written again, as is one damaged, cut
//! short or left as a tmp file by a crash; `db verify` checks a run in place of its shards'
//! files; a lookup racing the seal that completes a group still finds everything; and one
//! shard file that cannot be read fails only the lookups that find nothing. Shards of 2 blocks
//! keep a group (128 blocks) cheap.

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use histd::cli::db::VerifyStore;
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{Storage, fault};
use histd::testkit::chain::ChainGen;
use redb::{ReadableTable, TableDefinition};

use super::basic::opts;
use super::tx_index::{assert_all_found, assert_none_found, gauge};

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

/// One group and a block stored and compacted, every shard of the group sealed but its last.
fn all_but_the_last_shard_sealed(dir: &Path) -> (Storage, Vec<VerifiedBlock>) {
    let blocks = chain(GROUP * SHARD + 1);
    let store = Storage::open(dir, opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    store
        .seal_complete(BlockNumber((GROUP - 1) * SHARD - 1))
        .expect("seal");
    (store, blocks)
}

/// Every transaction of `blocks` is found but those of shard `dropped` (dropped).
fn assert_found_but_in(store: &Storage, blocks: &[VerifiedBlock], dropped: u64) {
    let (lo, hi) = ((dropped * SHARD) as usize, ((dropped + 1) * SHARD) as usize);
    assert_all_found(store, &blocks[..lo]);
    assert_all_found(store, &blocks[hi..]);
    assert_none_found(store, &blocks[lo..hi]);
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
    shard_file_if_any(dir, shard)
        .unwrap_or_else(|| panic!("no transaction index in {}", d.display()))
}

/// The transaction index file of shard `shard`, if it has one (and a directory).
fn shard_file_if_any(dir: &Path, shard: u64) -> Option<PathBuf> {
    let d = dir.join(format!("shards/{:012}", shard * SHARD));
    std::fs::read_dir(&d)
        .ok()?
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("txs-"))
        })
}

/// The shards in `shards` that have a transaction index file.
fn with_files(dir: &Path, shards: std::ops::Range<u64>) -> Vec<u64> {
    shards
        .filter(|s| shard_file_if_any(dir, *s).is_some())
        .collect()
}

/// Edits the shard rows of the closed store in `dir`.
fn edit_rows(dir: &Path, edit: impl FnOnce(&mut redb::Table<u64, &[u8]>)) {
    let db = redb::Database::open(dir.join("index.redb")).expect("open the index");
    let txn = db.begin_write().expect("write");
    {
        let mut t = txn.open_table(SHARDS).expect("shards");
        edit(&mut t);
    }
    txn.commit().expect("commit");
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

#[test]
fn lookups_answer_from_runs_what_the_shard_files_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = sealed(dir.path());
    let written = runs(dir.path());
    assert_eq!(written.len(), 2, "{written:?}");
    // The runs replace their shards' files; the shard after the groups keeps its own.
    assert_eq!(with_files(dir.path(), 0..2 * GROUP + 1), vec![2 * GROUP]);
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

    // The files the runs were merged from (rebuilt from the segments) are gone again.
    assert_eq!(with_files(dir.path(), 0..2 * GROUP + 1), vec![2 * GROUP]);
    assert_all_found(&store, &blocks);
    assert_absent_not_found(&store);
    store.verify().expect("verify");
    drop(store);

    // Reopened normally: nothing to repair (no shard file rebuilt), the runs kept.
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let report = store.repair_report();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(with_files(dir.path(), 0..2 * GROUP + 1), vec![2 * GROUP]);
    assert_all_found(&store, &blocks);

    // Runs ignored (benchmarks' per-shard figures): the files come back from the runs, the
    // same answers; the next open removes them again.
    store.ignore_tx_runs();
    assert_eq!(
        with_files(dir.path(), 0..2 * GROUP + 1),
        (0..2 * GROUP + 1).collect::<Vec<_>>()
    );
    assert_all_found(&store, &blocks);
    assert_absent_not_found(&store);
    drop(store);
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let removed = &store.repair_report().removed_covered_tx_indexes;
    assert_eq!(removed, &(0..2 * GROUP).collect::<Vec<_>>());
}

#[test]
fn a_run_whose_shards_changed_is_removed_on_open_and_written_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = sealed(dir.path());
    let before = runs(dir.path());
    assert_eq!(before.len(), 2);
    drop(store);
    // Shard 5 sealed again with other bytes (its seal checksum differs); shard 70 dropped.
    edit_rows(dir.path(), |t| {
        let mut row = t.get(5).expect("get").expect("row 5").value().to_vec();
        row[SEAL_CRC_AT] ^= 0xff;
        t.insert(5, row.as_slice()).expect("insert");
        t.remove(GROUP + 6).expect("remove");
    });
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let report = store.repair_report().clone();
    assert_eq!(report.removed_tx_runs, before, "{report:?}");
    // Each run was split into the files of the shards it still matches; only shard 5 (sealed
    // as the run does not record) was rebuilt from its segment.
    let split: Vec<u64> = (0..2 * GROUP)
        .filter(|s| *s != 5 && *s != GROUP + 6)
        .collect();
    let mut got = report.split_tx_indexes.clone();
    got.sort_unstable();
    assert_eq!(got, split);
    assert_eq!(report.rebuilt_tx_indexes, vec![5]);
    // Group 0 is all sealed still (with shard 5 as its row says now): its new run replaces
    // the files again; group 1 is not, its shards keep theirs.
    assert_eq!(report.rebuilt_tx_runs, vec![0]);
    let kept: Vec<u64> = (GROUP..2 * GROUP + 1).filter(|s| *s != GROUP + 6).collect();
    assert_eq!(with_files(dir.path(), 0..2 * GROUP + 1), kept);
    let after = runs(dir.path());
    assert_eq!(after.len(), 1);
    assert_ne!(after[0], before[0], "the new cover names another run");
    assert_found_but_in(&store, &blocks, GROUP + 6);
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
    // Neither run opens, so none is split: their shards' files come from the segments.
    assert!(report.split_tx_indexes.is_empty(), "{report:?}");
    assert_eq!(
        report.rebuilt_tx_indexes,
        (0..2 * GROUP).collect::<Vec<_>>()
    );
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
    let (store, blocks) = all_but_the_last_shard_sealed(dir.path());
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
    // Written on open, the run replaces the files the failed one left.
    assert!(with_files(dir.path(), 0..GROUP).is_empty());
    assert_all_found(&store, &blocks);
}

#[test]
fn a_run_whose_shard_is_dropped_is_split_into_the_other_shards_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = sealed(dir.path());
    drop(store);
    let before = runs(dir.path());
    edit_rows(dir.path(), |t| {
        t.remove(GROUP + 6).expect("remove");
    });
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let report = store.repair_report().clone();
    assert_eq!(
        report.removed_tx_runs,
        vec![before[1].clone()],
        "{report:?}"
    );
    // From the run's entries alone: no shard file rebuilt from its segment.
    let split: Vec<u64> = (GROUP..2 * GROUP).filter(|s| *s != GROUP + 6).collect();
    let mut got = report.split_tx_indexes.clone();
    got.sort_unstable();
    assert_eq!(got, split);
    assert!(report.rebuilt_tx_indexes.is_empty(), "{report:?}");
    assert!(report.rebuilt_tx_runs.is_empty(), "{report:?}");
    assert_eq!(runs(dir.path()), vec![before[0].clone()]);
    assert_found_but_in(&store, &blocks, GROUP + 6);
    // The split files are what a build from the segments writes.
    store.verify().expect("verify");
    drop(store);
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    assert!(
        store.repair_report().is_clean(),
        "{:?}",
        store.repair_report()
    );
}

#[test]
fn a_run_with_a_damaged_body_fails_verify_and_its_files_come_from_the_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = sealed(dir.path());
    store.verify().expect("verify");
    let run = runs(dir.path())[1].clone();
    // One byte of an entry flipped (the body's checksum no longer matches).
    let mut bytes = std::fs::read(&run).expect("read");
    let at = bytes.len() - 16 * GROUP as usize - 16 - 5;
    bytes[at] ^= 1;
    std::fs::write(&run, &bytes).expect("write");
    let err = store.verify().expect_err("damage found").to_string();
    assert!(err.contains("transaction run"), "{err}");
    drop(store);

    // Shard 70 dropped: the run no longer matches, and its damaged body is not split.
    edit_rows(dir.path(), |t| {
        t.remove(GROUP + 6).expect("remove");
    });
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let report = store.repair_report().clone();
    assert_eq!(report.removed_tx_runs, vec![run], "{report:?}");
    assert!(report.split_tx_indexes.is_empty(), "{report:?}");
    let rebuilt: Vec<u64> = (GROUP..2 * GROUP).filter(|s| *s != GROUP + 6).collect();
    assert_eq!(report.rebuilt_tx_indexes, rebuilt);
    assert_found_but_in(&store, &blocks, GROUP + 6);
    store.verify().expect("verify");
}

#[test]
fn a_damaged_run_deleted_as_verify_says_is_rebuilt_from_the_segments_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = sealed(dir.path());
    let run = runs(dir.path())[0].clone();
    let good = std::fs::read(&run).expect("read");
    let mut bytes = good.clone();
    bytes[100] ^= 1;
    std::fs::write(&run, &bytes).expect("write");
    let err = store.verify().expect_err("damage found").to_string();
    assert!(err.contains("delete the run"), "{err}");
    drop(store);
    std::fs::remove_file(&run).expect("remove");
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let report = store.repair_report().clone();
    assert_eq!(report.rebuilt_tx_indexes, (0..GROUP).collect::<Vec<_>>());
    assert_eq!(report.rebuilt_tx_runs, vec![0]);
    assert_eq!(std::fs::read(&run).expect("read"), good);
    assert!(with_files(dir.path(), 0..GROUP).is_empty());
    assert_all_found(&store, &blocks);
    store.verify().expect("verify");
}

#[test]
fn a_file_a_valid_run_covers_is_a_leftover_verify_allows_and_open_removes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = sealed(dir.path());
    // As a crash between the run's rename and the removal of the files would leave it.
    let leftover = shard_file(dir.path(), 2 * GROUP).to_string_lossy().replace(
        &format!("{:012}", 2 * GROUP * SHARD),
        &format!("{:012}", 3 * SHARD),
    );
    std::fs::copy(shard_file(dir.path(), 2 * GROUP), &leftover).expect("copy");
    store.verify().expect("a leftover is not an error");
    drop(store);
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let report = store.repair_report().clone();
    assert_eq!(report.removed_covered_tx_indexes, vec![3], "{report:?}");
    assert!(report.rebuilt_tx_indexes.is_empty(), "{report:?}");
    assert!(!Path::new(&leftover).exists());
    assert_all_found(&store, &blocks);
}

#[test]
fn a_lookup_whose_snapshot_predates_the_seal_completing_a_group_finds_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, blocks) = all_but_the_last_shard_sealed(dir.path());
    // A transaction of shard 0 looked up in a snapshot where shard 63 is not sealed: the
    // seal completing the group, taken between that snapshot and the probes, writes the run
    // and removes shard 0's file the snapshot would probe.
    let (tx, block) = blocks
        .iter()
        .find_map(|b| Some((*b.body().transactions.first()?.tx_hash(), b.number().get())))
        .expect("a transaction");
    assert!(block < SHARD, "in shard 0");
    let (found, unreadable) = store
        .tx_candidates_racing(&tx, || assert!(store.seal(GROUP - 1).expect("seal")))
        .expect("lookup");
    assert!(
        with_files(dir.path(), 0..GROUP).is_empty(),
        "files replaced"
    );
    assert!(unreadable.is_none(), "{unreadable:?}");
    assert!(found.contains(&(block, 0)), "{found:?}");
    assert_all_found(&store, &blocks);
}

#[test]
fn lookups_racing_the_seal_that_completes_a_group_find_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocks = chain(2 * GROUP * SHARD + 1);
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    for shard in (0..2 * GROUP).filter(|s| s % GROUP != GROUP - 1) {
        assert!(store.seal(shard).expect("seal"));
    }
    let hashes: Vec<B256> = blocks
        .iter()
        .flat_map(|b| b.body().transactions.iter().map(|t| *t.tx_hash()))
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let lookups = scope.spawn(|| {
            let mut rounds = 0;
            // At least one whole round after both seals.
            while rounds < 2 || !done.load(std::sync::atomic::Ordering::Acquire) {
                for h in &hashes {
                    let found = store.transaction(h).expect("no lookup fails");
                    assert!(found.is_some(), "{h} not found");
                }
                if done.load(std::sync::atomic::Ordering::Acquire) {
                    rounds += 1;
                }
            }
        });
        for shard in [GROUP - 1, 2 * GROUP - 1] {
            assert!(store.seal(shard).expect("seal"));
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        lookups.join().expect("lookups");
    });
    assert_eq!(runs(dir.path()).len(), 2);
    assert!(with_files(dir.path(), 0..2 * GROUP).is_empty());
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

/// Bytes of every transaction index file and run in `dir`.
fn index_bytes_on_disk(dir: &Path) -> f64 {
    let files = (0..2 * GROUP + 1).filter_map(|s| shard_file_if_any(dir, s));
    files
        .chain(runs(dir))
        .map(|f| std::fs::metadata(f).expect("metadata").len() as f64)
        .sum()
}

#[test]
fn the_index_bytes_gauge_counts_runs_and_the_files_they_do_not_replace() {
    // A recorder of this thread only (the test binary's threads share no recorder).
    let measured = |open: &dyn Fn() -> Storage| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let store = metrics::with_local_recorder(&recorder, open);
        (store, gauge(&handle.render(), "histd_tx_index_bytes"))
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Each seal's file counted, each run counted, each file a run replaced no more.
    let (store, counted) = measured(&|| sealed(dir.path()).0);
    assert_eq!(counted, index_bytes_on_disk(dir.path()));
    // A leftover beside a valid run: removed on open, never counted.
    let leftover = dir
        .path()
        .join(format!("shards/{:012}/txs-1.idx", 3 * SHARD));
    std::fs::copy(shard_file(dir.path(), 2 * GROUP), &leftover).expect("copy");
    drop(store);
    let reopen = || Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    let (store, counted) = measured(&reopen);
    assert_eq!(store.repair_report().removed_covered_tx_indexes, vec![3]);
    assert_eq!(counted, index_bytes_on_disk(dir.path()));
    drop(store);
    // A run split back into its shards' files: the files counted once, the run no more.
    edit_rows(dir.path(), |t| {
        t.remove(GROUP + 6).expect("remove");
    });
    let (store, counted) = measured(&reopen);
    assert!(!store.repair_report().split_tx_indexes.is_empty());
    assert_eq!(counted, index_bytes_on_disk(dir.path()));
}
