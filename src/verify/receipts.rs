//! Receipt rules: count and types against the body, root and bloom against the header.

use alloy_primitives::{B256, Bloom};
use alloy_trie::root::ordered_trie_root_with_encoder;

use super::{SealedHeader, VerifyError};
use crate::primitives::{BloomHasher, Body, Receipt};

/// Root of the receipts trie over their consensus encodings.
pub fn receipts_root(receipts: &[Receipt]) -> B256 {
    root_with_blooms(receipts, &blooms(receipts))
}

/// Every receipt's bloom, rebuilt from its logs (with one [`BloomHasher`] for the block, so an
/// address or topic that repeats is usually hashed once).
fn blooms(receipts: &[Receipt]) -> Vec<Bloom> {
    let mut hasher = BloomHasher::new();
    receipts.iter().map(|r| hasher.bloom(&r.logs)).collect()
}

/// [`receipts_root`] with the blooms already built (`blooms[i]` is `receipts[i]`'s).
fn root_with_blooms(receipts: &[Receipt], blooms: &[Bloom]) -> B256 {
    // The trie builder hands the encoder one item at a time, so pair each receipt with its bloom.
    let items: Vec<(&Receipt, &Bloom)> = receipts.iter().zip(blooms).collect();
    ordered_trie_root_with_encoder(&items, |(r, bloom), buf| {
        r.encode_consensus_with_bloom(bloom, buf)
    })
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
    // Built once: the root commits to each receipt's bloom, and the header's is their union.
    let blooms = blooms(receipts);
    let computed = root_with_blooms(receipts, &blooms);
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
    for b in &blooms {
        bloom |= *b;
    }
    if bloom != header.header.logs_bloom {
        return Err(VerifyError::LogsBloom { number });
    }
    Ok(())
}
