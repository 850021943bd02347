//! Several era1 files in one run (the synthetic chain's two epochs, see [`super::chain_epochs`]):
//! each file's first block must be the child of the block before it, whether this run or an
//! earlier one stored that block, and a stored block after a file must be its last block's child.
//! A bad second file stops the run naming it and its first bad block; the first file stays
//! stored, nothing of the second is.

use std::path::Path;

use histd::era1::{self, BlockError, Era1Error, RunReport};
use histd::primitives::BlockNumber;
use histd::storage::Storage;
use histd::testkit::testnet::{ChainKind, TestnetChain};
use histd::verify::accumulator::{EPOCH_SIZE, HistoricalHashesAccumulator};

use super::{chain_epochs, testnet_store};

fn import(
    store: &Storage,
    acc: &HistoricalHashesAccumulator,
    files: &[&Path],
) -> Result<RunReport, Era1Error> {
    let files: Vec<_> = files.iter().map(|p| p.to_path_buf()).collect();
    era1::import_files(store, acc, &files, |_, _| {}, || false)
}

fn stored(store: &Storage, n: u64) -> bool {
    store.has_block(BlockNumber(n)).expect("read")
}

#[test]
fn two_files_link_across_their_boundary_and_a_fork_s_file_is_refused_at_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = TestnetChain::build(ChainKind::Synthetic, 7, 2 * EPOCH_SIZE);
    let (acc, files) = chain_epochs(&chain, 2, &dir.path().join("era1"));
    assert_eq!(files.len(), 2);

    // Both in one run: every block stored, block 8192 the child of block 8191.
    let store = testnet_store(&dir.path().join("both"), &chain, 1000);
    let r = import(&store, &acc, &[&files[0], &files[1]]).expect("import");
    assert_eq!((r.files, r.read, r.blocks, r.stored), (2, 2, 16384, 16384));
    assert_eq!(
        store.last_contiguous().expect("read"),
        Some(BlockNumber(16383))
    );
    for n in [0, 8191, 8192, 16383] {
        assert_eq!(
            store.block_hash(BlockNumber(n)).expect("read"),
            chain.hash(n),
            "block {n}"
        );
    }
    let first_of_two = store
        .header(BlockNumber(8192))
        .expect("read")
        .expect("stored");
    assert_eq!(Some(first_of_two.parent_hash), chain.hash(8191));
    // A rerun skips both unread.
    let again = import(&store, &acc, &[&files[0], &files[1]]).expect("rerun");
    assert_eq!((again.read, again.stored), (0, 0));

    // A fork from block 4000: its epoch 1 is self-consistent, and the accumulator below vouches
    // for its root, so only the link to the block before it can refuse it.
    let fork = chain.fork(4000, 99, 2 * EPOCH_SIZE);
    let (fork_acc, fork_files) = chain_epochs(&fork, 2, &dir.path().join("fork"));
    let mixed = HistoricalHashesAccumulator::from_roots(vec![
        acc.epoch_root(0).expect("epoch 0"),
        fork_acc.epoch_root(1).expect("epoch 1"),
    ]);

    // After the honest epoch 0 of the same run.
    let store = testnet_store(&dir.path().join("after"), &chain, 1000);
    let err = import(&store, &mixed, &[&files[0], &fork_files[1]]).expect_err("refused");
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            Era1Error::Block {
                path,
                number: 8192,
                source: BlockError::StoredNeighbour { stored: 8191, .. },
            } if path == &fork_files[1]
        ),
        "{text}"
    );
    assert!(
        text.contains("block 8192") && text.contains("nothing of this file"),
        "{text}"
    );
    assert!(stored(&store, 8191) && !stored(&store, 8192) && !stored(&store, 16383));
    drop(store);

    // Before the honest epoch 0 (the fork's epoch 1 stored first): epoch 0's last block is not
    // the parent of the stored block 8192, so nothing of epoch 0 is stored.
    let store = testnet_store(&dir.path().join("before"), &chain, 1000);
    import(&store, &mixed, &[&fork_files[1]]).expect("the fork's epoch alone is proven");
    let err = import(&store, &mixed, &[&files[0]]).expect_err("refused");
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            Era1Error::Block {
                number: 8191,
                source: BlockError::StoredNeighbour { stored: 8192, .. },
                ..
            }
        ),
        "{text}"
    );
    assert!(!stored(&store, 0) && !stored(&store, 8191), "{text}");
}

#[test]
fn a_truncated_second_file_stops_the_run_at_its_first_bad_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = TestnetChain::build(ChainKind::Synthetic, 8, 2 * EPOCH_SIZE);
    let (acc, files) = chain_epochs(&chain, 2, &dir.path().join("era1"));
    let bytes = std::fs::read(&files[1]).expect("read");
    std::fs::write(&files[1], &bytes[..bytes.len() / 2]).expect("truncate");

    let store = testnet_store(&dir.path().join("data"), &chain, 1000);
    let mut seen = Vec::new();
    let err = era1::import_files(
        &store,
        &acc,
        &files,
        |i, r| seen.push((i, r.stored)),
        || false,
    )
    .expect_err("refused");
    let text = err.to_string();
    let name = files[1].file_name().and_then(|n| n.to_str()).expect("name");
    assert!(text.contains(name) && text.contains("truncated"), "{text}");
    let Era1Error::Block { number, .. } = err else {
        panic!("not a block error: {text}");
    };
    assert!((8192..16384).contains(&number), "{text}");
    // The first file was reported and stays stored; nothing of the second is.
    assert_eq!(seen, vec![(0, 8192)]);
    assert!(stored(&store, 8191));
    assert!((8192..16384).all(|n| !stored(&store, n)), "{text}");
}
