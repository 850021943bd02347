//! Fault injection: every shard-file operation after the k-th fails (a disk going bad mid-write), at
//! a random k during every operation of a workload. A failed operation returns an I/O error naming
//! the file and commits nothing; the store stays usable in-process, matches the model of before or
//! after the operation, and reopens clean and verified.

use alloy_primitives::B256;
use histd::cli::db::VerifyStore;
use histd::storage::{OpenOptions, Retention, Storage, WriteError, fault};
use histd::testkit::storage::{Model, Rng, check_store, crash_workload};

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

#[test]
fn io_faults_commit_nothing_and_lose_nothing() {
    // Faults are in-process: tmpfs (free fsyncs) exercises the same paths, faster.
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
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
