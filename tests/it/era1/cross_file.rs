//! Several era1 files in one run (the shared synthetic chain's two epochs, see
//! [`super::shared_epochs`]): each file's first block must be the child of the last block of the
//! file before it, and the total difficulty runs on across them; a fork's file there is refused at
//! its first block. A bad second file stops the run naming it and its first bad block; the first
//! file stays stored, nothing of the second is.

use std::path::Path;

use histd::era1::{self, BlockError, Era1Error, RunReport};
use histd::primitives::BlockNumber;
use histd::storage::Storage;
use histd::verify::accumulator::{EPOCH_SIZE, HistoricalHashesAccumulator};

use super::{chain_epochs, shared_epochs, testnet_store};

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
    let shared = shared_epochs();
    let (chain, acc, files) = (&shared.chain, &shared.acc, &shared.files);
    assert_eq!(files.len(), 2);

    // Both in one run: every block stored, block 8192 the child of block 8191.
    let store = testnet_store(&dir.path().join("both"), chain, 1000);
    let r = import(&store, acc, &[&files[0], &files[1]]).expect("import");
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
    let again = import(&store, acc, &[&files[0], &files[1]]).expect("rerun");
    assert_eq!((again.read, again.stored), (0, 0));

    // A fork from block 8000: its epoch 1 is self-consistent, and the accumulator below vouches
    // for its root, so only the link to the block before it can refuse it.
    let fork = chain.fork(8000, 99, 2 * EPOCH_SIZE);
    let (fork_acc, fork_files) = chain_epochs(&fork, 2, &dir.path().join("fork"));
    let mixed = HistoricalHashesAccumulator::from_roots(vec![
        acc.epoch_root(0).expect("epoch 0"),
        fork_acc.epoch_root(1).expect("epoch 1"),
    ]);

    // After the honest epoch 0 of the same run.
    let store = testnet_store(&dir.path().join("after"), chain, 1000);
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
}

#[test]
fn a_truncated_second_file_stops_the_run_at_its_first_bad_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared_epochs();
    let bytes = std::fs::read(&shared.files[1]).expect("read");
    let files = vec![
        shared.files[0].clone(),
        dir.path()
            .join(shared.files[1].file_name().expect("a file name")),
    ];
    std::fs::write(&files[1], &bytes[..bytes.len() / 2]).expect("truncate");

    let store = testnet_store(&dir.path().join("data"), &shared.chain, 1000);
    let mut seen = Vec::new();
    let err = era1::import_files(
        &store,
        &shared.acc,
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
