//! The merge block as mainnet's built-in checkpoint: its hash is the real block's (checked
//! against the testdata header, not against a copy of the constant), it is the last block the
//! accumulator proves, and the mainnet spec hands it to fast-sync.

use histd::era1;
use histd::p2p::chain::{ChainSpec, MAINNET_MERGE_CHECKPOINT};
use histd::primitives::BlockNumber;
use histd::testkit::mainnet::load_blocks;
use histd::verify::accumulator::EPOCH_SIZE;

#[test]
fn the_merge_block_is_a_built_in_mainnet_checkpoint() {
    let terminal = load_blocks()
        .into_iter()
        .find(|b| b.header.number == 15_537_393)
        .expect("testdata has the last proof-of-work block");
    assert_eq!(
        MAINNET_MERGE_CHECKPOINT.hash,
        terminal.header.hash_slow(),
        "the checkpoint is the real block's hash"
    );
    assert_eq!(MAINNET_MERGE_CHECKPOINT.number, BlockNumber(15_537_393));
    // The first proof-of-stake block has difficulty 0; this one still has some.
    assert!(terminal.header.difficulty > alloy_primitives::U256::ZERO);
    // The accumulator's last epoch ends at it.
    assert_eq!(
        era1::MAINNET_LAST_POW_BLOCK,
        MAINNET_MERGE_CHECKPOINT.number.get()
    );
    let acc = era1::mainnet_accumulator().unwrap();
    assert_eq!(
        acc.epochs() - 1,
        MAINNET_MERGE_CHECKPOINT.number.get() / EPOCH_SIZE
    );
    // Mainnet vouches for it; other chains do not.
    assert_eq!(
        ChainSpec::mainnet().checkpoints(),
        &[MAINNET_MERGE_CHECKPOINT]
    );
    assert!(ChainSpec::sepolia().checkpoints().is_empty());
}
