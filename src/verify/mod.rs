//! Where a block is verified: everything a peer sends is checked here before anything is stored.
//!
//! Owns the rules that tie a header to its parent, its body and its receipts. Pure functions: no I/O,
//! no peer bookkeeping (callers penalise the peer that sent data failing these checks). The only
//! producer of [`VerifiedBlock`]. One file per rule family: `header` (links), `body` (roots of
//! the body), `receipts` (receipts root, bloom, types); [`verify_block`] runs them all.

mod body;
mod header;
mod receipts;

pub mod accumulator;

use alloy_consensus::Header;
use alloy_primitives::B256;

use crate::primitives::{BlockNumber, Body, Receipt, VerifiedBlock};

pub use body::check_body;
pub use header::{check_hash, check_link, seal_chain};
pub use receipts::{check_receipts, receipts_root};

/// A check that peer data failed. Every variant names the block and both sides of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header's `parentHash` is not the hash of the header before it.
    #[error("block {number}: parent hash {got} does not link to {expected}")]
    ParentLink {
        number: BlockNumber,
        expected: B256,
        got: B256,
    },
    /// Headers that should be consecutive are not.
    #[error("block {got} where block {expected} was expected")]
    NotConsecutive {
        expected: BlockNumber,
        got: BlockNumber,
    },
    /// A header's hash is not the one asked for or agreed by peers.
    #[error("block {number}: header hash {got} is not the expected {expected}")]
    HeaderHash {
        number: BlockNumber,
        expected: B256,
        got: B256,
    },
    /// `transactionsRoot` mismatch.
    #[error("block {number}: transactionsRoot {computed} from body, header says {expected}")]
    TransactionsRoot {
        number: BlockNumber,
        expected: B256,
        computed: B256,
    },
    /// `ommersHash` mismatch.
    #[error("block {number}: ommersHash {computed} from body, header says {expected}")]
    OmmersHash {
        number: BlockNumber,
        expected: B256,
        computed: B256,
    },
    /// `withdrawalsRoot` mismatch, or withdrawals present/absent against the header.
    #[error("block {number}: withdrawals {computed:?} from body, header says {expected:?}")]
    WithdrawalsRoot {
        number: BlockNumber,
        expected: Option<B256>,
        computed: Option<B256>,
    },
    /// Receipt count differs from transaction count.
    #[error("block {number}: {receipts} receipts for {transactions} transactions")]
    ReceiptCount {
        number: BlockNumber,
        transactions: usize,
        receipts: usize,
    },
    /// `receiptsRoot` mismatch.
    #[error("block {number}: receiptsRoot {computed} from receipts, header says {expected}")]
    ReceiptsRoot {
        number: BlockNumber,
        expected: B256,
        computed: B256,
    },
    /// Header `logsBloom` is not the union of the receipts' blooms.
    #[error("block {number}: header logsBloom differs from the receipts' logs")]
    LogsBloom { number: BlockNumber },
    /// A receipt's type is not its transaction's type.
    #[error("block {number}: receipt {index} has type {receipt} for a type {transaction} tx")]
    ReceiptType {
        number: BlockNumber,
        index: usize,
        transaction: u8,
        receipt: u8,
    },
}

/// A header with its hash computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHeader {
    /// The header.
    pub header: Header,
    /// `keccak256(rlp(header))`.
    pub hash: B256,
}

impl SealedHeader {
    /// Hashes the header.
    pub fn seal(header: Header) -> Self {
        let hash = header.hash_slow();
        Self { header, hash }
    }

    /// Block height.
    pub fn number(&self) -> BlockNumber {
        BlockNumber(self.header.number)
    }
}

/// Verifies one block whole and returns it in the only form storage accepts.
pub fn verify_block(
    header: SealedHeader,
    body: Body,
    receipts: Vec<Receipt>,
) -> Result<VerifiedBlock, VerifyError> {
    check_body(&header, &body)?;
    check_receipts(&header, &body, &receipts)?;
    Ok(VerifiedBlock::new_unchecked(
        header.header,
        header.hash,
        body,
        receipts,
    ))
}
