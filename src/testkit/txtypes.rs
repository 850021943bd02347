//! A block carrying one transaction of every EIP-2718 type histd knows (0 legacy, 1 EIP-2930,
//! 2 EIP-1559, 3 EIP-4844 blob, 4 EIP-7702 set-code), each with a receipt of its type and logs.
//!
//! The header's roots and bloom are computed by alloy alone (`proofs::calculate_transaction_root`,
//! `proofs::calculate_receipt_root` over alloy's own `ReceiptEnvelope`), never by histd's verifier or
//! receipt encoder, so a test that verifies this block checks histd against alloy rather than against
//! itself. Signatures are fixed values, not signatures by a key: histd never recovers senders at
//! ingest, and a fixed value keeps the block byte-identical across runs.

use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, ReceiptEnvelope, ReceiptWithBloom,
    SignableTransaction, TxEip1559, TxEip2930, TxEip4844, TxEip7702, TxLegacy, TxType, proofs,
};
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_eips::eip4895::{Withdrawal, Withdrawals};
use alloy_eips::eip7702::{Authorization, SignedAuthorization};
use alloy_primitives::{Address, B256, Bloom, Bytes, Log, LogData, Signature, TxKind, U256};

use crate::primitives::{Body, Receipt, Transaction};

/// Every transaction type, in type-byte order.
pub const ALL_TX_TYPES: [TxType; 5] = [
    TxType::Legacy,
    TxType::Eip2930,
    TxType::Eip1559,
    TxType::Eip4844,
    TxType::Eip7702,
];

/// A block as a peer would send it: header, body and receipts, not yet verified.
#[derive(Debug, Clone)]
pub struct TypedTxBlock {
    /// Header whose roots alloy computed from `body` and `receipts`.
    pub header: Header,
    /// One transaction per entry of [`ALL_TX_TYPES`], in that order.
    pub body: Body,
    /// One receipt per transaction, of the transaction's type.
    pub receipts: Vec<Receipt>,
}

fn signature(i: u64) -> Signature {
    // Any r, s below the curve order decode; y-parity alternates so both encodings occur.
    Signature::new(
        U256::from(0x1000_0000_0000_u64 + i),
        U256::from(0x2000_0000_0000_u64 + i),
        i % 2 == 1,
    )
}

fn versioned_hash(fill: u8) -> B256 {
    // A KZG versioned hash starts with the version byte 0x01.
    let mut h = B256::repeat_byte(fill);
    h[0] = 0x01;
    h
}

fn access_list() -> AccessList {
    AccessList(vec![AccessListItem {
        address: Address::repeat_byte(0xaa),
        storage_keys: vec![B256::repeat_byte(0x01), B256::repeat_byte(0x02)],
    }])
}

/// The transaction of type `ty`, with `nonce`.
pub fn transaction(ty: TxType, nonce: u64) -> Transaction {
    let to = Address::repeat_byte(0x42);
    let input = Bytes::from(vec![0xde, 0xad, 0xbe, 0xef, nonce as u8]);
    let value = U256::from(1_000 + nonce);
    let sig = signature(nonce);
    match ty {
        TxType::Legacy => Transaction::Legacy(
            TxLegacy {
                chain_id: Some(1),
                nonce,
                gas_price: 20_000_000_000,
                gas_limit: 21_000,
                to: TxKind::Call(to),
                value,
                input,
            }
            .into_signed(sig),
        ),
        TxType::Eip2930 => Transaction::Eip2930(
            TxEip2930 {
                chain_id: 1,
                nonce,
                gas_price: 20_000_000_000,
                gas_limit: 50_000,
                to: TxKind::Call(to),
                value,
                access_list: access_list(),
                input,
            }
            .into_signed(sig),
        ),
        TxType::Eip1559 => Transaction::Eip1559(
            TxEip1559 {
                chain_id: 1,
                nonce,
                gas_limit: 60_000,
                max_fee_per_gas: 30_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                // A contract creation, so `TxKind::Create` is covered too.
                to: TxKind::Create,
                value,
                access_list: access_list(),
                input,
            }
            .into_signed(sig),
        ),
        TxType::Eip4844 => Transaction::Eip4844(
            TxEip4844 {
                chain_id: 1,
                nonce,
                gas_limit: 70_000,
                max_fee_per_gas: 30_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to,
                value,
                access_list: access_list(),
                blob_versioned_hashes: vec![versioned_hash(0x11), versioned_hash(0x22)],
                max_fee_per_blob_gas: 1_000_000,
                input,
            }
            .into_signed(sig),
        ),
        TxType::Eip7702 => {
            let auth = Authorization {
                chain_id: U256::from(1),
                address: Address::repeat_byte(0x77),
                nonce: nonce + 1,
            };
            Transaction::Eip7702(
                TxEip7702 {
                    chain_id: 1,
                    nonce,
                    gas_limit: 80_000,
                    max_fee_per_gas: 30_000_000_000,
                    max_priority_fee_per_gas: 1_000_000_000,
                    to,
                    value,
                    access_list: access_list(),
                    authorization_list: vec![SignedAuthorization::new_unchecked(
                        auth,
                        1,
                        U256::from(7),
                        U256::from(8),
                    )],
                    input,
                }
                .into_signed(sig),
            )
        }
    }
}

fn logs(i: u64) -> Vec<Log> {
    // Receipt i carries i logs, so the block has receipts with none, one and several.
    (0..i)
        .map(|j| Log {
            address: Address::with_last_byte(0x10 + j as u8),
            data: LogData::new_unchecked(
                vec![B256::with_last_byte(i as u8), B256::with_last_byte(j as u8)],
                Bytes::from(vec![j as u8; 3]),
            ),
        })
        .collect()
}

fn alloy_receipt(ty: TxType, receipt: ReceiptWithBloom) -> ReceiptEnvelope {
    match ty {
        TxType::Legacy => ReceiptEnvelope::Legacy(receipt),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(receipt),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(receipt),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(receipt),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(receipt),
    }
}

/// A post-Prague block at `number` on `parent_hash` with one transaction of each type in `types`
/// (nonces 0, 1, …) and receipts of matching types; roots, bloom and withdrawals root by alloy.
pub fn block_with_types(number: u64, parent_hash: B256, types: &[TxType]) -> TypedTxBlock {
    let mut transactions = Vec::new();
    let mut receipts = Vec::new();
    let mut alloy_receipts = Vec::new();
    let mut bloom = Bloom::ZERO;
    let mut gas = 0;
    for (i, &ty) in types.iter().enumerate() {
        let i = i as u64;
        transactions.push(transaction(ty, i));
        gas += 21_000 + 1_000 * i;
        // Every other transaction fails, so both status values are encoded.
        let status = Eip658Value::Eip658(i.is_multiple_of(2));
        let logs = logs(i);
        let with_bloom = ReceiptWithBloom {
            logs_bloom: alloy_primitives::logs_bloom(&logs),
            receipt: alloy_consensus::Receipt {
                status,
                cumulative_gas_used: gas,
                logs: logs.clone(),
            },
        };
        bloom |= with_bloom.logs_bloom;
        alloy_receipts.push(alloy_receipt(ty, with_bloom));
        receipts.push(Receipt {
            tx_type: ty,
            status,
            cumulative_gas_used: gas,
            logs,
        });
    }
    let withdrawals = Withdrawals::new(vec![Withdrawal {
        index: number,
        validator_index: 7,
        address: Address::repeat_byte(0x99),
        amount: 32_000_000,
    }]);
    let header = Header {
        parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: Address::repeat_byte(0xbb),
        state_root: B256::repeat_byte(0x5a),
        transactions_root: proofs::calculate_transaction_root(&transactions),
        receipts_root: proofs::calculate_receipt_root(&alloy_receipts),
        logs_bloom: bloom,
        number,
        gas_limit: 36_000_000,
        gas_used: gas,
        timestamp: 1_750_000_000 + number * 12,
        base_fee_per_gas: Some(1_000_000_000),
        withdrawals_root: Some(proofs::calculate_withdrawals_root(&withdrawals)),
        blob_gas_used: Some(2 * 131_072),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::repeat_byte(0xbe)),
        requests_hash: Some(B256::repeat_byte(0xe7)),
        ..Default::default()
    };
    TypedTxBlock {
        header,
        body: Body {
            transactions,
            ommers: Vec::new(),
            withdrawals: Some(withdrawals),
        },
        receipts,
    }
}

/// [`block_with_types`] with every type once, in type-byte order.
pub fn all_types_block(number: u64, parent_hash: B256) -> TypedTxBlock {
    block_with_types(number, parent_hash, &ALL_TX_TYPES)
}
