//! The CPU stage: verify fetched blocks against their anchored headers and encode them into their
//! stored form, on a blocking thread (never on the async runtime).
//!
//! Owns [`process`] (one fetched batch → prepared blocks and the blocks that failed, with why)
//! and [`failure_kind`] (the label a verification failure is counted under). The caller runs
//! batches on `spawn_blocking`, as many at once as there are cores, so decoding, hashing tries
//! and compression use every core while the fetchers keep going. It never penalises, fetches or
//! writes: the caller does, with what this returns.

use crate::primitives::{Body, Receipt, VerifiedBlock};
use crate::storage::{PreparedBlock, Storage};
use crate::verify::{VerifyError, verify_block};

use super::fetch::PendingBlock;

/// What one batch became.
#[derive(Debug, Default)]
pub struct Processed {
    /// Verified and encoded, ready for `put_prepared`.
    pub prepared: Vec<PreparedBlock>,
    /// Blocks whose data failed verification, with the failure.
    pub failed: Vec<(PendingBlock, VerifyError)>,
}

/// Verifies each `(block, body, receipts)` and prepares the good ones with `storage`'s encoding.
///
/// One block at a time: a block is encoded right after it is verified and its decoded form freed
/// right after it is encoded, so a batch (one peer's ~2 MiB answer, several MiB decoded) is not
/// held whole in both forms until its last block is encoded (peak RSS a few MiB lower in
/// `histd-bench`; the CPU of `verify` and `compress` did not move beyond the runs' noise).
pub fn process(storage: &Storage, blocks: Vec<(PendingBlock, Body, Vec<Receipt>)>) -> Processed {
    let mut out = Processed {
        prepared: Vec::with_capacity(blocks.len()),
        failed: Vec::new(),
    };
    for (pending, body, receipts) in blocks {
        if let Some(block) = verify_one(pending, body, receipts, &mut out.failed) {
            out.prepared.push(storage.prepare(&block));
        }
    }
    out
}

/// A batch's blocks that passed, and those that failed with why.
pub type Verified = (Vec<VerifiedBlock>, Vec<(PendingBlock, VerifyError)>);

/// Verifies each `(block, body, receipts)`, keeping the verified blocks whole (follow hands them
/// to its in-order writer and to the RPC feed).
pub fn verify_each(blocks: Vec<(PendingBlock, Body, Vec<Receipt>)>) -> Verified {
    let _cpu = crate::stage_cpu::Stage::Verify.timer();
    let mut ok = Vec::with_capacity(blocks.len());
    let mut failed = Vec::new();
    for (pending, body, receipts) in blocks {
        if let Some(block) = verify_one(pending, body, receipts, &mut failed) {
            ok.push(block);
        }
    }
    (ok, failed)
}

/// Verifies one block (timed as `verify`). A block that fails goes on `failed` with why, its
/// pending entry kept for requeueing.
fn verify_one(
    pending: PendingBlock,
    body: Body,
    receipts: Vec<Receipt>,
    failed: &mut Vec<(PendingBlock, VerifyError)>,
) -> Option<VerifiedBlock> {
    let _cpu = crate::stage_cpu::Stage::Verify.timer();
    match verify_block(pending.header.clone(), body, receipts) {
        Ok(block) => Some(block),
        Err(e) => {
            failed.push((pending, e));
            None
        }
    }
}

/// The label a failure is counted under (run report, logs).
pub fn failure_kind(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::ParentLink { .. } => "parent_link",
        VerifyError::NotConsecutive { .. } => "not_consecutive",
        VerifyError::HeaderHash { .. } => "header_hash",
        VerifyError::TransactionsRoot { .. } => "transactions_root",
        VerifyError::OmmersHash { .. } => "ommers_hash",
        VerifyError::WithdrawalsRoot { .. } => "withdrawals_root",
        VerifyError::ReceiptCount { .. } => "receipt_count",
        VerifyError::ReceiptsRoot { .. } => "receipts_root",
        VerifyError::LogsBloom { .. } => "logs_bloom",
        VerifyError::ReceiptType { .. } => "receipt_type",
    }
}
