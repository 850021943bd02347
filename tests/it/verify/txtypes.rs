//! Blocks with every transaction type 0–4 (legacy, EIP-2930, EIP-1559, EIP-4844 blob, EIP-7702
//! set-code), roots computed by alloy: histd's verifier and encodings must agree with alloy's on each.

use alloy_consensus::TxType;
use alloy_primitives::B256;
use histd::primitives::{BlockNumber, decode_body, encode_body};
use histd::testkit::mainnet::decode_eth69_receipts;
use histd::testkit::txtypes::{ALL_TX_TYPES, all_types_block, block_with_types};
use histd::verify::{self, SealedHeader, VerifyError};

#[test]
fn block_with_every_tx_type_verifies() {
    let b = all_types_block(22_500_000, B256::repeat_byte(0x01));
    let types: Vec<TxType> = b.body.transactions.iter().map(|t| t.tx_type()).collect();
    assert_eq!(
        types, ALL_TX_TYPES,
        "one transaction of each type, in order"
    );
    let receipt_types: Vec<TxType> = b.receipts.iter().map(|r| r.tx_type).collect();
    assert_eq!(receipt_types, ALL_TX_TYPES);
    let v = verify::verify_block(SealedHeader::seal(b.header.clone()), b.body, b.receipts)
        .unwrap_or_else(|e| panic!("alloy-built block with every tx type: {e}"));
    assert_eq!(v.receipts().len(), 5);
}

#[test]
fn block_of_each_single_tx_type_verifies() {
    // Each type alone, so a type whose root only agrees by accident in company is still caught.
    for ty in ALL_TX_TYPES {
        let b = block_with_types(22_500_000, B256::ZERO, &[ty, ty, ty]);
        verify::verify_block(SealedHeader::seal(b.header), b.body, b.receipts)
            .unwrap_or_else(|e| panic!("block of type {ty} transactions: {e}"));
    }
}

#[test]
fn every_tx_type_survives_the_wire_and_still_verifies() {
    // What a peer sends is the wire form: encode, decode, then verify against the alloy-built header.
    let b = all_types_block(22_500_001, B256::repeat_byte(0x02));
    let mut raw_body = Vec::new();
    encode_body(&b.body, &mut raw_body);
    let body = decode_body(&mut &raw_body[..]).expect("own body encoding decodes");
    assert_eq!(body, b.body);
    let mut raw_receipts = Vec::new();
    let payload: usize = b.receipts.iter().map(|r| r.eth69_length()).sum();
    alloy_rlp::Header {
        list: true,
        payload_length: payload,
    }
    .encode(&mut raw_receipts);
    for r in &b.receipts {
        r.encode_eth69(&mut raw_receipts);
    }
    let receipts = decode_eth69_receipts(&raw_receipts);
    assert_eq!(receipts, b.receipts);
    verify::verify_block(SealedHeader::seal(b.header), body, receipts).expect("verifies");
}

#[test]
fn wrong_receipt_type_is_caught_for_every_tx_type() {
    let b = all_types_block(22_500_002, B256::repeat_byte(0x03));
    let sealed = SealedHeader::seal(b.header.clone());
    for (index, ty) in ALL_TX_TYPES.into_iter().enumerate() {
        for wrong in ALL_TX_TYPES.into_iter().filter(|&w| w != ty) {
            let mut receipts = b.receipts.clone();
            receipts[index].tx_type = wrong;
            assert_eq!(
                verify::verify_block(sealed.clone(), b.body.clone(), receipts),
                Err(VerifyError::ReceiptType {
                    number: BlockNumber(22_500_002),
                    index,
                    transaction: ty as u8,
                    receipt: wrong as u8,
                }),
                "type {ty} transaction with a type {wrong} receipt"
            );
        }
    }
}

#[test]
fn swapped_typed_transactions_are_caught() {
    // Same transactions, other order: the trie is keyed by index, so the root must differ.
    let b = all_types_block(22_500_003, B256::repeat_byte(0x04));
    let mut body = b.body.clone();
    body.transactions.swap(3, 4);
    let err = verify::verify_block(SealedHeader::seal(b.header), body, b.receipts).unwrap_err();
    assert!(matches!(err, VerifyError::TransactionsRoot { .. }), "{err}");
}
