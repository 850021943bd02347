//! The transaction index (schema 3): the unsealed tail's hash prefixes by block in redb
//! (`tx_blocks`), sealed shards' in `txs-<gen>.idx` files. Every transaction is found in the
//! tail, in a sealed file, and across a seal; a crash between the file and the seal's commit,
//! a lost or damaged file, a rollback and a dropped shard all leave the answers right; indexes
//! of schema 1 and 2 are migrated on open; a prefix shared with another transaction never
//! gives a wrong answer. A seal keeps the other shards' files open, `histd_tx_index_bytes`
//! counts the files, and the binary raises its descriptor limit (the files' cache is sized
//! from it).

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use histd::cli::db::VerifyStore;
use histd::primitives::{BlockNumber, VerifiedBlock};
use histd::storage::{ShardState, Storage, fault};
use histd::testkit::chain::ChainGen;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::basic::{mainnet_verified, opts};

/// The tables as stored (names and types are the file format, so they are spelled out here).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const TX_BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("tx_blocks");
const TX_KEYS_V2: TableDefinition<(u64, u64, u32), ()> = TableDefinition::new("tx_keys");
const TX_HASHES_V1: TableDefinition<[u8; 32], (u64, u32)> = TableDefinition::new("tx_hashes");

/// Real mainnet blocks stored, compacted, and the store closed.
fn stored_mainnet(dir: &Path) -> Vec<VerifiedBlock> {
    let blocks: Vec<VerifiedBlock> = mainnet_verified().into_iter().map(|(b, _)| b).collect();
    let store = Storage::open(dir, opts(10_000)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    blocks
}

/// Every transaction of `blocks` is found where it is, with its full body.
pub(super) fn assert_all_found(store: &Storage, blocks: &[VerifiedBlock]) {
    for b in blocks {
        for (i, tx) in b.body().transactions.iter().enumerate() {
            let t = store
                .transaction(tx.tx_hash())
                .expect("lookup")
                .unwrap_or_else(|| panic!("tx {i} of block {} not found", b.number()));
            assert_eq!((t.block, t.index as usize), (b.number(), i));
            assert_eq!(t.block_hash, b.hash());
            assert_eq!(t.transaction.as_ref(), Some(tx));
        }
    }
}

/// No transaction of `blocks` is found.
pub(super) fn assert_none_found(store: &Storage, blocks: &[VerifiedBlock]) {
    for b in blocks {
        for tx in &b.body().transactions {
            assert_eq!(store.transaction(tx.tx_hash()).expect("lookup"), None);
        }
    }
}

fn schema(db: &redb::Database) -> Option<Vec<u8>> {
    let txn = db.begin_read().expect("read");
    txn.open_table(META)
        .expect("meta")
        .get("schema_version")
        .expect("get")
        .map(|v| v.value().to_vec())
}

/// Rewrites the index at `path` as schema `version` left it: `fill` writes that schema's
/// transaction table, `tx_blocks` is deleted and the schema says `version`.
fn as_older_schema(path: &Path, version: u64, fill: impl FnOnce(&redb::WriteTransaction)) {
    let db = redb::Database::open(path).expect("open the index");
    let txn = db.begin_write().expect("begin");
    fill(&txn);
    assert!(txn.delete_table(TX_BLOCKS).expect("delete"));
    txn.open_table(META)
        .expect("meta")
        .insert("schema_version", &version.to_le_bytes()[..])
        .expect("schema");
    txn.commit().expect("commit");
}

/// Blocks with an entry in `tx_blocks`.
fn tail_blocks(dir: &Path) -> Vec<u64> {
    let db = redb::Database::open(dir.join("index.redb")).expect("open the index");
    let txn = db.begin_read().expect("read");
    let t = txn.open_table(TX_BLOCKS).expect("tx_blocks");
    t.iter()
        .expect("iter")
        .map(|r| r.expect("entry").0.value())
        .collect()
}

/// Every `txs-*.idx` file under the data directory, sorted.
fn tx_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(dir.join("shards")).expect("shards") {
        for f in std::fs::read_dir(shard.expect("entry").path()).expect("shard dir") {
            let p = f.expect("entry").path();
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            if name.starts_with("txs-") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

const SHARD: u64 = 16;
const BLOCKS: u64 = 4 * SHARD + 5;

/// A synthetic chain of [`BLOCKS`] blocks (up to 8 transactions each) in shards of [`SHARD`].
fn chain() -> Vec<VerifiedBlock> {
    let mut g = ChainGen::new(21);
    g.max_txs = 8;
    g.chain(BlockNumber(0), BLOCKS, B256::ZERO)
}

/// [`chain`] stored and compacted, its four complete shards sealed.
fn sealed_store() -> (tempfile::TempDir, Storage, Vec<VerifiedBlock>) {
    let blocks = chain();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    assert_eq!(
        store.seal_complete(BlockNumber(BLOCKS - 1)).expect("seal"),
        vec![0, 1, 2, 3]
    );
    (dir, store, blocks)
}

#[test]
fn transactions_are_found_in_the_tail_before_a_seal_and_in_the_files_after() {
    let blocks = chain();
    let txs: usize = blocks.iter().map(|b| b.body().transactions.len()).sum();
    assert!(txs > 100, "the chain has {txs} transactions");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    assert_all_found(&store, &blocks);
    store.compact_dirty().expect("compact");
    assert_all_found(&store, &blocks);
    assert!(store.seal(1).expect("seal"));
    // Shard 1 is in its file only, the rest in the tail: every transaction is found once.
    assert_eq!(tx_files(dir.path()).len(), 1);
    assert_all_found(&store, &blocks);
    assert_eq!(
        store.seal_complete(BlockNumber(BLOCKS - 1)).expect("seal"),
        vec![0, 2, 3]
    );
    assert_eq!(tx_files(dir.path()).len(), 4);
    assert_all_found(&store, &blocks);
    // A transaction stored nowhere is not found.
    assert_eq!(
        store.transaction(&B256::repeat_byte(0x5a)).expect("lookup"),
        None
    );
    store.verify().expect("verify");
    drop(store);
    // The seals moved their blocks out of the tail table: only the last shard's are left.
    let tail = tail_blocks(dir.path());
    assert!(!tail.is_empty());
    assert!(tail.iter().all(|&n| n >= 4 * SHARD), "{tail:?}");
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    assert!(
        store.repair_report().is_clean(),
        "{:?}",
        store.repair_report()
    );
    assert_all_found(&store, &blocks);
}

#[test]
fn a_crash_between_the_file_and_the_seal_commit_leaves_the_shard_unsealed_and_found() {
    let blocks = chain();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    // The seal writes both index files, then its one commit fails.
    fault::fail_commit_after(dir.path(), 0);
    assert!(store.seal(0).is_err());
    assert_eq!(store.shard_state(0).expect("state"), ShardState::Sorted);
    let stale = tx_files(dir.path());
    assert_eq!(stale.len(), 1, "the file was written before the commit");
    assert_all_found(&store, &blocks);
    drop(store);
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    assert!(
        store.repair_report().removed_files.contains(&stale[0]),
        "{:?}",
        store.repair_report()
    );
    assert!(tx_files(dir.path()).is_empty());
    assert_all_found(&store, &blocks);
    assert!(store.seal(0).expect("seal again"));
    assert_all_found(&store, &blocks);
    store.verify().expect("verify");
}

#[test]
fn a_missing_or_damaged_file_is_written_again_on_open() {
    let (dir, store, blocks) = sealed_store();
    drop(store);
    let files = tx_files(dir.path());
    assert_eq!(files.len(), 4);
    let good: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    // Lost; header damaged; cut short; and a leftover tmp plus a file of an unsealed shard.
    std::fs::remove_file(&files[0]).expect("remove");
    let mut bytes = good[1].clone();
    bytes[17] ^= 0x40;
    std::fs::write(&files[1], &bytes).expect("write");
    std::fs::write(&files[2], &good[2][..good[2].len() - 5]).expect("write");
    let tmp = files[3].with_extension("idx.tmp");
    std::fs::write(&tmp, b"half").expect("write");
    let unsealed = dir
        .path()
        .join(format!("shards/{:012}/txs-1.idx", 4 * SHARD));
    std::fs::write(&unsealed, b"stale").expect("write");

    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    let report = store.repair_report().clone();
    assert_eq!(report.rebuilt_tx_indexes, vec![0, 1, 2]);
    assert!(report.removed_files.contains(&tmp), "{report:?}");
    assert!(report.removed_files.contains(&unsealed), "{report:?}");
    assert_eq!(tx_files(dir.path()), files);
    // Rebuilt from the segments: the same bytes the seal wrote from the tail table.
    for (f, want) in files.iter().zip(&good) {
        assert_eq!(&std::fs::read(f).expect("read"), want, "{}", f.display());
    }
    assert_all_found(&store, &blocks);
    store.verify().expect("verify");
}

#[test]
fn db_verify_names_a_file_whose_body_is_damaged() {
    let (dir, store, _blocks) = sealed_store();
    store.verify().expect("verify");
    let f = &tx_files(dir.path())[2];
    let mut bytes = std::fs::read(f).expect("read");
    let last = bytes.len() - 3;
    bytes[last] ^= 1;
    std::fs::write(f, &bytes).expect("write");
    let err = store.verify().expect_err("damage found").to_string();
    assert!(err.contains("transaction index"), "{err}");
}

#[test]
fn rollback_forgets_reorged_out_transactions_and_finds_the_replacements() {
    let blocks = chain();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    for b in &blocks {
        store.append_sorted(b).expect("append");
    }
    store
        .seal_complete(BlockNumber(2 * SHARD - 1))
        .expect("seal");
    let cut = 3 * SHARD - 4;
    store.rollback_to(BlockNumber(cut)).expect("rollback");
    let (kept, gone) = blocks.split_at(cut as usize + 1);
    assert_all_found(&store, kept);
    assert_none_found(&store, gone);
    // Another branch from the cut: its transactions are found, the old branch's still not.
    let mut g = ChainGen::new(99);
    g.max_txs = 8;
    let branch = g.chain(BlockNumber(cut + 1), 10, kept[kept.len() - 1].hash());
    for b in &branch {
        store.append_sorted(b).expect("append the branch");
    }
    assert_all_found(&store, kept);
    assert_all_found(&store, &branch);
    assert_none_found(&store, gone);
    drop(store);
    let store = Storage::open(dir.path(), opts(SHARD)).expect("reopen");
    assert_all_found(&store, &branch);
    assert_none_found(&store, gone);
}

#[test]
fn a_dropped_shard_forgets_its_transactions() {
    let blocks = chain();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    let dropped = store.drop_shard(2).expect("drop");
    assert_eq!(dropped.blocks, SHARD);
    let (lo, hi) = ((2 * SHARD) as usize, (3 * SHARD) as usize);
    assert_none_found(&store, &blocks[lo..hi]);
    assert_all_found(&store, &blocks[..lo]);
    assert_all_found(&store, &blocks[hi..]);
    // Fetched again: found again.
    store.put_unordered(&blocks[lo..hi]).expect("put again");
    assert_all_found(&store, &blocks);
}

#[test]
fn an_index_of_schema_1_is_migrated_on_open_and_every_transaction_is_still_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocks = stored_mainnet(dir.path());
    let txs: usize = blocks.iter().map(|b| b.body().transactions.len()).sum();
    assert!(txs > 1000, "the sample has {txs} transactions");
    // Rewrite the index as schema 1 wrote it: full hash → (block, index), no `tx_blocks`.
    let path = dir.path().join("index.redb");
    as_older_schema(&path, 1, |txn| {
        let mut old = txn.open_table(TX_HASHES_V1).expect("table");
        for b in &blocks {
            for (i, h) in b.transaction_hashes().enumerate() {
                old.insert(h.0, (b.number().get(), i as u32))
                    .expect("insert");
            }
        }
    });
    let store = Storage::open(dir.path(), opts(10_000)).expect("open migrates");
    assert_all_found(&store, &blocks);
    drop(store);
    // The old tables are gone, the new one holds one entry per block, the schema says 3.
    let db = redb::Database::open(&path).expect("open the index");
    {
        let txn = db.begin_read().expect("read");
        assert!(
            txn.open_table(TX_HASHES_V1).is_err(),
            "schema 1 table deleted"
        );
        assert!(
            txn.open_table(TX_KEYS_V2).is_err(),
            "schema 2 table deleted"
        );
        let with_txs = blocks
            .iter()
            .filter(|b| !b.body().transactions.is_empty())
            .count();
        let tail = txn.open_table(TX_BLOCKS).expect("tx_blocks");
        assert_eq!(tail.len().expect("len"), with_txs as u64);
        let entries: u64 = tail
            .iter()
            .expect("iter")
            .map(|r| r.expect("entry").1.value().len() as u64 / 8)
            .sum();
        assert_eq!(entries, txs as u64);
    }
    assert_eq!(schema(&db), Some(3u64.to_le_bytes().to_vec()));
    drop(db);
    // A second open finds nothing to migrate.
    let store = Storage::open(dir.path(), opts(10_000)).expect("reopen");
    assert_all_found(&store, &blocks);
}

#[test]
fn an_index_of_schema_2_is_migrated_and_sealed_shards_get_their_files() {
    let (dir, store, blocks) = sealed_store();
    drop(store);
    let files = tx_files(dir.path());
    let good: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("read"))
        .collect();
    // Rewrite the store as schema 2 left it: every transaction in `tx_keys`, no `tx_blocks`,
    // no transaction files.
    for f in &files {
        std::fs::remove_file(f).expect("remove");
    }
    let path = dir.path().join("index.redb");
    as_older_schema(&path, 2, |txn| {
        let mut keys = txn.open_table(TX_KEYS_V2).expect("table");
        for b in &blocks {
            for (i, h) in b.transaction_hashes().enumerate() {
                let prefix = u64::from_be_bytes(h.0[..8].try_into().expect("8 bytes"));
                keys.insert((prefix, b.number().get(), i as u32), ())
                    .expect("insert");
            }
        }
    });
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open migrates");
    assert_eq!(store.repair_report().rebuilt_tx_indexes, vec![0, 1, 2, 3]);
    assert_all_found(&store, &blocks);
    store.verify().expect("verify");
    drop(store);
    for (f, want) in files.iter().zip(&good) {
        assert_eq!(&std::fs::read(f).expect("read"), want, "{}", f.display());
    }
    // Only the unsealed shard's blocks moved to the tail table.
    let tail = tail_blocks(dir.path());
    let want: Vec<u64> = blocks
        .iter()
        .filter(|b| b.number().get() >= 4 * SHARD && !b.body().transactions.is_empty())
        .map(|b| b.number().get())
        .collect();
    assert_eq!(tail, want);
    let db = redb::Database::open(&path).expect("open the index");
    assert_eq!(schema(&db), Some(3u64.to_le_bytes().to_vec()));
    assert!(
        db.begin_read()
            .expect("read")
            .open_table(TX_KEYS_V2)
            .is_err()
    );
}

#[test]
fn a_hash_prefix_shared_with_another_transaction_never_gives_a_wrong_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocks = stored_mainnet(dir.path());
    let (first, last) = (&blocks[0], &blocks[blocks.len() - 1]);
    assert!(first.number() < last.number());
    let target = *last.body().transactions[0].tx_hash();
    // A transaction stored nowhere whose hash starts like `target`'s.
    let mut stranger = target;
    stranger.0[31] ^= 0xff;
    // Entries that collide with `target`'s prefix but point at other transactions, placed in a
    // lower block than its own entry, as a real prefix collision would be.
    let path = dir.path().join("index.redb");
    {
        let db = redb::Database::open(&path).expect("open the index");
        let txn = db.begin_write().expect("begin");
        {
            let mut tail = txn.open_table(TX_BLOCKS).expect("table");
            let n = first.number().get();
            let mut v = tail.get(n).expect("get").expect("entry").value().to_vec();
            for i in 0..first.body().transactions.len().min(3) {
                v[i * 8..i * 8 + 8].copy_from_slice(&target.0[..8]);
            }
            tail.insert(n, v.as_slice()).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let store = Storage::open(dir.path(), opts(10_000)).expect("open");
    let t = store.transaction(&target).expect("lookup").expect("found");
    assert_eq!((t.block, t.index), (last.number(), 0));
    assert_eq!(t.transaction.as_ref().map(|t| *t.tx_hash()), Some(target));
    assert_eq!(store.transaction(&stranger).expect("lookup"), None);
    // The first block's first entries were overwritten (that is the collision); the rest of the
    // index still answers.
    assert_all_found(&store, &blocks[1..]);
    for (i, tx) in first.body().transactions.iter().enumerate().skip(3) {
        let t = store
            .transaction(tx.tx_hash())
            .expect("lookup")
            .expect("found");
        assert_eq!((t.block, t.index as usize), (first.number(), i));
    }
}

#[test]
fn a_seal_keeps_the_other_shards_files_open() {
    // Five complete shards: four sealed and probed (their files kept open), then their files
    // removed from the directory (open descriptors still read them). Sealing the fifth must
    // forget only its own shard's files: every other shard is still answered from the file kept
    // open, where the old cache (emptied by every write) reopened them all and failed.
    let mut g = ChainGen::new(22);
    g.max_txs = 8;
    let blocks = g.chain(BlockNumber(0), 5 * SHARD, B256::ZERO);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Storage::open(dir.path(), opts(SHARD)).expect("open");
    store.put_unordered(&blocks).expect("put");
    store.compact_dirty().expect("compact");
    assert_eq!(
        store
            .seal_complete(BlockNumber(4 * SHARD - 1))
            .expect("seal"),
        vec![0, 1, 2, 3]
    );
    assert_all_found(&store, &blocks);
    let kept = tx_files(dir.path());
    assert_eq!(kept.len(), 4);
    for f in &kept {
        std::fs::remove_file(f).expect("remove");
    }
    assert!(store.seal(4).expect("seal"));
    assert_eq!(tx_files(dir.path()).len(), 1);
    assert_all_found(&store, &blocks);
}

/// The value of gauge `name` in a Prometheus text rendering.
pub(super) fn gauge(rendered: &str, name: &str) -> f64 {
    rendered
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {rendered}"))
}

#[test]
fn the_index_bytes_gauge_counts_the_files_present_on_open_and_each_seal() {
    // A recorder of this thread only (the test binary's threads share no recorder).
    let bytes_on_disk = |dir: &Path| -> u64 {
        tx_files(dir)
            .iter()
            .map(|f| std::fs::metadata(f).expect("metadata").len())
            .sum()
    };
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let (dir, store) = metrics::with_local_recorder(&recorder, || {
        let (dir, store, _) = sealed_store();
        (dir, store)
    });
    let on_disk = bytes_on_disk(dir.path());
    assert!(on_disk > 0);
    assert_eq!(
        gauge(&handle.render(), "histd_tx_index_bytes"),
        on_disk as f64
    );
    drop(store);
    // Opened again: the files present are counted, none written.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let store = metrics::with_local_recorder(&recorder, || {
        Storage::open(dir.path(), opts(SHARD)).expect("reopen")
    });
    assert!(store.repair_report().is_clean());
    assert_eq!(
        gauge(&handle.render(), "histd_tx_index_bytes"),
        on_disk as f64
    );
}

#[test]
fn histd_raises_its_soft_descriptor_limit_to_the_hard_one() {
    // The index caches are sized from the soft limit, which most processes start at 1,024:
    // the real binary, started with a low soft limit, runs with its hard limit.
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().expect("tempdir");
    stored_mainnet(dir.path());
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_histd"));
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    // SAFETY: between fork and exec the closure only calls getrlimit and setrlimit, which are
    // async-signal-safe, on a struct of its own stack.
    unsafe {
        cmd.pre_exec(|| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                lim.rlim_cur = lim.rlim_max.min(256);
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("start histd serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    assert!(line.contains("http://"), "{line:?}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).expect("limits");
    // Its exit is `rpc::serve`'s to test; here only its limits count.
    child.kill().expect("kill");
    child.wait().expect("wait");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let fields: Vec<&str> = open_files.split_whitespace().collect();
    // "Max open files <soft> <hard> files"
    assert_eq!(fields[3], fields[4], "{open_files}");
    assert_ne!(fields[3], "256", "{open_files}");
}
