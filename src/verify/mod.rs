//! Where a block is verified: everything a peer sends is checked here before anything is stored.
//!
//! Owns the rules that tie a header to its parent, its body and its receipts. Pure functions: no I/O,
//! no peer bookkeeping (callers penalise the peer that sent data failing these checks). The only
//! producer of [`VerifiedBlock`].

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header, proofs};
use alloy_primitives::{B256, Bloom};
use alloy_trie::root::ordered_trie_root_with_encoder;

use crate::primitives::{BlockNumber, Body, Receipt, VerifiedBlock};

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

/// Checks that `child` directly follows `parent` (number and hash link).
pub fn check_link(parent: &SealedHeader, child: &SealedHeader) -> Result<(), VerifyError> {
    let expected = parent.number().next();
    if child.number() != expected {
        return Err(VerifyError::NotConsecutive {
            expected,
            got: child.number(),
        });
    }
    if child.header.parent_hash != parent.hash {
        return Err(VerifyError::ParentLink {
            number: child.number(),
            expected: parent.hash,
            got: child.header.parent_hash,
        });
    }
    Ok(())
}

/// Seals headers and checks they form one ascending, hash-linked chain.
pub fn seal_chain(headers: Vec<Header>) -> Result<Vec<SealedHeader>, VerifyError> {
    let sealed: Vec<SealedHeader> = headers.into_iter().map(SealedHeader::seal).collect();
    for pair in sealed.windows(2) {
        check_link(&pair[0], &pair[1])?;
    }
    Ok(sealed)
}

/// Checks a body against its header's `transactionsRoot`, `ommersHash` and `withdrawalsRoot`.
pub fn check_body(header: &SealedHeader, body: &Body) -> Result<(), VerifyError> {
    let number = header.number();
    let h = &header.header;
    let tx_root = proofs::calculate_transaction_root(&body.transactions);
    if tx_root != h.transactions_root {
        return Err(VerifyError::TransactionsRoot {
            number,
            expected: h.transactions_root,
            computed: tx_root,
        });
    }
    let ommers = if body.ommers.is_empty() {
        EMPTY_OMMER_ROOT_HASH
    } else {
        proofs::calculate_ommers_root(&body.ommers)
    };
    if ommers != h.ommers_hash {
        return Err(VerifyError::OmmersHash {
            number,
            expected: h.ommers_hash,
            computed: ommers,
        });
    }
    let withdrawals = body
        .withdrawals
        .as_ref()
        .map(|w| proofs::calculate_withdrawals_root(w));
    if withdrawals != h.withdrawals_root {
        return Err(VerifyError::WithdrawalsRoot {
            number,
            expected: h.withdrawals_root,
            computed: withdrawals,
        });
    }
    Ok(())
}

/// Root of the receipts trie over their consensus encodings.
pub fn receipts_root(receipts: &[Receipt]) -> B256 {
    ordered_trie_root_with_encoder(receipts, |r, buf| r.encode_consensus(buf))
}

/// Checks receipts against the header (`receiptsRoot`, `logsBloom`) and the body (count, types).
pub fn check_receipts(
    header: &SealedHeader,
    body: &Body,
    receipts: &[Receipt],
) -> Result<(), VerifyError> {
    let number = header.number();
    if receipts.len() != body.transactions.len() {
        return Err(VerifyError::ReceiptCount {
            number,
            transactions: body.transactions.len(),
            receipts: receipts.len(),
        });
    }
    for (index, (tx, r)) in body.transactions.iter().zip(receipts).enumerate() {
        let ty = tx.tx_type();
        if ty != r.tx_type {
            return Err(VerifyError::ReceiptType {
                number,
                index,
                transaction: ty as u8,
                receipt: r.tx_type as u8,
            });
        }
    }
    let computed = receipts_root(receipts);
    if computed != header.header.receipts_root {
        return Err(VerifyError::ReceiptsRoot {
            number,
            expected: header.header.receipts_root,
            computed,
        });
    }
    // receiptsRoot commits to each receipt's bloom, which we rebuilt from the logs; the header's
    // bloom must be their union or log filtering by header bloom would skip real logs.
    let mut bloom = Bloom::ZERO;
    for r in receipts {
        bloom |= r.bloom();
    }
    if bloom != header.header.logs_bloom {
        return Err(VerifyError::LogsBloom { number });
    }
    Ok(())
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
