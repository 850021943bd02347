//! Receipt rules: count and types against the body, root and bloom against the header.

use alloy_primitives::{B256, Bloom};
use alloy_trie::root::ordered_trie_root_with_encoder;

use super::{SealedHeader, VerifyError};
use crate::primitives::{Body, Receipt};

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
