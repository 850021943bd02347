//! Body rules: transactions, ommers and withdrawals against the header's roots.

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, proofs};

use super::{SealedHeader, VerifyError};
use crate::primitives::Body;

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
