//! Property test: random sequences of unordered puts, compactions, follow appends, rollbacks (onto
//! forks), seals and reopens give the same reads as a plain in-memory model, after every step.

use alloy_primitives::B256;
use histd::cli::db::VerifyStore;
use histd::primitives::BlockNumber;
use histd::storage::{OpenOptions, Retention, Storage, WriteError};
use histd::testkit::storage::{Canon, Model, check_store};
use proptest::prelude::*;

const SHARD: u64 = 8;
const MAX: u64 = 48;

#[derive(Debug, Clone)]
enum Step {
    Put(Vec<u64>),
    Compact(u64),
    CompactDirty,
    Append(u64),
    Rollback(u64),
    Seal(u64),
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::collection::vec(0..MAX, 1..12).prop_map(Step::Put),
        2 => (0..MAX / SHARD).prop_map(Step::Compact),
        1 => Just(Step::CompactDirty),
        3 => (1..6u64).prop_map(Step::Append),
        2 => (0..12u64).prop_map(Step::Rollback),
        1 => (0..MAX).prop_map(Step::Seal),
        1 => Just(Step::Reopen),
    ]
}

fn opts() -> OpenOptions {
    OpenOptions {
        chain_id: 1,
        genesis_hash: B256::repeat_byte(1),
        shard_size: SHARD,
        retention: Retention::default(),
    }
}

fn run(seed: u64, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Some(Storage::open(dir.path(), opts()).unwrap());
    let mut canon = Canon::new(seed, MAX);
    let mut model = Model::default();
    let mut sealed: Vec<u64> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let st = store.as_ref().unwrap();
        match s {
            Step::Put(ns) => {
                let blocks: Vec<_> = ns
                    .iter()
                    .map(|&n| canon.blocks[n as usize].clone())
                    .collect();
                st.put_unordered(&blocks).unwrap();
                for b in blocks {
                    model.blocks.entry(b.number().get()).or_insert(b);
                }
            }
            Step::Compact(shard) => {
                st.compact(*shard).unwrap();
            }
            Step::CompactDirty => {
                st.compact_dirty().unwrap();
            }
            Step::Append(k) => {
                for _ in 0..*k {
                    let next = model.last_contiguous().map_or(0, |c| c + 1);
                    if next >= MAX {
                        break;
                    }
                    let b = canon.blocks[next as usize].clone();
                    st.append_sorted(&b).unwrap();
                    model.blocks.insert(next, b);
                }
            }
            Step::Rollback(depth) => {
                let Some(c) = model.last_contiguous() else {
                    continue;
                };
                let n = c.saturating_sub(*depth);
                let hits_sealed = sealed.iter().any(|&s| (s + 1) * SHARD - 1 > n);
                match st.rollback_to(BlockNumber(n)) {
                    Err(WriteError::Sealed { .. }) => {
                        prop_assert!(hits_sealed, "step {i}: unexpected Sealed")
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("step {i}: {e}"))),
                    Ok(_) => {
                        prop_assert!(
                            !hits_sealed,
                            "step {i}: rollback into a sealed shard succeeded"
                        );
                        model.rollback(n);
                        canon.fork_after(n);
                    }
                }
            }
            Step::Seal(up_to) => {
                let got = st.seal_complete(BlockNumber(*up_to)).unwrap();
                for s in 0..MAX / SHARD {
                    let complete =
                        (s * SHARD..(s + 1) * SHARD).all(|n| model.blocks.contains_key(&n));
                    if complete && (s + 1) * SHARD - 1 <= *up_to && !sealed.contains(&s) {
                        sealed.push(s);
                        prop_assert!(got.contains(&s), "step {i}: shard {s} not sealed: {got:?}");
                    }
                }
            }
            Step::Reopen => {
                drop(store.take());
                let st = Storage::open(dir.path(), opts()).unwrap();
                prop_assert!(
                    st.repair_report().is_clean(),
                    "clean shutdown needs no repair: {:?}",
                    st.repair_report()
                );
                store = Some(st);
            }
        }
        let st = store.as_ref().unwrap();
        if let Err(e) = check_store(st, &model, MAX + 2) {
            return Err(TestCaseError::fail(format!("after step {i} {s:?}: {e}")));
        }
    }
    store
        .as_ref()
        .unwrap()
        .verify()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn store_reads_like_the_model(seed in any::<u64>(), steps in prop::collection::vec(step(), 1..32)) {
        run(seed, steps)?;
    }
}
