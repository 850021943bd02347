//! Reads run concurrently with writes (the RPC reads while follow appends, compacts and rolls
//! back): every read sees either nothing or a whole, correct version of the block, never an error.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use alloy_primitives::B256;
use histd::cli::db::VerifyStore;
use histd::primitives::BlockNumber;
use histd::storage::{OpenOptions, Retention, Storage};
use histd::testkit::storage::{Op, Rng, crash_workload};

#[test]
fn readers_see_whole_blocks_while_writers_compact_and_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Storage::open(
            dir.path(),
            OpenOptions {
                chain_id: 1,
                genesis_hash: B256::ZERO,
                shard_size: 20,
                retention: Retention::default(),
            },
        )
        .unwrap(),
    );
    let ops = crash_workload(77, 20, 120, 260);
    // Every version of every block the workload ever writes.
    let mut versions: HashMap<u64, Vec<B256>> = HashMap::new();
    for op in &ops {
        let blocks: Vec<_> = match op {
            Op::Put(bs) => bs.iter().collect(),
            Op::Append(b) => vec![&**b],
            _ => vec![],
        };
        for b in blocks {
            versions.entry(b.number().get()).or_default().push(b.hash());
        }
    }
    let versions = Arc::new(versions);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (store, versions, done) = (store.clone(), versions.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(r);
                let mut seen = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let n = rng.below(270);
                    match store.block(BlockNumber(n)) {
                        Ok(None) => {}
                        Ok(Some(b)) => {
                            assert!(
                                versions.get(&n).is_some_and(|v| v.contains(&b.hash())),
                                "block {n}: unknown version {}",
                                b.hash()
                            );
                            seen += 1;
                        }
                        Err(e) => panic!("read of block {n} failed during writes: {e}"),
                    }
                }
                seen
            })
        })
        .collect();
    for op in &ops {
        op.run(&store).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let seen: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(seen > 0, "readers read nothing");
    store.verify().unwrap();
}
