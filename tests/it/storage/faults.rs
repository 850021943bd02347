//! Fault injection: every shard-file operation after the k-th fails (a disk going bad mid-write), at
//! a random k during every operation of a workload. A failed operation returns an I/O error naming
//! the file and commits nothing; the store stays usable in-process, matches the model of before or
//! after the operation, and reopens clean and verified.

use alloy_primitives::B256;
use histd::cli::db::VerifyStore;
use histd::storage::fault::{self, IoOp};
use histd::storage::{OpenOptions, Retention, ShardState, Storage, WriteError};
use histd::testkit::storage::{Canon, Model, Op, Rng, check_store, crash_workload};

const SHARD: u64 = 20;
const FAST: u64 = 120;
const TOTAL: u64 = 220;

fn opts() -> OpenOptions {
    OpenOptions {
        chain_id: 1,
        genesis_hash: B256::ZERO,
        shard_size: SHARD,
        retention: Retention::default(),
    }
}

/// Faults are in-process: tmpfs (free fsyncs) exercises the same paths, faster.
fn fast_tempdir() -> tempfile::TempDir {
    if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

#[test]
fn io_faults_commit_nothing_and_lose_nothing() {
    let dir = fast_tempdir();
    let data = dir.path().join("data");
    let mut store = Storage::open(&data, opts()).unwrap();
    let ops = crash_workload(99, SHARD, FAST, TOTAL);
    let mut model = Model::default();
    let mut rng = Rng::new(5);
    let (mut failed, mut partial) = (0u32, 0u32);
    for (i, op) in ops.iter().enumerate() {
        // Inject into about half the operations, at a random point.
        let inject = rng.below(2) == 0;
        if inject {
            fault::fail_after(&data, rng.below(12));
        }
        let result = op.run(&store);
        if inject {
            fault::clear(&data);
        }
        let mut after = model.clone();
        op.apply(&mut after);
        match result {
            Ok(()) => model = after,
            Err(e) => {
                failed += 1;
                assert!(
                    matches!(e, WriteError::Io(_)),
                    "op {i} {op:?}: an injected fault must surface as an I/O error, got {e}"
                );
                assert!(e.to_string().contains("injected"), "{e}");
                // Nothing half-done is visible: the store reads as before or (when the fault hit
                // after the commit point, e.g. in a rollback's cleanup) as after.
                let before_ok = check_store(&store, &model, TOTAL + 4);
                if before_ok.is_err() {
                    check_store(&store, &after, TOTAL + 4).unwrap_or_else(|e| {
                        panic!("op {i}: after a fault the store matches neither model: {e}")
                    });
                    partial += 1;
                } else {
                    // The store stays usable: the same operation, retried, succeeds.
                    op.run(&store)
                        .unwrap_or_else(|e| panic!("op {i} retried after a fault: {e}"));
                }
                model = after;
            }
        }
        check_store(&store, &model, TOTAL + 4)
            .unwrap_or_else(|e| panic!("op {i} {op:?} (fault: {inject}): {e}"));
        if i % 25 == 0 {
            drop(store);
            store = Storage::open(&data, opts()).unwrap();
            check_store(&store, &model, TOTAL + 4).unwrap_or_else(|e| panic!("reopen at {i}: {e}"));
        }
    }
    // Everything the workload wanted is reachable after all the faults: finish it cleanly.
    store.compact_dirty().unwrap();
    drop(store);
    let store = Storage::open(&data, opts()).unwrap();
    check_store(&store, &model, TOTAL + 4).unwrap();
    store.verify().unwrap();
    println!("{failed} operations failed by injected faults ({partial} after their commit point)");
    assert!(failed > 20, "too few faults landed: {failed}");
}

/// A compaction fails, and so does the commit that returns its shard to Filling: redb is left
/// saying Compacting. Whatever comes next (each case on a fresh store) must work on that shard,
/// not fail with `IllegalTransition` or skip it, and a reopen must be consistent.
#[test]
fn a_failed_compaction_whose_undo_fails_strands_nothing() {
    let last = SHARD - 1;
    let mut canon = Canon::new(11, SHARD + 1);
    let nexts: Vec<(&str, Option<Op>)> = vec![
        ("reopen", None),
        ("compact", Some(Op::Compact(0))),
        ("compact_dirty", Some(Op::CompactDirty)),
        ("seal", Some(Op::Seal(last))),
        ("put", Some(Op::Put(vec![canon.get(last)]))),
        ("append", Some(Op::Append(Box::new(canon.get(last))))),
        ("rollback", Some(Op::Rollback(5))),
    ];
    for (name, next) in nexts {
        let dir = fast_tempdir();
        let data = dir.path().join("data");
        let mut store = Storage::open(&data, opts()).unwrap();
        let mut model = Model::default();
        // Shard 0 Filling, out of order; complete except its last block unless sealing.
        let upto = if matches!(next, Some(Op::Seal(_))) {
            SHARD
        } else {
            last
        };
        let put = Op::Put((0..upto).rev().map(|n| canon.get(n)).collect());
        put.run(&store).unwrap();
        put.apply(&mut model);

        // The first file operation of the compaction fails; of its commits, the one marking the
        // shard Compacting succeeds and the one undoing it fails.
        fault::fail_after(&data, 0);
        fault::fail_commit_after(&data, 1);
        let err = store.compact(0).unwrap_err();
        fault::clear(&data);
        assert!(
            matches!(err, WriteError::Io(_)) && err.to_string().contains("injected"),
            "{name}: the compaction's own failure is reported, got {err}"
        );
        assert_eq!(store.shard_state(0).unwrap(), ShardState::Compacting);
        check_store(&store, &model, SHARD + 1).unwrap_or_else(|e| panic!("{name}: {e}"));

        match next {
            None => {
                drop(store);
                store = Storage::open(&data, opts()).unwrap();
                assert_eq!(store.repair_report().interrupted_compactions, vec![0]);
            }
            Some(op) => {
                op.run(&store)
                    .unwrap_or_else(|e| panic!("{name} on a shard left Compacting: {e}"));
                op.apply(&mut model);
            }
        }
        let state = store.shard_state(0).unwrap();
        assert_ne!(state, ShardState::Compacting, "{name}: still Compacting");
        if matches!(name, "compact" | "compact_dirty") {
            assert_eq!(state, ShardState::Sorted, "{name}");
        }
        if name == "seal" {
            assert_eq!(state, ShardState::Sealed, "{name}");
        }
        check_store(&store, &model, SHARD + 1).unwrap_or_else(|e| panic!("{name}: {e}"));

        // The shard finishes normally, and a reopen agrees.
        let rest = Op::Put(
            (0..SHARD)
                .filter(|n| !model.blocks.contains_key(n))
                .map(|n| canon.get(n))
                .collect(),
        );
        rest.run(&store).unwrap();
        rest.apply(&mut model);
        Op::Seal(last).run(&store).unwrap();
        assert_eq!(store.shard_state(0).unwrap(), ShardState::Sealed, "{name}");
        drop(store);
        let store = Storage::open(&data, opts()).unwrap();
        assert!(store.repair_report().is_clean(), "{name}");
        check_store(&store, &model, SHARD + 1).unwrap_or_else(|e| panic!("{name}: {e}"));
        store.verify().unwrap();
    }
}

/// One-off ENOSPC (a disk full for a moment): on a write (which first comes back short, then
/// fails) or on an fsync, at a random point of every operation of a workload. The store either
/// finishes the operation (the fault hit best-effort cleanup) or refuses it with an I/O error and
/// commits nothing; a retry, with space back, succeeds; reopens are consistent and verified.
#[test]
fn one_off_enospc_on_a_write_or_an_fsync_finishes_or_refuses_cleanly() {
    for (kind, seed) in [(IoOp::Write, 31u64), (IoOp::Fsync, 32)] {
        let dir = fast_tempdir();
        let data = dir.path().join("data");
        let mut store = Storage::open(&data, opts()).unwrap();
        let ops = crash_workload(seed, SHARD, FAST, TOTAL);
        let mut model = Model::default();
        let mut rng = Rng::new(seed);
        let (mut refused, mut finished) = (0u32, 0u32);
        for (i, op) in ops.iter().enumerate() {
            fault::fail_once(&data, kind, rng.below(6));
            let result = op.run(&store);
            let fired = !fault::once_pending(&data);
            fault::clear(&data);
            let mut after = model.clone();
            op.apply(&mut after);
            match result {
                Ok(()) => finished += u32::from(fired),
                Err(e) => {
                    refused += 1;
                    assert!(
                        matches!(e, WriteError::DiskFull { .. })
                            && e.to_string().contains("ENOSPC"),
                        "{kind:?} op {i} {op:?}: ENOSPC must surface as WriteError::DiskFull, got {e}"
                    );
                    if check_store(&store, &model, TOTAL + 4).is_err() {
                        check_store(&store, &after, TOTAL + 4).unwrap_or_else(|e| {
                            panic!(
                                "{kind:?} op {i}: after ENOSPC the store matches neither model: {e}"
                            )
                        });
                    } else {
                        op.run(&store).unwrap_or_else(|e| {
                            panic!("{kind:?} op {i} retried once space is back: {e}")
                        });
                    }
                }
            }
            model = after;
            check_store(&store, &model, TOTAL + 4)
                .unwrap_or_else(|e| panic!("{kind:?} op {i} {op:?}: {e}"));
            if i % 20 == 0 {
                drop(store);
                store = Storage::open(&data, opts()).unwrap();
                check_store(&store, &model, TOTAL + 4)
                    .unwrap_or_else(|e| panic!("{kind:?} reopen at {i}: {e}"));
            }
        }
        store.compact_dirty().unwrap();
        drop(store);
        let store = Storage::open(&data, opts()).unwrap();
        check_store(&store, &model, TOTAL + 4).unwrap();
        store.verify().unwrap();
        println!(
            "{kind:?}: {refused} operations refused by a one-off ENOSPC, {finished} finished despite one"
        );
        assert!(refused > 10, "{kind:?}: too few faults landed: {refused}");
    }
}

/// A put into a new shard creates its directory, and the fsync that makes that entry durable fails
/// (once). The retried put finds the directory in place and must still sync its entry before the
/// commit that names the shard, or a power cut could lose a committed shard's directory.
#[test]
fn a_retried_put_syncs_the_shard_directory_a_failed_put_created() {
    let dir = fast_tempdir();
    let data = dir.path().join("data");
    let shards = data.join("shards");
    let store = Storage::open(&data, opts()).unwrap();
    let mut canon = Canon::new(12, 3);
    let blocks = vec![canon.get(1), canon.get(2)];
    let before = fault::synced_dirs_under(&shards).len();
    // The put's first fsync is the one for the new shard directory's entry.
    fault::fail_once(&data, IoOp::Fsync, 0);
    let err = store.put_unordered(&blocks).unwrap_err();
    assert!(err.to_string().contains("ENOSPC"), "{err}");
    assert!(!fault::once_pending(&data));
    assert_eq!(fault::synced_dirs_under(&shards).len(), before);
    // No fault::clear: the ledger keeps what the failed put left unsynced, and the commit of the
    // retry checks it.
    store.put_unordered(&blocks).unwrap();
    assert!(
        fault::synced_dirs_under(&shards)[before..].contains(&shards),
        "the retry never synced the new shard directory's entry"
    );
    let mut model = Model::default();
    Op::Put(blocks).apply(&mut model);
    drop(store);
    let store = Storage::open(&data, opts()).unwrap();
    check_store(&store, &model, 4).unwrap();
}
